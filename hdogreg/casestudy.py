"""Case study: classify amorphous-calcification ROIs as benign or malignant.

The paper's case study ("Case Study: Identifying Breast Cancers Among Amorphous
Calcifications", Table 4, Fig. 7 and 8):

1. each annotated bounding box becomes a fixed 256 x 256 box around its centre
   (:func:`fixed_box`, :func:`crop`), removing the annotation-size bias;
2. the ROI is segmented (our HDoG + FPN fusion, the Ciecholewski baseline, or one of our two
   components alone: :func:`roi_segmentations`, :data:`SEGMENTATION_METHODS`) and described by
   31 features (:mod:`hdogreg.features`); :func:`casestudy_features` does both for a whole
   cohort, with an optional on-disk cache keyed by content;
3. a gradient tree boosting classifier (XGBoost) in a scikit-learn pipeline with mean
   imputation and standardisation (:func:`make_classifier`) is evaluated by five-fold
   cross-validation split by patient (:func:`patient_folds`, :func:`cross_validate`): ROC AUC,
   and accuracy, sensitivity, specificity and PPV at the threshold giving a sensitivity closest
   to 0.9, chosen on the training folds (:func:`threshold_for_sensitivity`); mean and standard
   deviation across folds.

Everything fitted (imputer means, scaler, trees, threshold) sees only the training folds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from hdogreg._utils import atomic_path, file_sha256

__all__ = [
    "METRICS",
    "PAPER_TABLE4",
    "PAPER_FIG8_AUC",
    "fixed_box",
    "crop",
    "cohort_rois",
    "make_classifier",
    "patient_folds",
    "threshold_for_sensitivity",
    "binary_metrics",
    "CVResult",
    "cross_validate",
    "feature_importance",
    "threshold_sweep",
    "results_table",
    "roc_table",
    "chosen_tables",
    "paper_comparison",
    "comparison_display",
    "SEGMENTATION_METHODS",
    "roi_proximity",
    "roi_segmentations",
    "segment_roi",
    "load_roi",
    "features_cache_key",
    "casestudy_features",
]

#: Metric names, in the order of the paper's Table 4.
METRICS = ("auc", "accuracy", "sensitivity", "specificity", "ppv")

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


# --------------------------------------------------------------------------------------------
# Fixed-size ROIs
# --------------------------------------------------------------------------------------------


def _fixed_interval(lo, hi, size, length):
    centre = (lo + hi) / 2.0
    if length <= size:
        return 0, int(length)
    start = int(np.floor(centre - size / 2.0 + 0.5))
    start = min(max(start, 0), int(length) - size)
    return start, start + size


def fixed_box(bbox, size=256, *, shape):
    """Return a ``size`` x ``size`` box with the same centre as a bounding box, inside the image.

    Parameters
    ----------
    bbox : sequence of 4 numbers
        ``(x0, y0, x1, y1)``: x = column, y = row (INbreast's convention), half-open like
        Python slices (the box covers columns ``x0 .. x1 - 1``).
    size : int, optional
        Side of the fixed box in pixels (the paper: 256).
    shape : tuple of int
        ``(rows, cols)`` of the image.

    Returns
    -------
    box : tuple of 4 int
        ``(x0, y0, x1, y1)``, half-open, with ``x1 - x0 == size`` and ``y1 - y0 == size``
        whenever the image is at least ``size`` pixels along that axis.

    Notes
    -----
    The box is centred on the bounding box centre ``((x0 + x1) / 2, (y0 + y1) / 2)`` (start
    rounded half up). Near the border it is *shifted* inward rather than cut, so that every
    ROI keeps the same size; its centre then moves by the shift. Along an axis shorter than
    ``size`` the box is the whole axis.

    Examples
    --------
    >>> fixed_box((400, 300, 440, 320), 256, shape=(1000, 800))
    (292, 182, 548, 438)
    >>> fixed_box((10, 900, 50, 990), 256, shape=(1000, 800))  # shifted inside at the border
    (0, 744, 256, 1000)
    """
    if len(bbox) != 4:
        raise ValueError(f"bbox must be (x0, y0, x1, y1), got {bbox!r}")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"bbox must have x1 > x0 and y1 > y0, got {tuple(bbox)}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    size = int(size)
    rows, cols = (int(s) for s in shape[:2])
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive, got {tuple(shape)}")
    if not (0 <= (x0 + x1) / 2 <= cols and 0 <= (y0 + y1) / 2 <= rows):
        raise ValueError(f"bbox {tuple(bbox)} has its centre outside an image of shape {tuple(shape)}")
    bx0, bx1 = _fixed_interval(x0, x1, size, cols)
    by0, by1 = _fixed_interval(y0, y1, size, rows)
    return bx0, by0, bx1, by1


def crop(image, box):
    """Return the part of `image` inside ``box = (x0, y0, x1, y1)`` (half-open; x = column)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    return np.asarray(image)[y0:y1, x0:x1]


def _read_image(path, pixel_spacing):
    from hdogreg.data.io import read_image  # the loaders' [0, 1] scale

    image, meta = read_image(path, pixel_spacing)
    return image, meta["pixel_spacing"]


def cohort_rois(cohort, segment, *, size=256, segment_on="roi", load=None, progress=None):
    """Segment the fixed-size ROIs of a case-study cohort.

    The result is the input of :func:`hdogreg.features.feature_table`.

    Parameters
    ----------
    cohort : pandas.DataFrame
        One row per ROI with ``roi_id, image, x0, y0, x1, y1`` and optionally
        ``pixel_spacing`` (e.g. :func:`hdogreg.data.read_casestudy_cohort`); boxes half-open,
        x = column, y = row.
    segment : callable
        ``segment(image, pixel_spacing) -> mask or label image`` of the same shape (our
        method, a baseline, or one component alone).
    size : int, optional
        Side of the fixed ROI (the paper: 256), see :func:`fixed_box`.
    segment_on : {"roi", "image"}, optional
        ``"roi"`` (default): segment each fixed-size crop on its own. ``"image"``: segment each
        whole image once and crop the segmentation (for methods that need the full image,
        e.g. a breast mask); ROIs of the same image share that segmentation.
    load : callable, optional
        ``load(path, pixel_spacing) -> (image, pixel_spacing)``; default reads DICOM/PNG/TIFF
        with :func:`hdogreg.data.io.read_image` (float32 in [0, 1]). ``pixel_spacing`` is the
        cohort's value or None.
    progress : bool or None, optional
        tqdm progress bar over the ROIs.

    Yields
    ------
    roi_id, segmentation, image, pixel_spacing
        The crop's segmentation and image (``size`` x ``size`` unless the image is smaller) and
        its pixel spacing in mm, in the cohort's row order. Each image is read once for
        consecutive ROIs of the same image.
    """
    if segment_on not in ("roi", "image"):
        raise ValueError(f"segment_on must be 'roi' or 'image', got {segment_on!r}")
    need = {"roi_id", "image", "x0", "y0", "x1", "y1"}
    if need - set(cohort.columns):
        raise ValueError(f"cohort is missing columns {sorted(need - set(cohort.columns))}")
    load = load if load is not None else _read_image
    current, image, spacing, whole_seg = None, None, None, None
    for row in tqdm(cohort.itertuples(index=False), total=len(cohort), desc="ROIs",
                    disable=None if progress is None else not progress):
        row_spacing = getattr(row, "pixel_spacing", None)
        if row_spacing is not None and not np.isfinite(row_spacing):
            row_spacing = None
        key = (str(row.image), row_spacing)
        if key != current:
            image, spacing = load(row.image, row_spacing)
            whole_seg = segment(image, spacing) if segment_on == "image" else None
            current = key
        box = fixed_box((row.x0, row.y0, row.x1, row.y1), size, shape=image.shape)
        roi = crop(image, box)
        seg = crop(whole_seg, box) if segment_on == "image" else segment(roi, spacing)
        seg = np.asarray(seg)
        if seg.shape != roi.shape:
            raise ValueError(
                f"ROI {row.roi_id}: segmentation shape {seg.shape} does not match the ROI {roi.shape}"
            )
        yield row.roi_id, seg, roi, spacing


# --------------------------------------------------------------------------------------------
# Classifier, folds, thresholds
# --------------------------------------------------------------------------------------------


def make_classifier(seed=0, **xgb_params):
    """Mean imputation -> standardisation -> XGBoost gradient tree boosting.

    Parameters
    ----------
    seed : int, optional
        ``random_state`` of the booster (row/column subsampling).
    **xgb_params
        Override the booster's settings (defaults: 200 trees of depth 3, learning rate 0.05,
        row and column subsampling 0.8, ``tree_method="hist"``, ``n_jobs=1`` for
        determinism).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"impute"`` (:class:`~sklearn.impute.SimpleImputer`, mean; a column that is
        all-missing in the training data is kept and filled with 0), ``"scale"``
        (:class:`~sklearn.preprocessing.StandardScaler`) and ``"model"``
        (:class:`xgboost.XGBClassifier`). Fitting the pipeline fits all three on the same
        (training) rows only — the paper's "parameters for both imputation and
        standardization were derived from the training set".
    """
    from xgboost import XGBClassifier  # heavy import, kept local

    params = dict(
        n_estimators=200,
        max_depth=3,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.8,
        tree_method="hist",
        objective="binary:logistic",
        eval_metric="logloss",
        n_jobs=1,
        random_state=int(seed),
    )
    params.update(xgb_params)
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", XGBClassifier(**params)),
        ]
    )


