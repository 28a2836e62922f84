"""Patient-wise cross-validation of a binary classifier (the case study's XGBoost pipeline).

:func:`make_classifier` (mean imputation, standardisation, XGBoost), :func:`patient_folds`
(stratified, no patient in two folds), :func:`threshold_for_sensitivity` and
:func:`binary_metrics` (the operating point and metrics of Table 4), :func:`cross_validate`
(everything fitted on the training folds only) and :func:`threshold_sweep` (the CV AUC of
each map threshold of a sweep). Nothing here knows about images: the inputs are feature tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

__all__ = ["METRICS", "make_classifier", "patient_folds", "threshold_for_sensitivity", "binary_metrics",
           "CVResult", "cross_validate", "threshold_sweep"]

#: Metric names, in the order of the paper's Table 4.
METRICS = ("auc", "accuracy", "sensitivity", "specificity", "ppv")


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
        one table of :func:`~hdogreg.casestudy.cohort.casestudy_features`.
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
