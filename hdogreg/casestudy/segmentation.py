"""Segmentation of the case-study ROIs by our method, its two components and the baseline.

:func:`roi_segmentations` segments one ROI by several of :data:`SEGMENTATION_METHODS` at once,
running the HDoG and the network once each; :func:`segment_roi` by one method.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SEGMENTATION_METHODS", "roi_proximity", "roi_segmentations", "segment_roi"]

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
                      fpn_threshold=None, ciecholewski_kwargs=None, p_thrs=()):
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
        HDoG parameters (``hessian_rule`` too), ``p_thr``, ``o_thr``, ``fill_holes``, inference
        batch size; default
        the paper's values (``SegmentParams()``). ``breast_erosion`` is not used: the whole
        ROI is breast tissue.
    fpn_threshold : float, optional
        Threshold of the map for ``"fpn"``; default ``params.p_thr``.
    ciecholewski_kwargs : dict, optional
        Keyword arguments of the baseline (default: its published parameters).
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

        hdog = hdog_segment(roi, **params.hdog_kwargs(), workers=1)
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
                ciecholewski_kwargs=None):
    """Label image of one ROI segmented by one method (see :func:`roi_segmentations`)."""
    (method,) = _check_methods((method,))
    return roi_segmentations(roi, (method,), model=model, params=params,
                             fpn_threshold=fpn_threshold,
                             ciecholewski_kwargs=ciecholewski_kwargs)[method]
