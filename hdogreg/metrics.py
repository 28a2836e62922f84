"""Segmentation and detection metrics of the paper's "Evaluation Metrics" section.

All functions work on 2-D label images: the reference is ``Mammogram.mc_labels()`` (int32, one
label per annotation, point annotations are single pixels) and a prediction is an integer label
image (a boolean mask is split into 4-connected objects). For FROC analysis a prediction also
carries one score per object, with the convention of :func:`hdogreg.fusion.fuse`: object ``l``
is kept at threshold ``t`` iff ``scores[l - 1] >= t``. A threshold sweep is therefore only a
filtering of the candidates by score; nothing is re-segmented.

Summary of the definitions (each function's docstring has the details):

* :func:`iou_per_image` -- the paper's "mean IoU per image" (mean of the background-class and
  MC-class IoU) and the MC-class IoU on its own.
* :func:`iou_per_object` -- for every reference object of more than one pixel, the IoU with the
  predicted object that overlaps it most (paper footnote 2: point annotations are excluded).
* :func:`match_detections` -- one-to-one matching of predicted and reference objects under the
  paper's localisation rule (centroid distance <= 5 px or IoU >= 0.3).
* :func:`froc_counts`, :func:`froc_curve`, :func:`partial_auc`, :func:`bootstrap_froc`
  (draws: :func:`bootstrap_weights`),
  :func:`tpr_at` -- FROC analysis against false positives per cm^2 of breast area.
* :func:`choose_threshold` -- operating point closest to (FP = 0, TPR = 1), on validation only.
* :func:`wilcoxon_paired` -- paired Wilcoxon signed-rank test between two methods.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from scipy import stats
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from ._utils import default_rng

__all__ = [
    "iou_per_image",
    "iou_per_object",
    "eligibility_pairs",
    "match_detections",
    "froc_counts",
    "score_thresholds",
    "froc_curve",
    "partial_auc",
    "bootstrap_weights",
    "bootstrap_froc",
    "tpr_at",
    "choose_threshold",
    "wilcoxon_paired",
    "Matching",
    "FROCCounts",
    "BootstrapResult",
]


# ----------------------------------------------------------------------------- helpers


def _as_labels(labels, name):
    """Return a 2-D non-negative integer label image; a bool mask is labelled (4-connected)."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D label image, got shape {arr.shape}")
    if arr.dtype == bool:
        return ndi.label(arr)[0]
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected an integer label image or a bool mask, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise ValueError(f"{name}: labels must be >= 0, got minimum {arr.min()}")
    return arr


def _check_same_shape(a, b):
    if a.shape != b.shape:
        raise ValueError(f"prediction and reference shapes differ: {a.shape} vs {b.shape}")


class _Objects(NamedTuple):
    ids: np.ndarray  # (n,) label values present, ascending
    area: np.ndarray  # (n,) pixels
    centroid: np.ndarray  # (n, 2) (row, col)
    flat: np.ndarray  # flat indices of the object pixels
    index: np.ndarray  # object index (into ids) of each pixel in `flat`


def _objects(labels):
    """Labels present in `labels` with their areas and centroids, from the nonzero pixels only."""
    flat = np.flatnonzero(labels)
    vals = labels.ravel()[flat]
    ids, index = np.unique(vals, return_inverse=True)
    area = np.bincount(index, minlength=ids.size).astype(np.int64)
    rows, cols = np.divmod(flat, labels.shape[1])
    if ids.size:
        centroid = np.stack(
            [np.bincount(index, rows, ids.size) / area, np.bincount(index, cols, ids.size) / area], axis=1
        )
    else:
        centroid = np.empty((0, 2))
    return _Objects(ids, area, centroid, flat, index)


def _overlaps(pred, ref):
    """Sparse intersection table: (pred index, ref index, intersection in px) for touching pairs."""
    if pred.ids.size == 0 or ref.ids.size == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    # pixels that belong to both a predicted and a reference object
    common, ip, ir = np.intersect1d(pred.flat, ref.flat, assume_unique=True, return_indices=True)
    if common.size == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    code = pred.index[ip].astype(np.int64) * ref.ids.size + ref.index[ir]
    pairs, inter = np.unique(code, return_counts=True)
    return pairs // ref.ids.size, pairs % ref.ids.size, inter.astype(np.int64)


