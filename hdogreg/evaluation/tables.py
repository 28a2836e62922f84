"""Tables of the result pages: tidy frames for ``save_results`` and markdown displays.

:func:`froc_frame` and :func:`segmentation_frame` are the frames the pages save;
:func:`grid_table`, :func:`paper_grid_table` and :func:`mean_sd_table` format Tables 1-3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .paper import PAPER_TABLE1, PAPER_TABLE2

__all__ = ["froc_frame", "grid_table", "paper_grid_table", "segmentation_frame", "mean_sd_table"]


def froc_frame(summary, **labels):
    """Tidy frame of a :class:`DetectionSummary` for ``save_results``.

    Rows ``metric in {tpr, tpr_lo, tpr_hi}`` on the FP grid (``fp_per_cm2``) and summary rows
    (``pauc, pauc_mean, pauc_lo, pauc_hi, tpr_at_<fp>``, ``fp_per_cm2`` NaN). `labels` (e.g.
    ``method="ours", split="test"``) become leading columns.
    """
    band = summary.band
    curve = band.melt(id_vars="fp_per_cm2", value_vars=["tpr", "tpr_lo", "tpr_hi"], var_name="metric")
    stats = pd.DataFrame({"metric": ["pauc", "pauc_mean", "pauc_lo", "pauc_hi", f"tpr_at_{summary.fp_at:g}",
                                     "n_images", "n_ref"],
                          "value": [summary.pauc, summary.pauc_mean, summary.pauc_lo, summary.pauc_hi,
                                    summary.tpr_at, summary.n_images, summary.n_ref],
                          "fp_per_cm2": np.nan})
    out = pd.concat([curve, stats], ignore_index=True)[["metric", "fp_per_cm2", "value"]]
    for i, (k, v) in enumerate(labels.items()):
        out.insert(i, k, v)
    return out


def _cell(mean, pm, digits):
    return f"{mean:.{digits}f} ± {pm:.{digits}f}"


def grid_table(frame, value, pm, *, index="alpha", columns="xi", digits=3, bold="max"):
    """Format a Table-1/2-style markdown table (rows alpha, columns xi) with the best cell in bold.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`grid_search` (or a paper reference frame with ``mean``, ``pm``).
    value, pm : str
        Columns of the cell's value and of its ``±`` part (e.g. ``"pauc_mean"`` and a column
        with the CI half-width, or ``"miou"`` and ``"miou_sd"``).
    bold : {"max", "min", None}
        Which cell to bold.

    Returns
    -------
    str
        Markdown (display with ``IPython.display.Markdown``).
    """
    best = None
    if bold is not None and len(frame) and frame[value].notna().any():
        best = frame[value].idxmax() if bold == "max" else frame[value].idxmin()
    cols = sorted(frame[columns].unique())
    rows = sorted(frame[index].unique())
    head = f"| {index} \\ {columns} | " + " | ".join(f"{c:g}" for c in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 1)]
    for r in rows:
        cells = []
        for c in cols:
            hit = frame[(frame[index] == r) & (frame[columns] == c)]
            if hit.empty:
                cells.append("")
                continue
            i = hit.index[0]
            text = _cell(hit.at[i, value], hit.at[i, pm], digits)
            cells.append(f"**{text}**" if i == best else text)
        lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paper_grid_table(which="pauc"):
    """Format the paper's Table 1 (``"pauc"``) or Table 2 (``"miou"``, ``"iou_object"``) as markdown."""
    frame = PAPER_TABLE1 if which == "pauc" else PAPER_TABLE2[which]
    return grid_table(frame, "mean", "pm")


_SEG_METRICS = ("miou", "miou_sd", "iou_mc", "iou_mc_sd", "iou_object", "iou_object_sd", "n_images",
                "n_objects")


def segmentation_frame(summaries, pvalues=None, extra=None):
    """Tidy ``method, split, metric, value`` frame of segmentation results (Table 3).

    Parameters
    ----------
    summaries : dict
        ``(method, split) -> SegmentationSummary``.
    pvalues : dict, optional
        ``split -> dict`` of :func:`compare_segmentation`; stored as method
        ``"wilcoxon"`` with metrics ``p_miou``, ``p_iou_mc``, ``p_iou_object``.
    extra : list of tuple, optional
        More ``(method, split, metric, value)`` rows (e.g. the chosen ``p_thr``).
    """
    rows = []
    for (method, split), seg in summaries.items():
        r = seg.row()
        rows += [(method, split, k, float(r[k])) for k in _SEG_METRICS]
    for split, p in (pvalues or {}).items():
        rows += [("wilcoxon", split, k, float(v)) for k, v in p.items()]
    rows += [tuple(r) for r in (extra or [])]
    return pd.DataFrame(rows, columns=["method", "split", "metric", "value"])


def mean_sd_table(frame, metrics=("miou", "iou_mc", "iou_object"), digits=3):
    """Table-3-style display: rows (method, metric), columns splits, cells "mean ± SD".

    `frame` is :func:`segmentation_frame` output or a frame with ``mean`` and ``sd`` columns
    (:data:`PAPER_TABLE3`).
    """
    if "mean" in frame:
        long = frame.rename(columns={"mean": "value"})
        sd = frame.assign(metric=frame["metric"] + "_sd",
                          value=frame["sd"])[["method", "split", "metric", "value"]]
        frame = pd.concat([long[["method", "split", "metric", "value"]], sd], ignore_index=True)
    value = frame.set_index(["method", "split", "metric"])["value"]
    out = {}
    for method in dict.fromkeys(frame["method"]):
        for m in metrics:
            if (method, m) not in {(a, c) for a, _, c in value.index}:
                continue
            row = {}
            for split in dict.fromkeys(frame["split"]):
                if (method, split, m) in value.index:
                    sd = value.get((method, split, m + "_sd"), np.nan)
                    row[split] = _cell(value[(method, split, m)], sd, digits)
            out[(method, m)] = row
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.names = ["method", "metric"]
    return table