def patient_folds(patient_ids, labels, n_splits=5, *, seed=0):
    """Fold number of each ROI: stratified by label, no patient in two folds.

    Parameters
    ----------
    patient_ids : array_like, shape (n,)
        Patient of each ROI (the grouping).
    labels : array_like of {0, 1}, shape (n,)
        1 = malignant, 0 = benign.
    n_splits : int, optional
        Number of folds (the paper: 5).
    seed : int, optional
        Seed of the shuffling of patients.

    Returns
    -------
    folds : ndarray of int, shape (n,)
        ``0 .. n_splits - 1``; ROI ``i`` is in the test set of fold ``folds[i]``.

    Notes
    -----
    Uses :class:`sklearn.model_selection.StratifiedGroupKFold` (shuffled, seeded), which keeps
    every patient's ROIs together and the class balance of each fold as close to the whole as
    the grouping allows.
    """
    groups = np.asarray(patient_ids)
    y = np.asarray(labels)
    if groups.shape != y.shape or groups.ndim != 1:
        raise ValueError(
            f"patient_ids and labels must be 1-D of equal length, got {groups.shape} and {y.shape}"
        )
    n_groups = np.unique(groups).size
    if n_splits < 2 or n_groups < n_splits:
        raise ValueError(
            f"n_splits must be >= 2 and <= the number of patients ({n_groups}), got {n_splits}"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    folds = np.full(y.shape[0], -1, dtype=int)
    for k, (_, test) in enumerate(splitter.split(np.zeros((y.shape[0], 1)), y, groups)):
        folds[test] = k
    return folds


def threshold_for_sensitivity(y_true, scores, target=0.9):
    """Return the score threshold whose sensitivity is closest to `target`.

    Parameters
    ----------
    y_true : array_like of {0, 1}
        True labels (both classes present).
    scores : array_like of float
        Classifier scores; a case is called positive when ``score >= threshold``.
    target : float, optional
        Target sensitivity (the paper: 0.9).

    Returns
    -------
    threshold : float
        Among all distinct cut points of `scores`, the one whose sensitivity is closest to
        `target`; ties go to the highest threshold (the best specificity).

    Examples
    --------
    >>> threshold_for_sensitivity([0, 0, 1, 1, 1, 1], [0.1, 0.6, 0.3, 0.5, 0.8, 0.9], 0.75)
    0.5
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    if not 0 <= target <= 1:
        raise ValueError(f"target must be in [0, 1], got {target}")
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D of equal length, got {y.shape} and {s.shape}")
    if np.unique(y).size != 2:
        raise ValueError(f"y_true must hold both classes, got {np.unique(y).tolist()}")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    finite = np.isfinite(thr)
    tpr, thr = tpr[finite], thr[finite]
    # thresholds decrease, so argmin picks the highest threshold among ties
    return float(thr[np.argmin(np.abs(tpr - target))])


def binary_metrics(y_true, scores, threshold):
    """ROC AUC and accuracy, sensitivity, specificity, PPV at ``score >= threshold``.

    Returns a dict with keys :data:`METRICS`; a metric whose denominator is zero (e.g. PPV
    with no positive call, AUC with one class) is NaN.
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))

    def ratio(a, b):
        return a / b if b else np.nan

    return {
        "auc": float(roc_auc_score(y, s)) if np.unique(y).size == 2 else np.nan,
        "accuracy": ratio(tp + tn, y.size),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
    }


