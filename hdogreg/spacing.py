"""Pixel spacing: plausibility checks and resampling to the method's native spacing.

The scales of the method are fixed in pixels: the HDoG scales (``sigma_min`` = 1.18 px to
``sigma_max`` = 3.1 px), the 45-px breast erosion and the receptive field of the regression
network are those of INbreast, 0.07 mm per pixel (:data:`NATIVE_SPACING`). An image at another
spacing is therefore resampled to 0.07 mm (:func:`to_native`), segmented there, and its label
image mapped back onto the input grid (:func:`labels_to_input`), so that coordinates and mm
measures are reported in the input's own pixels (:func:`hdogreg.pipeline.segment_mammogram`).

Grids are aligned as in :func:`skimage.transform.resize`: the image's outer edges coincide, so
pixel ``i`` of an axis of ``n`` pixels has its centre at ``(i + 0.5) / n`` of the axis length
on both grids. A position ``c`` (in pixels) on a grid of ``n`` pixels is at
``(c + 0.5) * m / n - 0.5`` on a grid of ``m`` pixels.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["NATIVE_SPACING", "PLAUSIBLE_SPACING", "check_pixel_spacing", "is_native",
           "native_shape", "to_native", "nearest_resize", "labels_to_input", "rescale_points"]

#: mm per pixel at which the method's scales are defined (INbreast, the paper).
NATIVE_SPACING = 0.07

#: Range (mm per pixel) accepted by :func:`check_pixel_spacing`. Mammography detectors and
#: digitised films lie between about 0.025 and 0.2 mm; outside 0.02-0.5 mm a value is almost
#: certainly in the wrong unit (70 for 70 µm, 7e-05 for metres).
PLAUSIBLE_SPACING = (0.02, 0.5)

#: Spacings this close (mm) to the native one are not resampled at all.
_NATIVE_ATOL = 1e-6


def check_pixel_spacing(spacing, *, name="pixel_spacing"):
    """Return `spacing` as a float after checking it is a plausible mm-per-pixel value.

    Parameters
    ----------
    spacing : float
        Pixel spacing in mm per pixel.
    name : str, optional
        What to call the value in error messages: a parameter (``"--pixel-spacing"``) or a
        file and a header field (``"a.dcm: PixelSpacing"``). ``""`` leaves the name out.

    Returns
    -------
    spacing : float

    Raises
    ------
    ValueError
        If `spacing` is not a number, not finite, not positive, or outside
        :data:`PLAUSIBLE_SPACING` (0.02-0.5 mm). The message says which unit mix-up the value
        suggests (e.g. 70 is 70 µm = 0.07 mm).

    Examples
    --------
    >>> check_pixel_spacing(0.1)
    0.1
    >>> check_pixel_spacing(70, name="--pixel-spacing")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --pixel-spacing = 70 mm per pixel is implausible ... a µm/mm mix-up? 70 µm = 0.07 mm
    """
    prefix = f"{name} " if name else ""
    if isinstance(spacing, bool) or not isinstance(spacing, (numbers.Real, np.floating,
                                                              np.integer)):
        try:
            value = float(spacing)
        except (TypeError, ValueError):
            raise ValueError(f"{prefix}must be a number of mm per pixel, got {spacing!r}") from None
    else:
        value = float(spacing)
    if not math.isfinite(value):
        raise ValueError(f"{prefix}must be a finite number of mm per pixel, got {value}")
    if value <= 0:
        raise ValueError(f"{prefix}must be > 0 mm per pixel, got {value:g}")
    lo, hi = PLAUSIBLE_SPACING
    if not lo <= value <= hi:
        what = f"{name} = {value:g}" if name else f"{value:g}"
        msg = (f"{what} mm per pixel is implausible for a mammogram (expected {lo:g}-{hi:g} mm): "
               "a µm/mm mix-up?")
        if value > hi and lo <= value / 1000 <= hi:
            msg += f" {value:g} µm = {value / 1000:g} mm"
        elif value < lo and lo <= value * 1000 <= hi:
            msg += f" {value:g} m = {value * 1000:g} mm"
        elif value < lo and lo <= value * 10 <= hi:
            msg += f" {value:g} cm = {value * 10:g} mm"
        else:
            msg += " The value must be in mm per pixel (INbreast: 0.07 mm = 70 µm)"
        raise ValueError(msg)
    return value


def is_native(spacing, native=NATIVE_SPACING):
    """Return True if `spacing` equals `native` within 1e-6 mm (no resampling is done then).

    Examples
    --------
    >>> is_native(0.07), is_native(0.0700000004), is_native(0.0701)
    (True, True, False)
    """
    return abs(float(spacing) - float(native)) <= _NATIVE_ATOL


def native_shape(shape, spacing, native=NATIVE_SPACING):
    """Shape of an image of `shape` at `spacing` once resampled to `native` mm per pixel.

    Each side keeps its physical length: ``round(n * spacing / native)`` pixels (at least 1).

    Examples
    --------
    >>> native_shape((100, 81), 0.14)
    (200, 162)
    >>> native_shape((100, 81), 0.05)
    (71, 58)
    """
    if is_native(spacing, native):
        return tuple(int(n) for n in shape)
    factor = float(spacing) / float(native)
    return tuple(max(1, int(math.floor(n * factor + 0.5))) for n in shape)


def to_native(image, spacing, native=NATIVE_SPACING, *, order=3):
    """Resample an image from `spacing` to `native` mm per pixel (anti-aliased).

    Parameters
    ----------
    image : (H, W) array_like
        The mammogram.
    spacing : float
        Its mm per pixel (checked with :func:`check_pixel_spacing`).
    native : float, optional
        Target mm per pixel; default the method's 0.07 mm.
    order : int, optional
        Spline order of the interpolation when the image is enlarged (``spacing > native``,
        :func:`skimage.transform.resize`). Default 3 (cubic): it keeps small bright MCs
        sharper than linear interpolation, which smooths their peaks below the DoG
        threshold more often.

    Returns
    -------
    out : (h, w) ndarray
        ``(h, w) = native_shape((H, W), spacing, native)``. If `spacing` equals `native` within
        1e-6 mm, `image` itself (as a float array, :func:`hdogreg._utils.check_image`: a float32
        array is returned unchanged, not copied). Otherwise float32 for float32 input (float64
        for float64).

    Notes
    -----
    *Shrinking* (``spacing < native``, e.g. 0.05 mm): each output pixel is the mean of the
    input over its footprint, input pixels weighted by their overlap with it (area
    averaging, as a detector with the larger pixels would integrate; an integer ratio gives
    the ``n x n`` block mean). This box prefilter is the anti-aliasing. (The Gaussian
    prefilter of :func:`skimage.transform.resize`, sigma ``(native / spacing - 1) / 2``, is
    0.2 px at 0.05 -> 0.07 mm and, sampled on the pixel grid, hardly filters at all.)

    *Enlarging* (``spacing > native``, e.g. 0.1 or 0.14 mm): spline interpolation of
    `order`, clipped to the input's range (spline overshoot); nothing to alias.

    The image's outer edges are kept aligned (as in :func:`skimage.transform.resize`), so
    the effective output spacing is ``spacing * H / h`` (within half a pixel over the image
    of ``native``).

    Examples
    --------
    >>> img = np.zeros((10, 12), np.float32)
    >>> to_native(img, 0.07) is img
    True
    >>> to_native(img, 0.14).shape, to_native(img, 0.14).dtype
    ((20, 24), dtype('float32'))
    >>> to_native(np.arange(8.).reshape(2, 4), 0.035).tolist()     # 2 x 2 block means
    [[2.5, 4.5]]
    """
    from hdogreg._utils import check_image

    spacing = check_pixel_spacing(spacing, name="spacing")
    native = check_pixel_spacing(native, name="native")
    image = check_image(image)
    if is_native(spacing, native):
        return image
    shape = native_shape(image.shape, spacing, native)
    if spacing < native:
        rows = _area_weights(shape[0], image.shape[0])
        cols = _area_weights(shape[1], image.shape[1])
        out = (cols @ (rows @ image.astype(np.float64)).T).T
        return np.ascontiguousarray(out, dtype=image.dtype)
    from skimage.transform import resize

    out = resize(image, shape, order=order, mode="reflect", anti_aliasing=False,
                 preserve_range=True)
    out = out.astype(image.dtype, copy=False)
    return np.clip(out, image.min(), image.max(), out=out)


def _area_weights(n_out, n_in):
    """Sparse (n_out, n_in) matrix: output pixel = overlap-weighted mean of the input pixels.

    Output pixel ``j`` covers ``[j f, (j + 1) f)`` in input pixels, ``f = n_in / n_out >= 1``.
    """
    from scipy import sparse

    f = n_in / n_out
    lo = np.arange(n_out) * f
    hi = np.minimum(lo + f, n_in)
    first = np.floor(lo).astype(np.intp)
    width = int(np.max(np.ceil(hi).astype(np.intp) - first))
    cols = first[:, None] + np.arange(width)[None, :]
    overlap = np.minimum(cols + 1, hi[:, None]) - np.maximum(cols, lo[:, None])
    keep = (cols < n_in) & (overlap > 0)
    rows = np.broadcast_to(np.arange(n_out)[:, None], cols.shape)
    weights = sparse.csr_matrix((overlap[keep], (rows[keep], cols[keep])), shape=(n_out, n_in))
    return sparse.diags(1 / np.asarray(weights.sum(axis=1)).ravel()) @ weights


def _nearest_index(n_out, n_in):
    """Index on a grid of `n_in` pixels of the pixel containing each of `n_out` centres."""
    idx = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
    return np.minimum(idx, n_in - 1)


def nearest_resize(array, shape):
    """Nearest-neighbour resampling of a mask or label image to `shape` (values preserved).

    Each output pixel takes the value of the input pixel containing its centre (grids aligned
    as in :func:`skimage.transform.resize`). Small objects can vanish when the image shrinks;
    :func:`labels_to_input` keeps them.

    Parameters
    ----------
    array : (H, W) array_like
    shape : (int, int)

    Returns
    -------
    out : ndarray of shape `shape`, same dtype as `array`

    Examples
    --------
    >>> nearest_resize(np.array([[1, 2], [3, 4]]), (2, 4)).tolist()
    [[1, 1, 2, 2], [3, 3, 4, 4]]
    >>> nearest_resize(np.arange(6).reshape(1, 6), (1, 3)).tolist()
    [[1, 3, 5]]
    """
    array = np.asarray(array)
    if array.ndim != 2 or min(array.shape) < 1:
        raise ValueError(f"expected a non-empty 2-D array, got shape {array.shape}")
    rows, cols = (int(n) for n in shape)
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive, got {tuple(shape)}")
    if (rows, cols) == array.shape:
        return array.copy()
    return array[np.ix_(_nearest_index(rows, array.shape[0]), _nearest_index(cols, array.shape[1]))]


def labels_to_input(labels, input_shape):
    """Map a label image from the native grid back onto the input grid.

    Nearest-neighbour (:func:`nearest_resize`), so label ids are preserved (no new ids, no
    blending). An object that no input-pixel centre falls on (possible only when the input
    grid is coarser than the native one, e.g. 0.14 mm from 0.07 mm) is given the one input
    pixel that holds most of its native pixels among those still background (ties: the
    first in raster order), so every object keeps at least one pixel if possible.

    Parameters
    ----------
    labels : (h, w) array_like of int
        Label image on the native grid (0 = background), e.g. ``FusionResult.labels``.
    input_shape : (int, int)
        Shape of the input image.

    Returns
    -------
    out : ndarray of `input_shape`, dtype of `labels`

    Notes
    -----
    An object smaller than one input pixel becomes one input pixel: its area on the input
    grid (and so ``area_mm2`` of :func:`hdogreg.pipeline.mc_table`) is then that pixel's,
    larger than its native area. If every input pixel it touches already belongs to other
    objects (objects closer together than an input pixel), the object is absent from the
    output. Missing objects are restored in label order, so the result is deterministic. Its
    centroid stays within one input pixel of the native centroid mapped onto the input grid.

    Examples
    --------
    >>> lab = np.zeros((6, 6), np.int32); lab[0, 0] = 1; lab[2:6, 2:6] = 2
    >>> labels_to_input(lab, (3, 3)).tolist()      # nearest samples rows/cols 1, 3, 5
    [[1, 0, 0], [0, 2, 2], [0, 2, 2]]
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be an integer label image, got dtype {labels.dtype}")
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D image, got shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError("labels must be >= 0")
    out = nearest_resize(labels, input_shape)
    H, W = out.shape
    h, w = labels.shape
    if H >= h and W >= w:           # every native pixel is sampled: no object can vanish
        return out
    n = int(labels.max(initial=0))
    if n == 0:
        return out
    existed = np.bincount(labels.ravel().astype(np.intp), minlength=n + 1) > 0
    kept = np.bincount(out.ravel().astype(np.intp), minlength=n + 1) > 0
    missing = np.flatnonzero(existed & ~kept)
    missing = missing[missing > 0]
    if missing.size == 0:
        return out
    rr, cc = np.nonzero(np.isin(labels, missing))
    lab = labels[rr, cc].astype(np.int64)
    # Input pixel containing each native pixel centre.
    ir = np.minimum(np.floor((rr + 0.5) * (H / h)).astype(np.int64), H - 1)
    ic = np.minimum(np.floor((cc + 0.5) * (W / w)).astype(np.int64), W - 1)
    flat = ir * W + ic
    # Per (object, input pixel): how many native pixels; sorted by object, count desc, pixel.
    keys, counts = np.unique(lab * (H * W) + flat, return_counts=True)
    obj, pix = keys // (H * W), keys % (H * W)
    order = np.lexsort((pix, -counts, obj))
    obj, pix = obj[order], pix[order]
    starts = np.flatnonzero(np.r_[True, obj[1:] != obj[:-1]])
    ends = np.r_[starts[1:], obj.size]
    flat_out = out.reshape(-1)
    for s, e in zip(starts, ends):
        free = pix[s:e][flat_out[pix[s:e]] == 0]
        if free.size:
            flat_out[free[0]] = obj[s]
    return out


def rescale_points(points, from_shape, to_shape):
    """Map ``(row, col)`` positions from one grid of an image onto another (edges aligned).

    The convention of the module: position ``c`` on an axis of ``n`` pixels is at
    ``(c + 0.5) * m / n - 0.5`` on the same axis resampled to ``m`` pixels.

    Parameters
    ----------
    points : (..., 2) array_like
        Rows and columns (pixels, sub-pixel allowed) on the grid of `from_shape`.
    from_shape, to_shape : (int, int)
        The two grids' shapes.

    Returns
    -------
    ndarray of float, the shape of `points`

    Examples
    --------
    >>> rescale_points([[0.5, 1.5], [3.0, 0.0]], (4, 4), (2, 2)).tolist()
    [[0.0, 0.5], [1.25, -0.25]]
    """
    scale = np.asarray(to_shape, float) / np.asarray(from_shape, float)
    return (np.asarray(points, float) + 0.5) * scale - 0.5
