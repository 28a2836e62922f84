"""Segmentation metrics: the paper's IoU per image and per object, and the paired Wilcoxon test."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._labels import _as_labels, _check_same_shape, _objects, _overlaps

__all__ = ["iou_per_image", "iou_per_object", "wilcoxon_paired"]


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