# --------------------------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------------------------


@dataclass
class CVResult:
    """Outcome of :func:`cross_validate`.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per fold: ``fold, n_train, n_test, auc, accuracy, sensitivity, specificity,
        ppv, threshold``.
    summary : pandas.DataFrame
        ``metric, mean, sd`` over the folds for each of :data:`METRICS` (sd: population
        standard deviation over the folds, ``ddof=0``).
    roc : pandas.DataFrame
        ``fold, fpr, tpr``: each fold's test ROC curve interpolated on a common FPR grid.
    roc_mean : pandas.DataFrame
        ``fpr, tpr_mean, tpr_sd`` on that grid: the mean ROC curve and its ±1 SD band (Fig. 7).
    predictions : pandas.DataFrame
        Out-of-fold predictions, one row per input row (same index as `X`): ``fold, y,
        score, threshold, predicted``.
    importance : pandas.DataFrame
        Gain importance of each feature (rows, named as `X`'s columns) in each fold (columns);
        0 for a feature never used in a split.
    models : list
        The fitted pipeline of each fold.
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    roc: pd.DataFrame
    roc_mean: pd.DataFrame
    predictions: pd.DataFrame
    importance: pd.DataFrame
    models: list = field(default_factory=list, repr=False)


def _inner_scores(X, y, groups, *, seed, inner_splits, make):
    """Out-of-fold scores of the training rows, by patient-wise inner cross-validation."""
    folds = patient_folds(groups, y, n_splits=inner_splits, seed=seed)
    scores = np.empty(len(y), dtype=float)
    for k in range(inner_splits):
        test = folds == k
        model = make().fit(X[~test], y[~test])
        scores[test] = model.predict_proba(X[test])[:, 1]
    return scores


def cross_validate(
    X,
    y,
    groups,
    *,
    seed=0,
    n_splits=5,
    target_sensitivity=0.9,
    threshold_from="inner-cv",
    inner_splits=4,
    classifier=None,
    n_grid=101,
    progress=None,
):
    """Patient-wise k-fold cross-validation of the case-study classifier.

    Parameters
    ----------
    X : pandas.DataFrame or array_like, shape (n, n_features)
        Features (NaN allowed: imputed inside the folds), e.g. from
        :func:`hdogreg.features.feature_table`.
    y : array_like of {0, 1}, shape (n,)
        1 = malignant, 0 = benign.
    groups : array_like, shape (n,)
        Patient of each row; no patient is split between folds.
    seed : int, optional
        Seeds the folds, the inner folds and the booster.
    n_splits : int, optional
        Number of outer folds (the paper: 5).
    target_sensitivity : float, optional
        The operating threshold of each fold is the one whose sensitivity is closest to this
        (the paper: 0.9), chosen on the training folds only.
    threshold_from : {"inner-cv", "train"}, optional
        Which training-fold scores the threshold is chosen on. ``"inner-cv"`` (default):
        out-of-fold scores of an inner patient-wise ``inner_splits``-fold cross-validation
        on the training folds — honest scores of the kind the test fold will get.
        ``"train"``: in-sample scores of the fold's model on its own training rows; boosted
        trees fit their training rows closely, so such a threshold is too high and the test
        sensitivity falls well below the target.
    inner_splits : int, optional
        Number of inner folds for ``threshold_from="inner-cv"``.
    classifier : callable, optional
        ``classifier(seed) -> estimator`` with ``fit`` / ``predict_proba``; default
        :func:`make_classifier`.
    n_grid : int, optional
        Number of points of the common FPR grid in [0, 1] for the ROC curves.
    progress : bool or None, optional
        tqdm progress bar over the folds (None: only on a terminal/notebook).

    Returns
    -------
    result : CVResult

    Notes
    -----
    In each fold, the whole pipeline (imputer means, scaler mean and variance, trees) is fitted
    on the training rows only and applied to the test rows. Fold metrics are computed on the
    test rows; the summary is their mean and (population) standard deviation across folds.
    Each fold's ROC curve is linearly interpolated on a common FPR grid (starting at TPR 0 and
    ending at TPR 1) before averaging.
    """
    if threshold_from not in ("inner-cv", "train"):
        raise ValueError(f"threshold_from must be 'inner-cv' or 'train', got {threshold_from!r}")
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        index = X.index
        Xa = X.to_numpy(dtype=float)
    else:
        Xa = np.asarray(X, dtype=float)
        if Xa.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {Xa.shape}")
        names = [f"f{i}" for i in range(Xa.shape[1])]
        index = pd.RangeIndex(Xa.shape[0])
    ya = np.asarray(y)
    if not np.isin(ya, (0, 1)).all():
        raise ValueError(f"y must hold 0/1 labels, got values {np.unique(ya).tolist()}")
    ya = ya.astype(int)
    ga = np.asarray(groups)
    if not (Xa.shape[0] == ya.shape[0] == ga.shape[0]):
        raise ValueError(
            f"X, y and groups must have the same length, got {Xa.shape[0]}, {ya.shape[0]}, {ga.shape[0]}"
        )
    make = classifier if classifier is not None else make_classifier

    folds = patient_folds(ga, ya, n_splits=n_splits, seed=seed)
    grid = np.linspace(0.0, 1.0, int(n_grid))
    scores = np.full(len(ya), np.nan)
    thresholds = np.full(len(ya), np.nan)
    rows, rocs, gains, models = [], [], {}, []
    for k in tqdm(range(n_splits), desc="folds", disable=None if progress is None else not progress):
        test = folds == k
        train = ~test
        model = make(seed).fit(Xa[train], ya[train])
        if threshold_from == "train":
            train_scores = model.predict_proba(Xa[train])[:, 1]
        else:
            train_scores = _inner_scores(
                Xa[train], ya[train], ga[train], seed=seed, inner_splits=inner_splits,
                make=lambda: make(seed),
            )
        thr = threshold_for_sensitivity(ya[train], train_scores, target_sensitivity)
        s = model.predict_proba(Xa[test])[:, 1]
        scores[test], thresholds[test] = s, thr
        m = binary_metrics(ya[test], s, thr)
        rows.append({"fold": k, "n_train": int(train.sum()), "n_test": int(test.sum()), **m,
                     "threshold": thr})
        if np.unique(ya[test]).size == 2:
            fpr, tpr, _ = roc_curve(ya[test], s)
            tpr_grid = np.interp(grid, fpr, tpr)
            tpr_grid[0], tpr_grid[-1] = 0.0, 1.0
        else:
            tpr_grid = np.full(grid.shape, np.nan)
        rocs.append(pd.DataFrame({"fold": k, "fpr": grid, "tpr": tpr_grid}))
        gains[k] = _gain_importance(model, names)
        models.append(model)

    fold_table = pd.DataFrame(rows)
    summary = pd.DataFrame(
        {
            "metric": list(METRICS),
            "mean": [fold_table[m].mean() for m in METRICS],
            "sd": [fold_table[m].std(ddof=0) for m in METRICS],
        }
    )
    roc = pd.concat(rocs, ignore_index=True)
    by_fpr = roc.groupby("fpr")["tpr"]
    roc_mean = pd.DataFrame(
        {"fpr": grid, "tpr_mean": by_fpr.mean().to_numpy(), "tpr_sd": by_fpr.std(ddof=0).to_numpy()}
    )
    predictions = pd.DataFrame(
        {"fold": folds, "y": ya, "score": scores, "threshold": thresholds,
         "predicted": (scores >= thresholds).astype(int)},
        index=index,
    )
    importance = pd.DataFrame(gains, index=pd.Index(names, name="feature"))
    importance.columns.name = "fold"
    return CVResult(fold_table, summary, roc, roc_mean, predictions, importance, models)


def _gain_importance(model, names):
    """Total gain of each feature in a fitted pipeline's booster (0 when never split on)."""
    estimator = model[-1] if isinstance(model, Pipeline) else model
    if not hasattr(estimator, "get_booster"):
        return pd.Series(np.nan, index=names)
    score = estimator.get_booster().get_score(importance_type="gain")
    # a numpy-fitted booster names the features f0, f1, ...
    return pd.Series([float(score.get(f"f{i}", 0.0)) for i in range(len(names))], index=names)