# ----------------------------------------------------------------------------- segmentation


def iou_per_image(pred_mask, ref_mask, *, empty_value=1.0):
    r"""Two-class mean IoU of one image (the paper's "mean IoU per image") and the MC-class IoU.

    Parameters
    ----------
    pred_mask, ref_mask : (H, W) array_like
        Predicted and reference segmentations; any nonzero pixel is MC (label images are fine).
    empty_value : float, optional
        IoU of a class whose union is empty (both masks agree that the class is absent). The
        default 1.0 scores an image without MCs and without predictions as perfect; pass
        ``np.nan`` to leave such images out of an average with ``np.nanmean``.

    Returns
    -------
    miou_two_class : float
        :math:`(IoU_{MC} + IoU_{bg}) / 2`, the quantity of the paper's Tables 2 and 3.
    iou_mc : float
        :math:`|P \cap R| / |P \cup R|` for the MC class alone.

    Notes
    -----
    For a class with prediction :math:`P` and reference :math:`R`,
    :math:`IoU = |P \cap R| / |P \cup R|`. The background class covers almost the whole image,
    so its IoU is close to 1 whatever the prediction, and the two-class mean is roughly
    :math:`0.5 + IoU_{MC} / 2`: it is dominated by background and compresses differences between
    methods. Report ``iou_mc`` beside it.

    Examples
    --------
    >>> ref = np.zeros((10, 10), bool); ref[2:4, 2:4] = True
    >>> pred = np.zeros((10, 10), bool); pred[2:4, 2:5] = True
    >>> miou, iou_mc = iou_per_image(pred, ref)
    >>> round(iou_mc, 4), round(miou, 4)
    (0.6667, 0.8229)
    """
    p = np.asarray(pred_mask) != 0
    r = np.asarray(ref_mask) != 0
    if p.ndim != 2 or r.ndim != 2:
        raise ValueError(f"expected 2-D masks, got shapes {p.shape} and {r.shape}")
    _check_same_shape(p, r)

    def _iou(a, b):
        union = np.count_nonzero(a | b)
        return float(empty_value) if union == 0 else np.count_nonzero(a & b) / union

    iou_mc = _iou(p, r)
    iou_bg = _iou(~p, ~r)
    return float((iou_mc + iou_bg) / 2), float(iou_mc)


def iou_per_object(pred_labels, ref_labels, *, min_area=2, return_labels=False):
    r"""IoU of every reference object with the predicted object that overlaps it most.

    Parameters
    ----------
    pred_labels, ref_labels : (H, W) array of int or bool
        Predicted and reference label images (0 = background). A bool mask is split into
        4-connected objects.
    min_area : int, optional
        Reference objects smaller than this are skipped. The default 2 excludes the point
        annotations (single pixels) as the paper's footnote 2 does: IoU is not well defined
        for them.
    return_labels : bool, optional
        Also return the reference label of every entry.

    Returns
    -------
    iou : (n,) ndarray of float
        One value per reference object of at least `min_area` pixels, in ascending label
        order; 0 for an object that no prediction touches. Empty if there is no such object.
    labels : (n,) ndarray of int
        The reference labels, only if `return_labels`.

    Notes
    -----
    "The object with the most overlap" is the predicted label with the largest intersection
    :math:`|P_j \cap R_i|` (ties go to the higher IoU). The value is
    :math:`|P_j \cap R_i| / |P_j \cup R_i|` with whole objects, so a prediction that merges
    two reference objects is penalised for both and a reference split into two predictions is
    scored with its larger part only. The paper's "IoU per object" is the mean of these values
    over all objects of a data set (not per image first).

    Examples
    --------
    >>> ref = np.zeros((8, 8), int); ref[1:3, 1:3] = 1; ref[6, 6] = 2   # 2x2 object + point
    >>> pred = np.zeros((8, 8), int); pred[1:3, 1:4] = 5
    >>> iou_per_object(pred, ref)
    array([0.66666667])
    """
    pred = _as_labels(pred_labels, "pred_labels")
    ref = _as_labels(ref_labels, "ref_labels")
    _check_same_shape(pred, ref)
    po, ro = _objects(pred), _objects(ref)
    keep = ro.area >= min_area
    best = np.zeros(ro.ids.size)
    ip, ir, inter = _overlaps(po, ro)
    if inter.size:
        iou = inter / (po.area[ip] + ro.area[ir] - inter)
        # sort by (ref, intersection, iou) so that the last entry of each ref is its best match
        order = np.lexsort((iou, inter, ir))
        last = np.r_[ir[order][1:] != ir[order][:-1], True]
        best[ir[order][last]] = iou[order][last]
    if return_labels:
        return best[keep], ro.ids[keep]
    return best[keep]


