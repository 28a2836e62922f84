"""Reporting of the case study: the paper's values, result tables, feature importance, ROC curves.

The paper's Table 4 and Fig. 8 AUCs (:data:`PAPER_TABLE4`, :data:`PAPER_FIG8_AUC`, reference
values, not computed) and the tables the pages save and show, built from
:class:`~hdogreg.casestudy.crossval.CVResult` s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PAPER_COHORT", "PAPER_TABLE4", "PAPER_FIG8_AUC", "feature_importance", "results_table",
           "roc_table", "chosen_tables", "paper_comparison", "comparison_display", "cohort_table",
           "segmentation_overview", "class_medians", "fold_differences"]

#: The paper's case-study cohort (its "Data" paragraph of the case study): local
#: magnification views 2017-2019, 284 cases (the Data section says "248 patients"), 642 images,
#: 674 ROIs of which 284 malignant (42.1 %), each ROI made a fixed 256 x 256 box, five-fold
#: cross-validation. Reference values, not computed.
PAPER_COHORT = {
    "source": "UCLA magnification views 2017-2019",
    "n_cases": 284,
    "n_images": 642,
    "n_rois": 674,
    "n_malignant": 284,
    "n_benign": 390,
    "roi_size": 256,
    "n_splits": 5,
}

#: The paper's Table 4 (five-fold CV on 674 local ROIs): method, metric, mean, sd.
PAPER_TABLE4 = pd.DataFrame(
    [
        ("ours", "auc", 0.763, 0.056),
        ("ours", "accuracy", 0.563, 0.059),
        ("ours", "sensitivity", 0.901, 0.076),
        ("ours", "specificity", 0.323, 0.075),
        ("ours", "ppv", 0.490, 0.067),
        ("ciecholewski", "auc", 0.710, 0.060),
        ("ciecholewski", "accuracy", 0.512, 0.036),
        ("ciecholewski", "sensitivity", 0.901, 0.052),
        ("ciecholewski", "specificity", 0.234, 0.023),
        ("ciecholewski", "ppv", 0.459, 0.049),
    ],
    columns=["method", "metric", "mean", "sd"],
)

#: ROC AUC of the ablation (paper, text of Fig. 8). The FPN-only AUC is shown only in the
#: figure, not stated as a number, hence NaN.
PAPER_FIG8_AUC = pd.DataFrame(
    [
        ("ours", "auc", 0.763, 0.056),
        ("hdog", "auc", 0.562, 0.056),
        ("fpn", "auc", np.nan, np.nan),
    ],
    columns=["method", "metric", "mean", "sd"],
)


def feature_importance(result):
    """Mean and SD across folds of each feature's gain importance, largest mean first.

    Parameters
    ----------
    result : CVResult

    Returns
    -------
    table : pandas.DataFrame
        Index ``feature``; columns ``mean``, ``sd`` (population SD over folds).
    """
    imp = result.importance
    table = pd.DataFrame({"mean": imp.mean(axis=1), "sd": imp.std(axis=1, ddof=0)})
    return table.sort_values("mean", ascending=False, kind="stable")


def results_table(results):
    """Long table ``method, metric, mean, sd`` of several cross-validations.

    Parameters
    ----------
    results : mapping of str -> CVResult
        Segmentation method name -> its result, e.g. ``{"ours": ..., "ciecholewski": ...}``
        (Table 4) or ``{"ours": ..., "hdog": ..., "fpn": ...}`` (Fig. 8).

    Returns
    -------
    table : pandas.DataFrame
        The interface of ``build/results/table4_fig7_classification.csv`` and
        ``fig8_ablation.csv``.
    """
    frames = [r.summary.assign(method=name) for name, r in results.items()]
    if not frames:
        return pd.DataFrame(columns=["method", "metric", "mean", "sd"])
    return pd.concat(frames, ignore_index=True)[["method", "metric", "mean", "sd"]]


def chosen_tables(features, sweep=None, *, p_thr):
    """Each method's feature table at its chosen map threshold.

    Parameters
    ----------
    features : dict
        Output of :func:`casestudy_features`: method name -> table, plus ``(method, p_thr)`` ->
        table for the thresholds of a sweep.
    sweep : pandas.DataFrame, optional
        Output of :func:`threshold_sweep`; its ``best`` rows give the threshold of each swept
        method. None: no tuning, every method keeps its untuned table.
    p_thr : float
        The untuned threshold (reported for the swept methods when `sweep` is None).

    Returns
    -------
    chosen : dict
        Method -> map threshold used (``"ours"`` and ``"fpn"``).
    tables : dict
        Method name -> feature table, one per segmentation method.
    """
    tables = {m: t for m, t in features.items() if isinstance(m, str)}
    if sweep is None:
        return {"ours": p_thr, "fpn": p_thr}, tables
    chosen = sweep[sweep.best].set_index("method")["p_thr"].to_dict()
    tables.update({m: features[(m, t)] for m, t in chosen.items()})
    return chosen, tables


def paper_comparison(table, paper=PAPER_TABLE4):
    """Return a results table beside the paper's values, one row per (method, metric).

    Parameters
    ----------
    table : pandas.DataFrame
        ``method, metric, mean, sd`` (:func:`results_table`).
    paper : pandas.DataFrame, optional
        The paper's values in the same layout (:data:`PAPER_TABLE4` or
        :data:`PAPER_FIG8_AUC`).

    Returns
    -------
    comparison : pandas.DataFrame
        ``method, metric, mean, sd, paper_mean, paper_sd`` in the order of `table`; the paper's
        columns are NaN where the paper gives no value.
    """
    need = {"method", "metric", "mean", "sd"}
    for name, frame in (("table", table), ("paper", paper)):
        if need - set(frame.columns):
            raise ValueError(f"{name} is missing columns {sorted(need - set(frame.columns))}")
    ref = paper[["method", "metric", "mean", "sd"]].rename(
        columns={"mean": "paper_mean", "sd": "paper_sd"})
    out = table[["method", "metric", "mean", "sd"]].merge(ref, on=["method", "metric"],
                                                           how="left", validate="one_to_one")
    return out.reset_index(drop=True)


def comparison_display(comparison, paper_label="paper",
                       metrics=("auc", "accuracy", "sensitivity", "specificity", "ppv")):
    """Lay out a :func:`paper_comparison` table for reading.

    One row per metric, and per method a column "this run" and a column `paper_label`, each
    as ``mean ± sd``.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`paper_comparison`.
    paper_label : str, optional
        Header of the paper's columns (e.g. ``"paper (Table 4)"``).
    metrics : sequence of str, optional
        The rows, in order.

    Returns
    -------
    display : pandas.DataFrame
        Strings; the paper's cell reads ``"not reported"`` where the paper gives no value.
    """
    if paper_label == "this run":
        raise ValueError('paper_label must differ from "this run"')
    pm = "{:.3f} ± {:.3f}".format
    cells = comparison.assign(**{
        "this run": [pm(m, s) for m, s in zip(comparison["mean"], comparison["sd"])],
        paper_label: [pm(m, s) if np.isfinite(m) else "not reported"
                      for m, s in zip(comparison["paper_mean"], comparison["paper_sd"])],
    })
    wide = cells.pivot(index="metric", columns="method", values=["this run", paper_label])
    order = [(m, c) for m in comparison["method"].unique() for c in ("this run", paper_label)]
    return wide.swaplevel(axis=1)[order].reindex(list(metrics))


def roc_table(results):
    """Long table ``method, fpr, tpr_mean, tpr_sd`` of the mean ROC curves (Fig. 7, Fig. 8)."""
    frames = [r.roc_mean.assign(method=name) for name, r in results.items()]
    if not frames:
        return pd.DataFrame(columns=["method", "fpr", "tpr_mean", "tpr_sd"])
    return pd.concat(frames, ignore_index=True)[["method", "fpr", "tpr_mean", "tpr_sd"]]


def cohort_table(cohort, data_label):
    """Describe a case-study cohort beside the paper's (:data:`PAPER_COHORT`).

    Parameters
    ----------
    cohort : pandas.DataFrame
        One row per ROI with ``patient_id``, ``label`` (1 malignant) and ``pixel_spacing``
        (:func:`hdogreg.data.read_casestudy_cohort`).
    data_label : str
        What the cohort is (first cell of the "this run" row).

    Returns
    -------
    table : pandas.DataFrame
        Index ``"this run"``, ``"paper"``; columns ``data, ROIs, patients, malignant ROIs,
        pixel spacing (mm)``. The paper's "patients" are its cases.
    """
    spacings = ", ".join(f"{v:.4f}" for v in sorted(cohort["pixel_spacing"].unique()))
    paper = PAPER_COHORT
    return pd.DataFrame({
        "": ["this run", "paper"],
        "data": [data_label, paper["source"]],
        "ROIs": [len(cohort), paper["n_rois"]],
        "patients": [int(cohort["patient_id"].nunique()), paper["n_cases"]],
        "malignant ROIs": [f"{cohort['label'].mean():.1%}" if len(cohort) else "n/a",
                           f"{paper['n_malignant'] / paper['n_rois']:.1%}"],
        "pixel spacing (mm)": [spacings, "magnification views"],
    }).set_index("")


def segmentation_overview(tables, cohort, roi_size):
    """Per segmentation method: empty segmentations, MCs per ROI, segmented and ROI area.

    Parameters
    ----------
    tables : mapping of str -> pandas.DataFrame
        Method -> feature table (one row per ROI, with ``region_n_mcs`` and
        ``region_area_mm2``, NaN for an empty segmentation).
    cohort : pandas.DataFrame
        With ``pixel_spacing`` (mm per pixel of each ROI).
    roi_size : int
        Side of the fixed ROIs in pixels.

    Returns
    -------
    overview : pandas.DataFrame
        Index: method; columns ``empty segmentations``, ``median MCs per ROI``,
        ``median segmented area (mm²)``, ``ROI area (mm²)`` (median over the cohort).
    """
    roi_area = float((int(roi_size) * cohort["pixel_spacing"].astype(float)).pow(2).median())
    return pd.DataFrame({
        method: {"empty segmentations": int(table["region_n_mcs"].isna().sum()),
                 "median MCs per ROI": table["region_n_mcs"].median(),
                 "median segmented area (mm²)": table["region_area_mm2"].median(),
                 "ROI area (mm²)": roi_area}
        for method, table in tables.items()
    }).T


def class_medians(tables, y, columns, names=None):
    """Median of some features per class (benign / malignant) for each segmentation method.

    Parameters
    ----------
    tables : mapping of str -> pandas.DataFrame
        Method -> feature table, rows in the order of `y`.
    y : (n,) array_like of int
        1 malignant, 0 benign.
    columns : sequence of str
        Feature columns.
    names : mapping of str -> str, optional
        Display name of each method (the outer index).

    Returns
    -------
    medians : pandas.DataFrame
        Index ``(method, label)`` with label ``"benign"``/``"malignant"``; one column per feature.
    """
    label = np.where(np.asarray(y) == 1, "malignant", "benign")
    names = names or {}
    return pd.concat({
        names.get(m, m): t.assign(label=label).groupby("label")[list(columns)].median()
        for m, t in tables.items()
    })


def fold_differences(results, a, b, metric="auc"):
    """Per-fold difference of a metric between two methods cross-validated on the same folds.

    Parameters
    ----------
    results : mapping of str -> CVResult
        Both methods' results (their ``folds`` tables share the folds).
    a, b : str
        Method names; the difference is ``a - b``.
    metric : str, optional
        A column of ``CVResult.folds``.

    Returns
    -------
    differences : pandas.Series
        Indexed by fold.
    """
    fa = results[a].folds.set_index("fold")[metric]
    fb = results[b].folds.set_index("fold")[metric]
    if not fa.index.equals(fb.index):
        raise ValueError(f"{a} and {b} were not cross-validated on the same folds")
    return (fa - fb).rename(f"{metric} {a} - {b}")