def threshold_sweep(tables, y, groups, *, seed=0, n_splits=5, classifier=None, progress=None):
    """Cross-validated ROC AUC of every threshold of a sweep, and the best one per method.

    The paper tuned each segmentation method's parameters and kept the configuration with the
    highest ROC AUC ("details are given in Supplementary Information"); this does that for
    the map threshold of ``"ours"`` (``p_thr``) and of ``"fpn"``.

    Parameters
    ----------
    tables : mapping
        Feature tables of :func:`casestudy_features` with ``p_thrs``: only the ``(method, p)``
        keys are used.
    y, groups : array_like
        Labels and patients, as for :func:`cross_validate`.
    seed, n_splits, classifier
        As for :func:`cross_validate` (the same folds for every threshold).
    progress : bool or None, optional
        tqdm progress bar over the thresholds.

    Returns
    -------
    sweep : pandas.DataFrame
        ``method, p_thr, auc_mean, auc_sd, best``; ``best`` marks, per method, the highest
        mean AUC (the lowest threshold on ties).

    Notes
    -----
    Only the outer models are fitted (``threshold_from="train"``: the operating threshold
    does not change the AUC). Choosing a configuration on the same cross-validation that
    reports it is optimistic, as in the paper; the selected AUC is an upper estimate.
    """
    keys = [k for k in tables if isinstance(k, tuple)]
    if not keys:
        raise ValueError("tables hold no (method, p_thr) entries: pass p_thrs= to casestudy_features")
    rows = []
    for method, p in tqdm(keys, desc="thresholds", disable=None if progress is None else not progress):
        r = cross_validate(tables[(method, p)], y, groups, seed=seed, n_splits=n_splits,
                           threshold_from="train", classifier=classifier, progress=False)
        auc = r.summary.set_index("metric").loc["auc"]
        rows.append({"method": method, "p_thr": float(p), "auc_mean": float(auc["mean"]),
                     "auc_sd": float(auc["sd"])})
    sweep = pd.DataFrame(rows).sort_values(["method", "p_thr"], kind="stable").reset_index(drop=True)
    best = sweep.groupby("method", sort=False)["auc_mean"].idxmax()
    sweep["best"] = sweep.index.isin(best.to_numpy())
    return sweep


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