# ----------------------------------------------------------------------------- detection


def eligibility_pairs(pred_labels, ref_labels, *, max_distance=5.0, min_iou=0.3):
    """Pairs of predicted and reference objects that may be matched (the localisation rule).

    A predicted object and a reference object are eligible when the distance between their
    centroids is at most `max_distance` pixels **or** their mask IoU is at least `min_iou`
    (paper: 5 px = 0.35 mm, footnote 3: centroids; IoU 0.3).

    Parameters
    ----------
    pred_labels, ref_labels : (H, W) array of int or bool
        Label images (0 = background).
    max_distance : float, optional
        Largest centroid distance in pixels.
    min_iou : float, optional
        Smallest IoU.

    Returns
    -------
    pred_ids, ref_ids : ndarray of int
        The labels present in each image, ascending.
    pairs : (m, 2) ndarray of int
        Eligible (index into `pred_ids`, index into `ref_ids`) pairs, sorted.
    distance : (m,) ndarray of float
        Centroid distance of each pair.
    """
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")
    if not 0 < min_iou <= 1:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
    pred = _as_labels(pred_labels, "pred_labels")
    ref = _as_labels(ref_labels, "ref_labels")
    _check_same_shape(pred, ref)
    po, ro = _objects(pred), _objects(ref)
    return (po.ids, ro.ids) + _eligible(po, ro, max_distance, min_iou)


