"""Output generation: keep the HDoG objects that overlap the thresholded proximity map.

The upper branch of the paper's Fig. 1 (:func:`hdogreg.hdog.hdog_segment`) proposes many
bright candidate objects; the lower branch (the regression network) predicts a proximity map
whose thresholded region ``pmap >= p_thr`` marks where MCs are likely. An HDoG object is
retained if more than the fraction ``o_thr`` of its pixels lie in that region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ._validation import check_unit_interval

__all__ = ["FusionResult", "fuse", "object_scores", "DEFAULT_P_THR"]

#: Default map threshold ``p_thr``: the authors' pipeline used 10**-3.5, the edge of the proximity
#: support. The evaluation pages choose ``p_thr`` on the validation set; a checkpoint's settings
#: may carry that choice (``settings["p_thr"]``, used by the command line). The training's
#: validation metric (:func:`hdogreg.training.iou_per_patch`) thresholds at it too.
DEFAULT_P_THR = 10 ** -3.5


@dataclass
class FusionResult:
    """Result of :func:`fuse`.

    Attributes
    ----------
    mask : (H, W) ndarray of bool
        Pixels of the retained objects (holes filled if requested).
    labels : (H, W) ndarray of int32
        Retained objects labelled ``1..m`` in the order of their HDoG labels.
    scores : (m,) ndarray of float64
        ``scores[j - 1]`` is the score of object ``j`` of ``labels``: the largest ``p_thr``
        at which the object is still retained (see :func:`object_scores`).
    source_labels : (m,) ndarray of int64
        HDoG label of each retained object (``source_labels[j - 1]`` for object ``j``).
    """

    mask: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    source_labels: np.ndarray

    @property
    def n_objects(self):
        """Number of retained objects."""
        return len(self.scores)


def _max_kept_count(n, o_thr):
    """Largest integer c in [0, n] with ``c / n <= o_thr`` (as evaluated in float64)."""
    n = np.asarray(n, dtype=np.int64)
    nf = n.astype(np.float64)
    k = np.floor(o_thr * nf).astype(np.int64)
    k = np.clip(k, 0, n)
    # Make k agree exactly with the float comparison c / n > o_thr used to define retention.
    up = (k < n) & ((k + 1) / np.maximum(nf, 1) <= o_thr)
    k = k + up
    down = (k > 0) & (k / np.maximum(nf, 1) > o_thr)
    return k - down


def object_scores(labels, pmap, o_thr=0.3):
    r"""Per-object retention score: the largest ``p_thr`` at which each object is retained.

    Parameters
    ----------
    labels : (H, W) array_like of int
        Candidate objects (0 = background), e.g. ``HDoGResult.labels``.
    pmap : (H, W) array_like of float
        Proximity map predicted by the regression network.
    o_thr : float, optional
        Overlap threshold in [0, 1]; the paper's choice is 0.3.

    Returns
    -------
    scores : (labels.max() + 1,) ndarray of float64
        ``scores[i]`` for label ``i``; ``-inf`` for labels that are absent or can never be
        retained (``o_thr = 1``). ``scores[0]`` (background) is ``-inf``.

    Notes
    -----
    Object :math:`i` with :math:`n` pixels is retained at threshold :math:`p` iff

    .. math:: c_i(p) / n > o_{thr}, \qquad c_i(p) = |\{x \in i : \hat P(x) \ge p\}|.

    Sort the object's map values in descending order, :math:`v_0 \ge v_1 \ge \dots`, and
    let :math:`k` be the largest integer with :math:`k / n \le o_{thr}` (that is
    :math:`\lfloor o_{thr} n \rfloor`). Because :math:`c_i(p)` is an integer, the
    criterion is :math:`c_i(p) \ge k + 1`, and :math:`c_i(p) \ge k + 1` holds iff at least
    :math:`k + 1` values are :math:`\ge p`, i.e. iff :math:`v_k \ge p`. Hence with
    :math:`s_i = v_k`,

    .. math:: \text{object } i \text{ retained at } p \iff s_i \ge p,

    exactly, for every :math:`p`: one pass gives the whole FROC sweep over ``p_thr``. If
    :math:`k = n` (only for :math:`o_{thr} = 1`) the object is never retained and
    :math:`s_i = -\infty`.

    Examples
    --------
    >>> lab = np.array([[1, 1, 1, 1, 0, 2]])
    >>> pm = np.array([[0.9, 0.5, 0.2, 0.1, 0.0, 0.4]])
    >>> object_scores(lab, pm, o_thr=0.3)     # object 1: v = .9 .5 .2 .1, k = 1
    array([-inf,  0.5,  0.4])
    """
    check_unit_interval("o_thr", o_thr)
    labels = np.asarray(labels)
    pmap = np.asarray(pmap)
    if labels.shape != pmap.shape:
        raise ValueError(f"labels shape {labels.shape} differs from pmap shape {pmap.shape}")
    if labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be an integer label image, got dtype {labels.dtype}")
    n_labels = int(labels.max(initial=0)) + 1
    if labels.min(initial=0) < 0:
        raise ValueError("labels must be >= 0")
    scores = np.full(n_labels, -np.inf)
    fg = labels > 0
    lab = labels[fg]
    val = pmap[fg]
    if val.dtype.kind != "f" or val.dtype.itemsize > 8:
        val = val.astype(np.float64)
    if not np.isfinite(val).all():
        raise ValueError("pmap contains NaN or infinite values inside the objects")
    if lab.size == 0:
        return scores
    # By label, then descending value (sorting in the map's own precision is exact: every
    # float32 value is a float64 value).
    order = np.lexsort((-val, lab))
    lab, val = lab[order].astype(np.int64), val[order].astype(np.float64)
    counts = np.bincount(lab, minlength=n_labels)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    present = np.flatnonzero(counts)
    k = _max_kept_count(counts[present], o_thr)
    ok = k < counts[present]
    scores[present[ok]] = val[first[present[ok]] + k[ok]]
    return scores


def _fill_object_holes(labels):
    """Fill the holes enclosed by a single object with that object's label.

    A hole is a 4-connected background region not connected to the image border (as in
    :func:`scipy.ndimage.binary_fill_holes`). It is filled only if every object pixel
    bordering it belongs to the same object, so that filling never joins two objects.
    """
    mask = labels > 0
    background, n_bg = ndi.label(~mask)          # 4-connected background regions
    if n_bg == 0:
        return labels
    is_hole = np.ones(n_bg + 1, bool)
    is_hole[0] = False
    for edge in (background[0], background[-1], background[:, 0], background[:, -1]):
        is_hole[edge] = False
    if not is_hole.any():
        return labels
    rr, cc = np.nonzero(is_hole[background])
    hole_id = background[rr, cc]
    # A hole never touches the image border, so its 4 neighbours are inside the image.
    lo = np.full(n_bg + 1, np.iinfo(np.int64).max)
    hi = np.zeros(n_bg + 1, np.int64)
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nb = labels[rr + dr, cc + dc].astype(np.int64)
        on_object = nb > 0
        np.maximum.at(hi, hole_id[on_object], nb[on_object])
        np.minimum.at(lo, hole_id[on_object], nb[on_object])
    fill = np.where(lo == hi, hi, 0)
    out = labels.copy()
    out[rr, cc] = fill[hole_id]
    return out


def fuse(hdog_labels, pmap, p_thr, o_thr=0.3, *, fill_holes=True):
    """Retain HDoG objects overlapping the thresholded proximity map by more than ``o_thr``.

    Parameters
    ----------
    hdog_labels : (H, W) array_like of int
        Candidate objects of the blob segmentation (``HDoGResult.labels``), 0 = background.
    pmap : (H, W) array_like of float
        Predicted proximity map.
    p_thr : float
        Threshold of the map: the MC region is ``pmap >= p_thr``. Pass ``-numpy.inf`` to keep
        every candidate that can be kept (with its score), e.g. for an FROC sweep.
    o_thr : float, optional
        Overlap threshold in [0, 1]: an object is retained iff
        ``|object & (pmap >= p_thr)| / |object| > o_thr``. Paper: 0.3.
    fill_holes : bool, optional
        Fill the holes of the retained objects (as the authors' code did). A hole enclosed by
        one object takes its label; a hole bordered by several objects is left open, so that
        objects are never merged and ``labels`` stays consistent with ``mask``.

    Returns
    -------
    FusionResult
        ``mask``, ``labels`` (1..m), ``scores`` (see :func:`object_scores`; object ``j`` is
        retained at any threshold ``p <= scores[j - 1]``) and ``source_labels``.

    References
    ----------
    .. [1] Marasinou C. et al. (2023), section "Output Generation".

    Examples
    --------
    >>> lab = np.array([[1, 1, 1, 1, 0, 2]])
    >>> pm = np.array([[0.9, 0.5, 0.2, 0.1, 0.0, 0.4]])
    >>> res = fuse(lab, pm, p_thr=0.45)
    >>> res.labels, res.scores
    (array([[1, 1, 1, 1, 0, 0]], dtype=int32), array([0.5]))
    """
    if np.isnan(p_thr):
        raise ValueError(f"p_thr must be a number, got {p_thr}")
    scores_all = object_scores(hdog_labels, pmap, o_thr)
    labels = np.asarray(hdog_labels)
    # -inf marks absent labels and objects that can never be retained (also at p_thr=-inf).
    kept = np.flatnonzero((scores_all >= p_thr) & (scores_all > -np.inf))
    lut = np.zeros(len(scores_all), np.int32)
    lut[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
    out = lut[labels]
    if fill_holes and len(kept):
        out = _fill_object_holes(out)
    return FusionResult(mask=out > 0, labels=out, scores=scores_all[kept],
                        source_labels=kept.astype(np.int64))