# --------------------------------------------------------------------------------------------
# Segmentation of the ROIs by our method, its two components and the baseline
# --------------------------------------------------------------------------------------------

#: Segmentation methods of the case study: our fusion (Table 4, Fig. 7, Fig. 8), its two
#: components alone (Fig. 8) and the Ciecholewski baseline (Table 4, Fig. 7).
SEGMENTATION_METHODS = ("ours", "hdog", "fpn", "ciecholewski")

#: Methods that need the regression network.
_NEEDS_MODEL = frozenset({"ours", "fpn"})
_NEEDS_HDOG = frozenset({"ours", "hdog"})


def _check_methods(methods):
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods must name at least one segmentation method, got none")
    bad = [m for m in methods if m not in SEGMENTATION_METHODS]
    if bad:
        raise ValueError(f"method must be one of {SEGMENTATION_METHODS}, got {bad[0]!r}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods must not repeat, got {methods}")
    return methods


def _roi_window(shape, params):
    """Window and stride of the sliding-window inference on a ROI.

    A ROI no larger than ``params.window`` is predicted in one window: the smallest multiple of
    32 covering its longer side (256 for the paper's 256 x 256 ROIs); the ROI is mirrored up to
    that size by :func:`hdogreg.inference.predict_proximity`. Larger ROIs use the parameters'
    window and stride.
    """
    from hdogreg.inference import SIDE_MULTIPLE

    side = int(np.ceil(max(shape) / SIDE_MULTIPLE) * SIDE_MULTIPLE)
    if side <= params.window:
        return side, side
    return params.window, params.stride