def _eligible(po, ro, max_distance, min_iou):
    codes = []
    if po.ids.size and ro.ids.size:
        close = cKDTree(po.centroid).sparse_distance_matrix(
            cKDTree(ro.centroid), max_distance, output_type="ndarray"
        )
        codes.append(close["i"].astype(np.int64) * ro.ids.size + close["j"])
        ip, ir, inter = _overlaps(po, ro)
        if inter.size:
            good = inter / (po.area[ip] + ro.area[ir] - inter) >= min_iou
            codes.append(ip[good] * ro.ids.size + ir[good])
    if not codes:
        return np.empty((0, 2), np.int64), np.empty(0)
    code = np.unique(np.concatenate(codes))
    pairs = np.stack([code // ro.ids.size, code % ro.ids.size], axis=1)
    distance = np.hypot(*(po.centroid[pairs[:, 0]] - ro.centroid[pairs[:, 1]]).T)
    return pairs, distance


class Matching(NamedTuple):
    """Result of :func:`match_detections`."""

    pairs: np.ndarray  #: (n_tp, 2) matched (pred label, ref label)
    n_tp: int  #: matched predictions = detected reference objects
    n_fp: int  #: predictions left unmatched
    n_fn: int  #: reference objects left unmatched


def match_detections(pred_labels, ref_labels, *, max_distance=5.0, min_iou=0.3):
    """One-to-one matching of predicted to reference objects with the paper's localisation rule.

    Parameters
    ----------
    pred_labels, ref_labels : (H, W) array of int or bool
        Predicted and reference label images (0 = background); a bool mask is split into
        4-connected objects. Point annotations take part like any object.
    max_distance : float, optional
        A pair is eligible if its centroids are at most this many pixels apart (5 px = 0.35 mm).
    min_iou : float, optional
        ... or if its mask IoU is at least this (0.3).

    Returns
    -------
    Matching
        ``pairs`` ((n_tp, 2) array of matched (pred label, ref label)), ``n_tp``, ``n_fp`` =
        predictions - TP, ``n_fn`` = references - TP.

    Notes
    -----
    Each prediction and each reference object is used at most once. Among all one-to-one
    assignments of eligible pairs the one with the most pairs is taken (a maximum bipartite
    matching, solved with :func:`scipy.optimize.linear_sum_assignment`); among those, the one
    with the smallest total centroid distance. The authors' scripts matched greedily in
    reference order, which depends on that order and can miss matches: if reference A is
    eligible with predictions 1 and 2 and reference B only with 1, greedy may give 1 to A and
    leave B undetected, whereas the optimal assignment detects both.

    Examples
    --------
    >>> ref = np.zeros((20, 20), int); ref[5, 5] = 1; ref[5, 12] = 2
    >>> pred = np.zeros((20, 20), int); pred[4:7, 6:9] = 1; pred[15, 15] = 2
    >>> m = match_detections(pred, ref)
    >>> m.pairs.tolist(), m.n_tp, m.n_fp, m.n_fn
    ([[1, 1]], 1, 1, 1)
    """
    ids_p, ids_r, pairs, distance = eligibility_pairs(
        pred_labels, ref_labels, max_distance=max_distance, min_iou=min_iou
    )
    matched = np.empty((0, 2), np.int64)
    if pairs.size:
        rows, ri = np.unique(pairs[:, 0], return_inverse=True)
        cols, ci = np.unique(pairs[:, 1], return_inverse=True)
        n = min(rows.size, cols.size)
        # eligible pairs cost -1 plus a distance tie-break whose sum over any matching is < 1,
        # so the number of pairs is maximised first and the total distance second
        cost = np.zeros((rows.size, cols.size))
        cost[ri, ci] = -1.0 + distance / (max_distance + distance.max() + 1.0) / (n + 1)
        r, c = linear_sum_assignment(cost)
        ok = cost[r, c] < 0
        matched = np.stack([ids_p[rows[r[ok]]], ids_r[cols[c[ok]]]], axis=1)
    n_tp = len(matched)
    return Matching(matched, n_tp, int(ids_p.size - n_tp), int(ids_r.size - n_tp))


# ----------------------------------------------------------------------------- FROC


class FROCCounts(NamedTuple):
    """Per-image counts of :func:`froc_counts`, one entry per threshold."""

    tp: np.ndarray  #: (n_thresholds,) matched predictions with score >= threshold
    fp: np.ndarray  #: (n_thresholds,) unmatched predictions with score >= threshold
    n_ref: int  #: reference objects in the image (TP + FN at every threshold)


def _incremental_matching(adj, n_ref):
    """Kuhn's augmenting-path algorithm, one left vertex at a time in the given order.

    Returns a bool array: whether adding vertex k (in order) increased the matching. After the
    first k vertices the matching is maximum for the subgraph induced by them (Kuhn's
    invariant: a vertex with no augmenting path when it is added never gets one later), so the
    cumulative sum is the maximum-matching size of every prefix.
    """
    match_ref = np.full(n_ref, -1, np.int64)
    match_left = np.full(len(adj), -1, np.int64)
    gained = np.zeros(len(adj), bool)
    for v, nbrs in enumerate(adj):
        if not len(nbrs):
            continue
        parent = {}
        queue = [v]
        found = -1
        head = 0
        while head < len(queue) and found < 0:
            u = queue[head]
            head += 1
            for r in adj[u]:
                if r in parent:
                    continue
                parent[r] = u
                if match_ref[r] < 0:
                    found = r
                    break
                queue.append(match_ref[r])
        if found < 0:
            continue
        gained[v] = True
        r = found
        while True:  # flip the alternating path back to v
            u = parent[r]
            prev = match_left[u]
            match_left[u] = r
            match_ref[r] = u
            if u == v:
                break
            r = prev
    return gained


def froc_counts(pred_labels, scores, ref_labels, thresholds, *, max_distance=5.0, min_iou=0.3):
    """TP and FP counts of one image at every score threshold, in one pass.

    Parameters
    ----------
    pred_labels : (H, W) array of int
        Candidate objects (0 = background), e.g. ``FusionResult.labels``.
    scores : (pred_labels.max(),) array_like of float
        ``scores[l - 1]`` is the score of label ``l``; the object is kept at threshold ``t``
        iff ``scores[l - 1] >= t`` (the convention of :func:`hdogreg.fusion.fuse`). Labels
        absent from the image are ignored.
    ref_labels : (H, W) array of int
        Reference objects (``Mammogram.mc_labels()``).
    thresholds : (n_thresholds,) array_like of float
        Use the same thresholds for every image, so that counts can be pooled
        (:func:`score_thresholds` makes such a grid).
    max_distance, min_iou : float, optional
        The localisation rule of :func:`match_detections`.

    Returns
    -------
    FROCCounts
        ``tp`` and ``fp`` (int arrays, one entry per threshold) and ``n_ref``.

    Notes
    -----
    Eligibility (centroid distance or IoU) does not depend on the threshold, so it is computed
    once. The candidates are then added in descending score order to a maximum bipartite
    matching grown by augmenting paths (Kuhn's algorithm); after each addition the matching is
    maximum for the candidates added so far, so ``tp`` at every threshold equals
    ``match_detections(...).n_tp`` on the candidates kept at that threshold, at the cost of a
    single matching. Both ``tp`` and ``fp`` are non-increasing in the threshold.
    """
    pred = _as_labels(pred_labels, "pred_labels")
    ref = _as_labels(ref_labels, "ref_labels")
    _check_same_shape(pred, ref)
    scores = np.asarray(scores, dtype=float).ravel()
    n_labels = int(pred.max()) if pred.size else 0
    if scores.size != n_labels:
        raise ValueError(
            f"scores must have one entry per label 1..{n_labels} (pred_labels.max()), got {scores.size}"
        )
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    thresholds = np.asarray(thresholds, dtype=float).ravel()
    po, ro = _objects(pred), _objects(ref)
    pairs, distance = _eligible(po, ro, max_distance, min_iou)
    s = scores[po.ids - 1] if po.ids.size else np.empty(0)
    order = np.lexsort((po.ids, -s))  # descending score, ties by label
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    adj = [[] for _ in range(order.size)]
    for k in np.lexsort((distance, pairs[:, 0])):  # neighbours nearest first
        adj[rank[pairs[k, 0]]].append(int(pairs[k, 1]))
    gained = _incremental_matching(adj, ro.ids.size)
    tp_prefix = np.r_[0, np.cumsum(gained)]
    n_kept = s.size - np.searchsorted(np.sort(s), thresholds, side="left")
    tp = tp_prefix[n_kept]
    return FROCCounts(tp.astype(np.int64), (n_kept - tp).astype(np.int64), int(ro.ids.size))


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


def wilcoxon_paired(a, b, *, alternative="two-sided"):
    """Paired Wilcoxon signed-rank test between two methods' per-image (or per-object) values.

    Parameters
    ----------
    a, b : (n,) array_like of float
        Values of the two methods on the same images (or reference objects), in the same order.
        Pairs where either value is NaN are dropped.
    alternative : {"two-sided", "greater", "less"}, optional
        Passed to :func:`scipy.stats.wilcoxon` ("greater": `a` tends to exceed `b`).

    Returns
    -------
    result
        The :func:`scipy.stats.wilcoxon` result with ``statistic`` and ``pvalue``.
    """
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} vs {b.size}")
    ok = ~(np.isnan(a) | np.isnan(b))
    if not ok.any():
        raise ValueError("no pairs without NaN")
    d = a[ok] - b[ok]
    if not d.any():
        raise ValueError("all paired differences are zero: the test is undefined")
    return stats.wilcoxon(a[ok], b[ok], alternative=alternative)
