"""Morphological MC segmentation after Ciecholewski (2017), the segmentation baseline.

Two stages, as the paper's "Comparison Methods" section describes them:

1. *Detection.* A morphological pyramid of closing-opening (CO) filtered, downsampled images;
   the differences between the image and each (re-expanded) pyramid level keep small bright
   details (a top-hat at the scale of that level). The thresholded differences mark MC
   locations among the extended maxima of the image, which are recovered whole by
   morphological reconstruction.
2. *Shapes.* A marker-controlled watershed of the morphological gradient of the CO-filtered
   image, with the detected regions as internal markers and the watershed lines of the
   (inverted) CO image as the external (background) marker.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import closing, local_maxima, local_minima, opening, reconstruction
from skimage.segmentation import relabel_sequential, watershed
from skimage.transform import pyramid_reduce, resize

from .._utils import check_image

__all__ = ["ciecholewski_segment", "extended_maxima"]

_EIGHT = np.ones((3, 3), bool)


def _close_open(image, footprint):
    """Apply a closing, then an opening: remove small dark, then small bright, noise."""
    return opening(closing(image, footprint), footprint)


def _drop_small(mask, min_area):
    """Remove 4-connected pieces of `mask` with fewer than `min_area` pixels."""
    lab, n = ndi.label(mask)
    area = np.bincount(lab.ravel(), minlength=n + 1)
    area[0] = 0
    return area[lab] >= max(min_area, 1)


def _pyramid_details(image, levels, footprint, detail_threshold, min_detail_area):
    """Union over pyramid levels of the thresholded differences image - level (top-hat like)."""
    details = np.zeros(image.shape, bool)
    level = image
    for _ in range(levels):
        level = pyramid_reduce(_close_open(level, footprint), downscale=2, channel_axis=None)
        expanded = resize(level, image.shape, order=1, mode="edge", anti_aliasing=False)
        diff = image - np.minimum(expanded, image)  # >= 0: bright detail removed at this level
        details |= _drop_small(diff > detail_threshold, min_detail_area)
    return details


def _reconstruct(marker, mask):
    """Reconstruct `mask` from `marker` by binary dilation (8-connected).

    The result is the union of the connected components of `mask` that `marker` touches.
    """
    lab, _ = ndi.label(mask, structure=_EIGHT)
    hit = np.unique(lab[marker & mask])
    return np.isin(lab, hit[hit > 0])


def extended_maxima(image, h):
    r"""Return the extended maxima: the regional maxima of the h-maxima transform (MATLAB ``imextendedmax``).

    The h-maxima transform :math:`HMAX_h(f) = R^\delta_f(f - h)` (reconstruction by dilation of
    :math:`f - h` under :math:`f`) cuts every peak of dynamic < `h` and lowers the others to a
    plateau `h` below their top; its regional maxima are those plateaus, i.e. the pixels within
    `h` of the top of every peak that rises at least `h` above its surroundings. (Unlike
    ``skimage.morphology.h_maxima``, which returns only the tops themselves.)

    Parameters
    ----------
    image : (H, W) ndarray of float
    h : float
        Minimal dynamic of a maximum, in image units.

    Returns
    -------
    (H, W) ndarray of bool
    """
    f = np.asarray(image, np.float64)
    hmax = reconstruction(f - h, f, method="dilation")
    if hmax.max() - hmax.min() <= 0:  # flat: no maximum of dynamic >= h
        return np.zeros(f.shape, bool)
    return local_maxima(hmax, connectivity=2, allow_borders=True).astype(bool)


def ciecholewski_segment(image, *, h=5 / 255, detail_threshold=5 / 255, levels=2, footprint_size=3,
                         max_area=5000, min_detail_area=3, breast_mask=None):
    r"""Segment microcalcifications with the morphological method of Ciecholewski (2017).

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram, float in [0, 1] (the package's intensity scale); bright = dense.
    h : float, optional
        Height of the extended maxima (h-maxima) on the [0, 1] scale. The authors' code used
        h = 5 on an 8-bit scale, i.e. 5/255.
    detail_threshold : float, optional
        Threshold of the pyramid differences on the [0, 1] scale. The authors' code used 10 of
        256 grey levels; on the package's full-bit-depth scale that misses MCs of contrast
        ~0.05 (their peak difference is ~0.04 at the coarsest level and exceeds 10/256 on
        fewer than `min_detail_area` pixels), so the default is 5/255, equal to `h`.
    levels : int, optional
        Number of pyramid levels below the image (authors: 2, i.e. downscaling by 2 and 4).
    footprint_size : int, optional
        Side of the square closing-opening footprint (authors: 3).
    max_area : int, optional
        Objects larger than this many pixels are discarded (authors: 5000).
    min_detail_area : int, optional
        Connected pieces of a thresholded difference image smaller than this are noise.
    breast_mask : (H, W) array of bool, optional
        Objects are kept only inside it, and it bounds the watershed (e.g.
        ``hdogreg.breast.breast_mask(image)``). Default: the whole image.

    Returns
    -------
    labels : (H, W) ndarray of int32
        Segmented MCs labelled 1..n (0 = background).

    Notes
    -----
    Stage 1 (locations). With :math:`\gamma\phi` the closing-opening by a
    `footprint_size` square and :math:`R` the reduction by 2 (Gaussian smoothing + subsampling,
    ``skimage.transform.pyramid_reduce``), the pyramid is
    :math:`g_0 = f, g_l = R(\gamma\phi(g_{l-1}))`. With :math:`E_l` the expansion of level
    :math:`l` back to the image grid (bilinear), the differences
    :math:`d_l = f - \min(E_l(g_l), f)` contain the bright details smaller than the scale of
    the level. The MC locations are the extended maxima of :math:`f` (regional maxima of the
    h-maxima transform, height `h`) that are touched by some :math:`d_l > T`; the
    reconstruction by dilation recovers each such maximum whole.

    Stage 2 (shapes). The gradient is the morphological gradient (3x3 dilation minus
    erosion) of :math:`c = \gamma\phi(f)`. The external marker is the set of watershed lines
    of :math:`-c` flooded from its regional minima (the valleys between bright structures)
    plus the image border and everything outside the breast; the internal markers are the
    MC locations minus a 3x3 dilation of the external marker. The watershed of the gradient
    from these markers (markers impose the minima) gives one region per internal marker.

    Differences from the authors' code: it ran on 500x500 tiles of 8-bit-like thresholds and
    removed the background with a fixed grey level; here the whole image is processed at full
    bit depth and an optional breast mask replaces the grey-level cut.

    References
    ----------
    .. [1] Ciecholewski, M. "Microcalcification Segmentation from Mammograms: A Morphological
           Approach." J Digit Imaging 30(2):172-184, 2017. doi:10.1007/s10278-016-9923-8

    Examples
    --------
    >>> rr, cc = np.mgrid[:64, :64]
    >>> img = 0.3 + 0.08 * np.exp(-((rr - 32) ** 2 + (cc - 32) ** 2) / (2 * 2.0**2))
    >>> lab = ciecholewski_segment(img)
    >>> int(lab.max()), bool(lab[32, 32])
    (1, True)
    """
    f = check_image(image)
    if h <= 0:
        raise ValueError(f"h must be > 0, got {h}")
    if detail_threshold < 0:
        raise ValueError(f"detail_threshold must be >= 0, got {detail_threshold}")
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    if footprint_size < 1:
        raise ValueError(f"footprint_size must be >= 1, got {footprint_size}")
    if breast_mask is not None:
        breast_mask = np.asarray(breast_mask, bool)
        if breast_mask.shape != f.shape:
            raise ValueError(f"breast_mask shape {breast_mask.shape} differs from image shape {f.shape}")
    f = f.astype(np.float64, copy=False)
    footprint = np.ones((footprint_size, footprint_size), bool)

    # ---- stage 1: MC locations
    details = _pyramid_details(f, levels, footprint, detail_threshold, min_detail_area)
    if breast_mask is not None:
        details &= breast_mask
    if not details.any():
        return np.zeros(f.shape, np.int32)
    emax = extended_maxima(f, h)
    located = _reconstruct(details, emax)
    if not located.any():
        return np.zeros(f.shape, np.int32)

    # ---- stage 2: watershed with internal and external markers
    c = _close_open(f, footprint)
    gradient = ndi.grey_dilation(c, footprint=_EIGHT) - ndi.grey_erosion(c, footprint=_EIGHT)
    basins = ndi.label(local_minima(-c, connectivity=2), structure=_EIGHT)[0]
    external = watershed(-c, basins, watershed_line=True) == 0
    external[[0, -1], :] = True
    external[:, [0, -1]] = True
    if breast_mask is not None:
        external |= ~breast_mask
    internal = located & ~ndi.binary_dilation(external, structure=_EIGHT)
    markers, n = ndi.label(internal, structure=_EIGHT)
    if n == 0:
        return np.zeros(f.shape, np.int32)
    markers[external] = n + 1
    regions = watershed(gradient, markers)
    regions[regions == n + 1] = 0
    if breast_mask is not None:
        regions[~breast_mask] = 0

    # ---- size filter
    area = np.bincount(regions.ravel(), minlength=n + 1)
    too_big = np.flatnonzero(area > max_area)
    regions[np.isin(regions, too_big[too_big > 0])] = 0
    return relabel_sequential(regions)[0].astype(np.int32)