def roi_proximity(model, roi, params=None):
    """Proximity map of one ROI predicted by the regression network (no breast mask).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(N, 1, H, W)`` in [0, 1] to ``(N, 1, H, W)`` (:mod:`hdogreg.regression`).
    roi : (H, W) array_like
        ROI image, float in [0, 1].
    params : hdogreg.pipeline.SegmentParams, optional
        Window, stride and batch size of the inference (see Notes).

    Returns
    -------
    pmap : (H, W) ndarray of float32

    Notes
    -----
    A ROI is small: one window of the smallest multiple of 32 covering it (256 for a 256 x 256
    ROI) replaces the full-field 512 / 256 grid of :func:`hdogreg.inference.predict_proximity`,
    which would otherwise mirror the ROI to four times its area. The whole ROI is breast
    tissue (magnification views), so no breast mask is used.
    """
    from hdogreg.inference import predict_proximity
    from hdogreg.pipeline import SegmentParams

    params = SegmentParams() if params is None else params
    window, stride = _roi_window(np.shape(roi), params)
    return predict_proximity(model, roi, window=window, stride=stride,
                             batch_size=params.batch_size, progress=False)


def roi_segmentations(roi, methods=SEGMENTATION_METHODS, *, model=None, params=None,
                      fpn_threshold=None, ciecholewski_kwargs=None, p_thrs=(), hdog_kwargs=None):
    """Segment one ROI by several methods, computing each shared stage once.

    Parameters
    ----------
    roi : (H, W) array_like
        ROI image, float in [0, 1] (e.g. a 256 x 256 crop, :func:`load_roi`).
    methods : sequence of str, optional
        Any of :data:`SEGMENTATION_METHODS`:

        ``"ours"``
            HDoG candidates (:func:`hdogreg.hdog.hdog_segment`) kept by the fusion with the
            predicted proximity map at ``params.p_thr`` / ``params.o_thr``
            (:func:`hdogreg.fusion.fuse`; holes filled if ``params.fill_holes``) — the
            paper's method.
        ``"hdog"``
            All HDoG candidate objects (the upper branch of Fig. 1 alone).
        ``"fpn"``
            The connected components (4-connected) of the thresholded proximity map
            ``pmap >= fpn_threshold`` (the lower branch alone).
        ``"ciecholewski"``
            :func:`hdogreg.baselines.ciecholewski.ciecholewski_segment` of the ROI.
    model : torch.nn.Module, optional
        The regression network; required for ``"ours"`` and ``"fpn"``.
    params : hdogreg.pipeline.SegmentParams, optional
        HDoG parameters, ``p_thr``, ``o_thr``, ``fill_holes``, inference batch size; default
        the paper's values (``SegmentParams()``). ``breast_erosion`` is not used: the whole
        ROI is breast tissue.
    fpn_threshold : float, optional
        Threshold of the map for ``"fpn"``; default ``params.p_thr``.
    ciecholewski_kwargs : dict, optional
        Keyword arguments of the baseline (default: its published parameters).
    hdog_kwargs : dict, optional
        Further keyword arguments of :func:`hdogreg.hdog.hdog_segment` that
        :class:`~hdogreg.pipeline.SegmentParams` does not hold, e.g.
        ``{"hessian_rule": "code"}`` (the authors' reading of Eq. 6).
    p_thrs : sequence of float, optional
        Extra map thresholds for a sweep: for each ``p``, the key ``("ours", p)`` holds our
        segmentation with ``p_thr = p`` and ``("fpn", p)`` the FPN-only one with
        ``fpn_threshold = p`` (for those of the two methods requested). A sweep costs only
        the fusion / thresholding, not another HDoG or network pass.

    Returns
    -------
    segmentations : dict of str or tuple -> (H, W) ndarray of int32
        Label image (0 = background, 1..n = MCs) of each requested method, in `methods` order,
        then the sweep's ``(method, p)`` entries.

    Notes
    -----
    The HDoG is run once for ``"ours"`` and ``"hdog"`` and the network once for ``"ours"``
    and ``"fpn"``, so the ablation costs no more than our method. All scales are in pixels of
    the ROI, as the paper applied its method to the magnification views directly.

    Examples
    --------
    >>> rr, cc = np.mgrid[:64, :64]
    >>> roi = 0.3 + 0.1 * np.exp(-((rr - 32) ** 2 + (cc - 20) ** 2) / (2 * 2.0**2))
    >>> seg = roi_segmentations(roi, ["hdog", "ciecholewski"])
    >>> bool(seg["hdog"][32, 20]), bool(seg["ciecholewski"][32, 20])
    (True, True)
    """
    from hdogreg._utils import check_image
    from hdogreg.pipeline import SegmentParams

    methods = _check_methods(methods)
    roi = check_image(roi, "roi")
    params = SegmentParams() if params is None else params
    if _NEEDS_MODEL & set(methods) and model is None:
        raise ValueError(f"methods {sorted(_NEEDS_MODEL & set(methods))} need the regression "
                         "network: pass model=")
    fpn_threshold = params.p_thr if fpn_threshold is None else float(fpn_threshold)
    if np.isnan(fpn_threshold):
        raise ValueError(f"fpn_threshold must be a number, got {fpn_threshold}")
    p_thrs = [float(p) for p in p_thrs]
    if any(np.isnan(p) for p in p_thrs) or len(set(p_thrs)) != len(p_thrs):
        raise ValueError(f"p_thrs must be distinct numbers, got {p_thrs}")

    hdog = pmap = None
    if _NEEDS_HDOG & set(methods):
        from hdogreg.hdog import hdog_segment

        hdog = hdog_segment(roi, **{**params.hdog_kwargs(), "workers": 1, **(hdog_kwargs or {})})
    if _NEEDS_MODEL & set(methods):
        pmap = roi_proximity(model, roi, params)
    def ours(p):
        from hdogreg.fusion import fuse

        return fuse(hdog.labels, pmap, p, params.o_thr, fill_holes=params.fill_holes).labels

    def fpn(p):
        from hdogreg.features import segmentation_labels

        return segmentation_labels(pmap >= p, connectivity=1)

    out = {}
    for method in methods:
        if method == "ours":
            seg = ours(params.p_thr)
        elif method == "hdog":
            seg = hdog.labels
        elif method == "fpn":
            seg = fpn(fpn_threshold)
        else:
            from hdogreg.baselines.ciecholewski import ciecholewski_segment

            seg = ciecholewski_segment(roi, **(ciecholewski_kwargs or {}))
        out[method] = np.asarray(seg, dtype=np.int32)
    for method, make in (("ours", ours), ("fpn", fpn)):
        if method in methods:
            for p in p_thrs:
                out[(method, p)] = np.asarray(make(p), dtype=np.int32)
    return out


