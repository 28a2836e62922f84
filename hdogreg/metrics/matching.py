"""Detections against the reference: the localisation rule, one-to-one matching, FROC counts per image.

A predicted object detects a reference object when their centroids are at most 5 px apart or
their IoU is at least 0.3 (the paper); :func:`froc_counts` counts the TPs and FPs of one image
at every threshold of a sweep in one pass. The 5 px are INbreast's (0.07 mm): 0.35 mm, and
:func:`localisation_distance` gives them in the pixels of another grid.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from ..spacing import NATIVE_SPACING, check_pixel_spacing
from ._labels import _as_labels, _check_same_shape, _objects, _overlaps

__all__ = ["MAX_DISTANCE", "localisation_distance", "eligibility_pairs", "match_detections", "froc_counts",
           "Matching", "FROCCounts"]

#: Centroid distance of the localisation rule in pixels of the paper's 0.07 mm grid (0.35 mm).
MAX_DISTANCE = 5.0


def localisation_distance(pixel_spacing, native_spacing=NATIVE_SPACING):
    """Return the localisation rule's centroid distance (0.35 mm) in pixels of `pixel_spacing` mm.

    The paper states the rule in pixels of INbreast (5 px at 0.07 mm); images on another grid
    (e.g. a detector with 0.1 mm pixels) must be matched at the same physical distance.

    Parameters
    ----------
    pixel_spacing : float
        mm per pixel of the label images being matched (checked,
        :func:`hdogreg.spacing.check_pixel_spacing`).
    native_spacing : float, optional
        The grid the rule was stated on (0.07 mm).

    Returns
    -------
    float
        ``MAX_DISTANCE * native_spacing / pixel_spacing``; exactly :data:`MAX_DISTANCE` on the
        native grid.

    Examples
    --------
    >>> localisation_distance(0.07), localisation_distance(0.14), localisation_distance(0.05)
    (5.0, 2.5, 7.000000000000001)
    """
    pixel_spacing = check_pixel_spacing(pixel_spacing)
    return MAX_DISTANCE * (float(native_spacing) / pixel_spacing)


def eligibility_pairs(pred_labels, ref_labels, *, max_distance=MAX_DISTANCE, min_iou=0.3):
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


def match_detections(pred_labels, ref_labels, *, max_distance=MAX_DISTANCE, min_iou=0.3):
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


def froc_counts(pred_labels, scores, ref_labels, thresholds, *, max_distance=MAX_DISTANCE, min_iou=0.3):
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
