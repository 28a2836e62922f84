"""FROC analysis pooled over images: the curve, its pAUC, bootstrap intervals, operating points.

Per-image counts (:func:`hdogreg.metrics.froc_counts`) become a curve of TPR against false
positives per cm^2 of breast area (:func:`froc_curve`), its partial area (:func:`partial_auc`),
bootstrap samples resampling images or patients (:func:`bootstrap_weights`,
:func:`bootstrap_froc`), the TPR at a FP rate (:func:`tpr_at`) and the validation operating
point (:func:`choose_threshold`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._utils import default_rng

__all__ = ["breast_area_cm2", "score_thresholds", "froc_curve", "partial_auc", "bootstrap_weights",
           "bootstrap_froc", "tpr_at", "choose_threshold", "BootstrapResult"]


def breast_area_cm2(mask, pixel_spacing):
    """Return the area of a mask in cm^2: the denominator of false positives per cm^2.

    Parameters
    ----------
    mask : (H, W) array_like of bool
        Breast mask (:func:`hdogreg.breast.breast_mask`).
    pixel_spacing : float
        mm per pixel of the grid of `mask`.

    Returns
    -------
    area : float
        ``count_nonzero(mask) * pixel_spacing**2 / 100`` (1 cm^2 = 100 mm^2).

    Examples
    --------
    >>> breast_area_cm2(np.ones((100, 100), bool), 0.5)   # 50 mm x 50 mm
    25.0
    """
    spacing = float(pixel_spacing)
    if not np.isfinite(spacing) or spacing <= 0:
        raise ValueError(f"pixel_spacing must be a positive number of mm, got {pixel_spacing}")
    return float(np.count_nonzero(mask)) * spacing**2 / 100.0


def score_thresholds(*scores, max_thresholds=None):
    """Return a common, ascending threshold grid for :func:`froc_counts` from the scores of all images.

    Parameters
    ----------
    *scores : array_like of float
        Per-image score arrays.
    max_thresholds : int, optional
        If given and there are more distinct scores, keep this many quantiles of them.

    Returns
    -------
    thresholds : ndarray
        The distinct scores (every operating point of the pooled FROC curve) followed by
        ``+inf`` (nothing kept: the curve's (0, 0) end).
    """
    values = np.unique(np.concatenate([np.asarray(s, float).ravel() for s in scores] or [np.empty(0)]))
    if max_thresholds is not None and values.size > max_thresholds:
        values = np.unique(np.quantile(values, np.linspace(0, 1, int(max_thresholds)), method="nearest"))
    return np.r_[values, np.inf]


def froc_curve(tp, fp, n_ref, breast_area_cm2):
    r"""Pooled FROC curve: TPR against false positives per cm^2 of breast area.

    Parameters
    ----------
    tp, fp : (n_images, n_thresholds) array_like of int
        Per-image counts from :func:`froc_counts` (a 1-D array is one image).
    n_ref : (n_images,) array_like of int
        Reference objects per image.
    breast_area_cm2 : (n_images,) array_like of float
        Breast area per image in cm^2, e.g.
        ``breast_mask(image).sum() * pixel_spacing**2 / 100`` (spacing in mm).

    Returns
    -------
    fp_per_cm2, tpr : (n_thresholds,) ndarray
        :math:`\sum_i FP_i / \sum_i A_i` and :math:`\sum_i TP_i / \sum_i N_i` at each
        threshold (pooled over images, as the authors did).
    """
    tp = np.atleast_2d(np.asarray(tp, float))
    fp = np.atleast_2d(np.asarray(fp, float))
    n_ref = np.atleast_1d(np.asarray(n_ref, float))
    area = np.atleast_1d(np.asarray(breast_area_cm2, float))
    if tp.shape != fp.shape or tp.shape[0] != n_ref.size or n_ref.size != area.size:
        raise ValueError(
            f"inconsistent shapes: tp {tp.shape}, fp {fp.shape}, n_ref {n_ref.shape}, area {area.shape}"
        )
    if (area <= 0).any():
        raise ValueError(f"breast areas must be > 0, got minimum {area.min()}")
    if n_ref.sum() <= 0:
        raise ValueError("no reference objects in any image: TPR undefined")
    return fp.sum(0) / area.sum(), tp.sum(0) / n_ref.sum()


def _pauc_rows(fp, tpr, max_fp):
    """Vectorised :func:`partial_auc` over the rows of (B, T) arrays."""
    order = np.lexsort((tpr, fp), axis=-1)
    fp = np.take_along_axis(fp, order, -1)
    tpr = np.take_along_axis(tpr, order, -1)
    valid = fp <= max_fp
    # TPR of the last point within range (0 if none); points beyond max_fp are moved to
    # (max_fp, that TPR), which extends the curve flat to max_fp
    last_in_range = valid.cumsum(-1).argmax(-1)
    last = np.where(valid.any(-1), np.take_along_axis(tpr, last_in_range[:, None], -1)[:, 0], 0.0)
    x = np.where(valid, fp, max_fp)
    y = np.where(valid, tpr, last[:, None])
    b = fp.shape[0]
    x = np.concatenate([np.zeros((b, 1)), x, np.full((b, 1), max_fp)], axis=-1)
    y = np.concatenate([np.zeros((b, 1)), y, last[:, None]], axis=-1)
    return np.trapezoid(y, x, axis=-1)


def partial_auc(fp_per_cm2, tpr, max_fp=1.0):
    """Partial area under the FROC curve between 0 and `max_fp` false positives per cm^2.

    Parameters
    ----------
    fp_per_cm2, tpr : (n,) array_like
        FROC operating points (any order).
    max_fp : float, optional
        Upper end of the FP range (the paper: 1 FP/cm^2).

    Returns
    -------
    pauc : float
        Area in TPR x FP/cm^2 units, **not normalised**: a perfect detector scores `max_fp`
        (1.0 for the paper's range).

    Notes
    -----
    The authors' convention, reproduced here: keep the points with FP/cm^2 <= `max_fp`, sort
    them by FP, prepend (0, 0), extend the last TPR flat to `max_fp`, and integrate with the
    trapezoid rule. Points beyond `max_fp` are not interpolated to the boundary, so a curve
    with no point inside the range scores 0.

    Examples
    --------
    >>> partial_auc([0.0, 0.5, 2.0], [1.0, 1.0, 1.0])
    1.0
    >>> round(partial_auc([0.5], [0.8]), 6)   # (0,0)-(0.5,0.8) then flat to 1
    0.6
    """
    fp = np.asarray(fp_per_cm2, float).ravel()
    tp = np.asarray(tpr, float).ravel()
    if fp.shape != tp.shape:
        raise ValueError(f"fp_per_cm2 and tpr differ in length: {fp.size} vs {tp.size}")
    if max_fp <= 0:
        raise ValueError(f"max_fp must be > 0, got {max_fp}")
    return float(_pauc_rows(fp[None], tp[None], float(max_fp))[0])


class BootstrapResult(NamedTuple):
    """Result of :func:`bootstrap_froc`."""

    mean: float  #: mean pAUC over the bootstrap samples
    ci95: tuple  #: (2.5th, 97.5th) percentiles of the samples
    samples: np.ndarray  #: (n_boot,) pAUC of every bootstrap sample


def bootstrap_weights(groups, n_boot=100, seed=0):
    """How often each image enters each bootstrap sample, resampling whole groups.

    Parameters
    ----------
    groups : int or (n_images,) array_like
        Resampling unit of each image (e.g. patient id): whole groups are drawn with
        replacement, so images of one group stay together. An int ``n`` means ``n`` images,
        each its own group.
    n_boot : int, optional
        Number of bootstrap samples.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same draws.

    Returns
    -------
    weights : (n_boot, n_images) ndarray of float
        ``weights[b, i]``: the number of times image ``i``'s group is drawn in sample ``b``;
        each sample draws as many groups as there are.

    Examples
    --------
    >>> w = bootstrap_weights(["a", "a", "b"], n_boot=4, seed=0)
    >>> w.shape
    (4, 3)
    >>> bool((w[:, 0] == w[:, 1]).all())
    True
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if np.ndim(groups) == 0:
        code = np.arange(int(groups))
    else:
        groups = np.asarray(groups)
        if groups.ndim != 1:
            raise ValueError(f"groups must be one-dimensional, got shape {groups.shape}")
        code = np.unique(groups, return_inverse=True)[1].ravel()
    if code.size == 0:
        raise ValueError("no images to resample")
    n_units = int(code.max()) + 1
    draws = default_rng(seed).integers(0, n_units, size=(n_boot, n_units))
    counts = np.bincount((draws + n_units * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n_units)
    return counts.reshape(n_boot, n_units)[:, code].astype(float)


def bootstrap_froc(per_image_tp, per_image_fp, per_image_nref, per_image_area, groups=None, n_boot=100,
                   seed=0, *, max_fp=1.0):
    """Bootstrap distribution of the FROC pAUC, resampling images (or patients) with replacement.

    Parameters
    ----------
    per_image_tp, per_image_fp : (n_images, n_thresholds) array_like
        Counts from :func:`froc_counts`, all on the same thresholds.
    per_image_nref : (n_images,) array_like
        Reference objects per image.
    per_image_area : (n_images,) array_like
        Breast area per image in cm^2.
    groups : (n_images,) array_like, optional
        Resampling unit of each image (e.g. patient id); whole groups are drawn, so images of
        one patient stay together. Default: every image on its own (the authors' choice).
    n_boot : int, optional
        Number of bootstrap samples (paper: 100).
    seed : int or numpy.random.Generator, optional
        Seed; the same seed gives the same samples.
    max_fp : float, optional
        pAUC range, see :func:`partial_auc`.

    Returns
    -------
    BootstrapResult
        ``mean``, ``ci95`` (percentile interval) and the ``samples``.

    Notes
    -----
    Each sample draws as many units as there are, with replacement, pools the counts of the
    drawn images (an image drawn twice counts twice) into a FROC curve (:func:`froc_curve`) and
    integrates it (:func:`partial_auc`). All samples are computed together with matrix
    products of the draw counts with the per-image counts; nothing is re-matched. The paper
    reports "mean +- x" with a 95% CI; ``(ci95[1] - ci95[0]) / 2`` is the matching half-width.
    A sample without reference objects has an undefined TPR and is dropped from mean and CI.
    """
    tp = np.atleast_2d(np.asarray(per_image_tp, float))
    fp = np.atleast_2d(np.asarray(per_image_fp, float))
    nref = np.atleast_1d(np.asarray(per_image_nref, float))
    area = np.atleast_1d(np.asarray(per_image_area, float))
    n_img = tp.shape[0]
    if fp.shape != tp.shape or nref.size != n_img or area.size != n_img:
        raise ValueError(
            f"inconsistent shapes: tp {tp.shape}, fp {fp.shape}, nref {nref.shape}, area {area.shape}"
        )
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if (area <= 0).any():
        raise ValueError(f"breast areas must be > 0, got minimum {area.min()}")
    if groups is not None and np.shape(groups) != (n_img,):
        raise ValueError(f"groups must have one entry per image ({n_img}), got shape {np.shape(groups)}")
    weights = bootstrap_weights(n_img if groups is None else groups, n_boot, seed)  # (n_boot, n_images)
    total_ref = weights @ nref
    ok = total_ref > 0
    fp_cm2 = (weights @ fp) / (weights @ area)[:, None]
    tpr = (weights @ tp) / np.where(ok, total_ref, 1.0)[:, None]
    samples = _pauc_rows(fp_cm2, tpr, float(max_fp))
    samples[~ok] = np.nan
    good = samples[ok]
    if good.size == 0:
        raise ValueError("no bootstrap sample contains a reference object")
    lo, hi = np.percentile(good, [2.5, 97.5])
    return BootstrapResult(float(good.mean()), (float(lo), float(hi)), samples)


def tpr_at(fp_per_cm2, tpr, fp=0.4):
    """TPR of the FROC curve at a given rate of false positives per cm^2 (paper: 0.4).

    Parameters
    ----------
    fp_per_cm2, tpr : (n,) array_like
        FROC operating points.
    fp : float, optional
        False positives per cm^2.

    Returns
    -------
    float
        The highest TPR among the operating points with FP/cm^2 <= `fp` (an operating point
        that can actually be reached with some threshold); 0 if there is none.

    Examples
    --------
    >>> tpr_at([0.0, 0.3, 0.5], [0.2, 0.7, 0.9], fp=0.4)
    0.7
    """
    f = np.asarray(fp_per_cm2, float).ravel()
    t = np.asarray(tpr, float).ravel()
    if f.shape != t.shape:
        raise ValueError(f"fp_per_cm2 and tpr differ in length: {f.size} vs {t.size}")
    ok = f <= fp
    return float(t[ok].max()) if ok.any() else 0.0


def choose_threshold(thresholds, fp_per_cm2, tpr, *, fp_unit=1.0):
    r"""Operating threshold closest to the ideal point (FP/cm^2 = 0, TPR = 1).

    **Use on the validation set only**, then apply the chosen threshold unchanged to the test
    set: the test set never tunes anything. (An earlier version of the authors' scripts chose
    the threshold on the evaluation set itself, which biases the reported numbers upwards.)

    Parameters
    ----------
    thresholds, fp_per_cm2, tpr : (n,) array_like
        Thresholds and the FROC operating points they give (validation set).
    fp_unit : float, optional
        FP/cm^2 that count as much as a TPR of 1 in the distance. The axes have different
        units; the paper measures the distance in the plot's own units (1 FP/cm^2 ~ TPR 1, the
        pAUC range), which is the default.

    Returns
    -------
    threshold : float
        The threshold minimising :math:`\sqrt{(FP/u)^2 + (1 - TPR)^2}`; among equally close
        points, the highest threshold (fewest detections).
    index : int
        Its position in `thresholds`.

    Examples
    --------
    >>> choose_threshold([0.9, 0.5, 0.1], [0.1, 0.3, 2.0], [0.5, 0.9, 1.0])
    (0.5, 1)
    """
    th = np.asarray(thresholds, float).ravel()
    f = np.asarray(fp_per_cm2, float).ravel()
    t = np.asarray(tpr, float).ravel()
    if not th.size == f.size == t.size:
        raise ValueError(f"thresholds, fp_per_cm2, tpr differ in length: {th.size}, {f.size}, {t.size}")
    if th.size == 0:
        raise ValueError("no operating points to choose from")
    if fp_unit <= 0:
        raise ValueError(f"fp_unit must be > 0, got {fp_unit}")
    d = np.hypot(f / fp_unit, 1.0 - t)
    best = np.flatnonzero(d == d.min())
    i = int(best[np.argmax(th[best])])
    return float(th[i]), i