def segment_roi(roi, method, *, model=None, params=None, fpn_threshold=None,
                ciecholewski_kwargs=None, hdog_kwargs=None):
    """Label image of one ROI segmented by one method (see :func:`roi_segmentations`)."""
    (method,) = _check_methods((method,))
    return roi_segmentations(roi, (method,), model=model, params=params,
                             fpn_threshold=fpn_threshold,
                             ciecholewski_kwargs=ciecholewski_kwargs,
                             hdog_kwargs=hdog_kwargs)[method]


def load_roi(row, size=256, *, load=None):
    """Return the fixed-size ROI of one cohort row.

    Parameters
    ----------
    row : mapping or namedtuple
        With ``image, x0, y0, x1, y1`` and optionally ``pixel_spacing`` (a row of
        :func:`hdogreg.data.read_casestudy_cohort`).
    size : int, optional
        Side of the fixed box (:func:`fixed_box`).
    load : callable, optional
        ``load(path, pixel_spacing) -> (image, pixel_spacing)``; default reads the image with
        :func:`hdogreg.data.io.read_image` (float32 in [0, 1]).

    Returns
    -------
    roi : (size, size) ndarray of float32
        Unless the image is smaller.
    pixel_spacing : float
        mm per pixel (the cohort's value, else the file's).
    box : tuple of int
        ``(x0, y0, x1, y1)`` of the ROI in the image (half-open, x = column).
    """
    get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    spacing = get("pixel_spacing", None)
    if spacing is not None and not np.isfinite(spacing):
        spacing = None
    image, spacing = (load or _read_image)(get("image"), spacing)
    box = fixed_box((get("x0"), get("y0"), get("x1"), get("y1")), size, shape=np.shape(image))
    return crop(image, box), spacing, box


# --------------------------------------------------------------------------------------------
# Features of a whole cohort, with an on-disk cache
# --------------------------------------------------------------------------------------------


def _model_digest(model):
    if model is None:
        return "none"
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()



#: Modules whose code determines the case-study features (part of the cache key).
_FEATURE_MODULES = ("casestudy", "features", "hdog", "scale_space", "hessian", "fusion",
                    "inference", "pipeline", "_utils", "baselines/ciecholewski", "data/io")


def _code_digest():
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _FEATURE_MODULES:
        path = pkg / f"{name}.py"
        h.update(name.encode())
        h.update(path.read_bytes() if path.is_file() else b"missing")
    return h.hexdigest()


def features_cache_key(cohort, methods, *, model=None, params=None, fpn_threshold=None,
                       ciecholewski_kwargs=None, size=256, p_thrs=(), hdog_kwargs=None):
    """Content hash of a :func:`casestudy_features` computation.

    It covers the methods, the network weights, every segmentation parameter, the ROI size,
    the cohort table and the bytes of its images, and the code of the modules the features
    depend on (ROI loading, HDoG, inference, fusion, baseline, features), so a cached result
    is reused only when recomputing would give the same numbers.
    """
    from hdogreg.pipeline import SegmentParams

    methods = _check_methods(methods)
    params = SegmentParams() if params is None else params
    cols = [c for c in ("roi_id", "image", "x0", "y0", "x1", "y1", "pixel_spacing") if c in cohort]
    table = cohort[cols].copy()
    table["image"] = [Path(p).name for p in table["image"]]
    images = {str(p): file_sha256(p) for p in dict.fromkeys(cohort["image"])}
    payload = {
        "methods": sorted(methods),
        "model": _model_digest(model) if _NEEDS_MODEL & set(methods) else "unused",
        "params": {k: repr(v) for k, v in dataclasses.asdict(params).items()},
        "fpn_threshold": repr(fpn_threshold),
        "ciecholewski": repr(sorted((ciecholewski_kwargs or {}).items())),
        "hdog": repr(sorted((hdog_kwargs or {}).items())),
        "size": int(size),
        "p_thrs": [repr(float(p)) for p in p_thrs],
        "cohort": table.to_csv(index=False),
        "images": sorted(images.values()),
        "code": _code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def casestudy_features(cohort, methods=SEGMENTATION_METHODS, *, model=None, params=None,
                       fpn_threshold=None, ciecholewski_kwargs=None, p_thrs=(), hdog_kwargs=None,
                       size=256, cache_dir=None, load=None, progress=None):
    """Compute the 31 features of every ROI of a cohort, for each segmentation method.

    Parameters
    ----------
    cohort : pandas.DataFrame
        ``roi_id, image, x0, y0, x1, y1`` and optionally ``pixel_spacing``
        (:func:`hdogreg.data.read_casestudy_cohort`).
    methods : sequence of str, optional
        Segmentation methods (:data:`SEGMENTATION_METHODS`, all by default).
    model, params, fpn_threshold, ciecholewski_kwargs, p_thrs, hdog_kwargs
        See :func:`roi_segmentations`. ``p_thrs`` adds the tables of a threshold sweep of
        ``"ours"`` and ``"fpn"`` under the keys ``(method, p)``.
    size : int, optional
        Side of the fixed ROIs (the paper: 256), :func:`fixed_box`.
    cache_dir : str or Path, optional
        If given, the tables are stored there as ``features-<key>.csv`` (``key`` from
        :func:`features_cache_key`) and read back instead of recomputed when the key matches.
    load : callable, optional
        Image reader, see :func:`load_roi`. Not part of the cache key: pass ``cache_dir`` only
        with the default reader.
    progress : bool or None, optional
        tqdm progress bar over the ROIs.

    Returns
    -------
    tables : dict of str or tuple -> pandas.DataFrame
        For each method, in `methods` order (then the sweep's ``(method, p)`` keys), the
        :func:`hdogreg.features.feature_table` of its segmentations: index ``roi_id`` in
        cohort order, columns :data:`hdogreg.features.FEATURE_NAMES` in physical units (each
        ROI's pixel spacing).

    Notes
    -----
    Each image is read once, its fixed-size ROI segmented by all methods at once
    (:func:`roi_segmentations`: the HDoG and the network run once per ROI).
    """
    from hdogreg.features import FEATURE_NAMES, roi_features

    methods = _check_methods(methods)
    need = {"roi_id", "image", "x0", "y0", "x1", "y1"}
    if need - set(cohort.columns):
        raise ValueError(f"cohort is missing columns {sorted(need - set(cohort.columns))}")
    ids = cohort["roi_id"].tolist()
    if len(set(ids)) != len(ids):
        dup = cohort["roi_id"][cohort["roi_id"].duplicated()].iloc[0]
        raise ValueError(f"roi_id {dup!r} appears more than once")
    if _NEEDS_MODEL & set(methods) and model is None:
        raise ValueError(f"methods {sorted(_NEEDS_MODEL & set(methods))} need the regression "
                         "network: pass model=")

    path = None
    if cache_dir is not None:
        key = features_cache_key(cohort, methods, model=model, params=params,
                                 fpn_threshold=fpn_threshold,
                                 ciecholewski_kwargs=ciecholewski_kwargs, size=size,
                                 p_thrs=p_thrs, hdog_kwargs=hdog_kwargs)
        path = Path(cache_dir) / f"features-{key[:32]}.csv"
        if path.is_file():
            cached = pd.read_csv(path, dtype={"roi_id": str, "method": str})
            tables = {}
            for (m, p), sub in cached.groupby(["method", "p_thr"], sort=False, dropna=False):
                tables[m if np.isnan(p) else (m, float(p))] = (
                    sub.set_index("roi_id").reindex([str(i) for i in ids])
                    .set_axis(pd.Index(ids, name="roi_id"))[list(FEATURE_NAMES)].astype(float))
            return tables

    rows = {}
    for row in tqdm(cohort.to_dict("records"), desc="ROIs",
                    disable=None if progress is None else not progress):
        roi, spacing, _ = load_roi(row, size, load=load)
        segs = roi_segmentations(roi, methods, model=model, params=params,
                                 fpn_threshold=fpn_threshold,
                                 ciecholewski_kwargs=ciecholewski_kwargs, p_thrs=p_thrs,
                                 hdog_kwargs=hdog_kwargs)
        for key, seg in segs.items():
            rows.setdefault(key, []).append(roi_features(seg, roi, pixel_spacing=spacing))
    index = pd.Index(ids, name="roi_id")
    tables = {k: pd.DataFrame(r, index=index, columns=list(FEATURE_NAMES)).astype(float)
              for k, r in rows.items()}
    if path is not None:
        long = pd.concat([
            t.assign(method=k[0] if isinstance(k, tuple) else k,
                     p_thr=k[1] if isinstance(k, tuple) else np.nan)
            for k, t in tables.items()
        ]).reset_index()
        with atomic_path(path) as tmp:
            long.to_csv(tmp, index=False, float_format="%.17g")
    return tables
