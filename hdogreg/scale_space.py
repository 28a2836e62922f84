"""Gaussian scale space, scale-normalised DoG, 3-D DoG maxima and overlap pruning (Eq. 1-4).

This is the "DoG" half of the paper's Hessian-DoG blob segmentation (section "Blob
Segmentation"), written to have the semantics of :func:`skimage.feature.blob_dog`:

* Gaussian scale space ``L(x, y; sigma) = G(sigma) * I`` (Eq. 1-2), computed with
  :func:`scipy.ndimage.gaussian_filter` (``mode="reflect"``, ``truncate=4``) exactly as
  scikit-image does, so the numbers agree bit for bit on the same float dtype;
* scales ``sigma_n = sigma_min * k**n`` (:func:`scale_sigmas`);
* scale-normalised DoG layers ``sigma_n / (sigma_{n+1} - sigma_n) * (L_n - L_{n+1})`` (Eq. 3-4,
  sign chosen so that *bright* blobs are *maxima*, see :func:`dog_scale_space`);
* local maxima of the 3-D ``(n, row, col)`` stack above ``dog_threshold`` (:func:`dog_peaks`);
* removal of the smaller of two blobs overlapping by more than ``overlap`` (``O_DoG``,
  :func:`prune_blobs`).

Intensity scale
---------------
The DoG threshold of the paper (``T_DoG = 0.006``) is an absolute number and only means
something on a fixed intensity scale: images are floats in [0, 1], ``raw / intensity_scale``
with ``intensity_scale = 2**BitsStored - 1`` (16383 for 14-bit INbreast DICOMs). Every loader of
``hdogreg.data`` returns that scale; :func:`as_unit_image` converts anything else.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import ndimage as ndi
from scipy import spatial

from ._utils import check_image
from ._validation import border_width, check_dog_threshold, check_overlap, check_scales

__all__ = [
    "as_unit_image",
    "scale_sigmas",
    "gaussian_scale_space",
    "dog_scale_space",
    "scale_normalized_log",
    "local_maxima_3d",
    "blob_overlap",
    "prune_blobs",
    "dog_peaks",
    "disk_log_response",
    "blobs_near_objects",
    "dog_layers",
    "order_like_skimage",
    "surviving_blobs",
]

#: Gaussian kernels are cut at ``TRUNCATE * sigma`` (scipy's and scikit-image's default).
TRUNCATE = 4.0


# --------------------------------------------------------------------------- intensities


def as_unit_image(image, intensity_scale=None, *, name="image"):
    """Return `image` as float32 intensities in [0, 1], the scale the DoG threshold assumes.

    Parameters
    ----------
    image : (M, N) array_like
        Grey-level image. Floats are taken to be in [0, 1] already; integers are raw detector
        values.
    intensity_scale : float, optional
        The raw value that maps to 1 (``2**BitsStored - 1`` for a DICOM, e.g. 16383 for
        14 bits). The image is divided by it. By default floats are used as they are and
        integer images are divided by the maximum of their dtype (65535 for uint16, as
        :func:`skimage.util.img_as_float` and the authors' 16-bit PNG pipeline do).
    name : str, optional
        Name used in error messages.

    Returns
    -------
    image : (M, N) ndarray of float32
        Intensities in [0, 1]. The input is never modified.

    Raises
    ------
    ValueError
        If the image is not 2-D, holds NaN/inf, `intensity_scale` is not > 0, or the scaled
        values leave [0, 1] (then the DoG threshold would be meaningless: pass the right
        `intensity_scale`).

    Examples
    --------
    >>> as_unit_image(np.array([[0, 8191, 16383]], dtype=np.uint16), 16383)
    array([[0.        , 0.49996948, 1.        ]], dtype=float32)
    """
    arr = np.asarray(image)
    kind = arr.dtype.kind
    out = check_image(arr, name)
    if intensity_scale is not None:
        if not isinstance(intensity_scale, numbers.Real) or not intensity_scale > 0:
            raise ValueError(f"{name}: intensity_scale must be > 0, got {intensity_scale!r}")
        out = (out / np.float32(intensity_scale)).astype(np.float32, copy=False)
    elif kind in "iu":
        out = out / np.float32(np.iinfo(arr.dtype).max)
    out = out.astype(np.float32, copy=False)
    lo, hi = float(out.min()), float(out.max())
    if lo < 0 or hi > 1:
        raise ValueError(
            f"{name}: intensities must lie in [0, 1] (raw / intensity_scale), got the range "
            f"[{lo:g}, {hi:g}]; pass intensity_scale=2**BitsStored - 1"
        )
    return out


# --------------------------------------------------------------------------- scale space


def scale_sigmas(sigma_min=1.18, sigma_max=3.1, k=1.6):
    """Return the standard deviations of the Gaussian and of the DoG layers.

    Parameters
    ----------
    sigma_min, sigma_max : float, optional
        Smallest and largest blob scale in pixels (paper: 1.18 and 3.1 px at 0.07 mm/px).
    k : float, optional
        Multiplicative step between scales, ``> 1`` (scikit-image's ``sigma_ratio``).

    Returns
    -------
    gaussian_sigmas : ndarray of float64, shape (N + 1,)
        ``sigma_min * k**n`` for ``n = 0 .. N``.
    dog_sigmas : ndarray of float64, shape (N,)
        The scale of each DoG layer: ``gaussian_sigmas[:-1]``.

    Notes
    -----
    ``N = int(log(sigma_max / sigma_min) / log(k) + 1)``, as in :func:`skimage.feature.blob_dog`
    (plus ``1e-9`` so that an exact power of `k` is not lost to rounding): the DoG layers cover
    ``sigma_min .. sigma_max`` and one more Gaussian above ``sigma_max`` closes the last
    difference. With the paper's 1.18, 3.1 and ``k = 1.6`` the Gaussians are at 1.18, 1.888,
    3.021, 4.833 and the DoG layers at 1.18, 1.888, 3.021 (the authors' code does the same).

    Examples
    --------
    >>> g, d = scale_sigmas(1.18, 3.1, 1.6)
    >>> g.round(3), d.round(3)
    (array([1.18 , 1.888, 3.021, 4.833]), array([1.18 , 1.888, 3.021]))
    """
    check_scales(sigma_min, sigma_max, k)
    n = int(math.log(sigma_max / sigma_min) / math.log(k) + 1 + 1e-9)
    gaussian_sigmas = sigma_min * float(k) ** np.arange(n + 1)
    return gaussian_sigmas, gaussian_sigmas[:-1].copy()


def gaussian_scale_space(image, sigmas):
    """Gaussian scale space ``L(x, y; sigma) = G(x, y; sigma) * I(x, y)`` (Eq. 1-2).

    Parameters
    ----------
    image : (M, N) array_like
        Grey-level image (float32 or float64 are kept, other dtypes become float32).
    sigmas : sequence of float
        Standard deviations in pixels.

    Returns
    -------
    stack : ndarray, shape (len(sigmas), M, N)
        ``stack[n]`` is the image smoothed at ``sigmas[n]`` (``mode="reflect"``,
        ``truncate=4``, as :func:`skimage.filters.gaussian` in ``blob_dog``).

    Examples
    --------
    >>> img = np.zeros((9, 9), np.float32); img[4, 4] = 1
    >>> L = gaussian_scale_space(img, [1.0, 2.0])
    >>> L.shape, bool(L[0, 4, 4] > L[1, 4, 4])
    ((2, 9, 9), True)
    """
    image = check_image(image)
    sigmas = np.asarray(sigmas, dtype=float).ravel()
    if np.any(~np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise ValueError(f"sigmas must be finite and > 0, got {sigmas.tolist()}")
    out = np.empty((len(sigmas),) + image.shape, dtype=image.dtype)
    for i, s in enumerate(sigmas):
        _smooth_rows(image, s, 0, image.shape[0], out[i])
    return out


def _smooth_rows(image, sigma, d0, d1, out):
    """Rows [d0, d1) of ``ndi.gaussian_filter(image, sigma, mode="reflect")``, bit-identical.

    Only the input rows within the kernel radius of [d0, d1) are read and the second pass only
    runs on the rows kept. For wide kernels the first pass runs on the transposed band (along
    contiguous memory, faster than scipy's strided pass along axis 0). The passes are done in
    scipy's order (axis 0, then axis 1), so the result is the same to the last bit.
    """
    radius = int(TRUNCATE * sigma + 0.5)
    a, b = max(d0 - radius, 0), min(d1 + radius, image.shape[0])
    if radius > 8:
        tmp = ndi.gaussian_filter1d(np.ascontiguousarray(image[a:b].T), sigma, axis=1,
                                    mode="reflect", truncate=TRUNCATE)
        tmp = np.ascontiguousarray(tmp[:, d0 - a:d1 - a].T)
    else:
        tmp = ndi.gaussian_filter1d(image[a:b], sigma, axis=0, mode="reflect",
                                    truncate=TRUNCATE)[d0 - a:d1 - a]
    ndi.gaussian_filter1d(tmp, sigma, axis=1, output=out, mode="reflect", truncate=TRUNCATE)
    return out


def dog_layers(image, gaussian_sigmas, k, rows=None):
    """Scale-normalised DoG stack of a checked float image, optionally of the rows ``[d0, d1)`` only.

    The building block of :func:`dog_scale_space` (which validates its input) and of the
    row bands of :func:`hdogreg.hdog.hdog_segment`.

    Parameters
    ----------
    image : (H, W) ndarray of float32 or float64
        Already checked (:func:`hdogreg._utils.check_image`); not validated here.
    gaussian_sigmas : sequence of float
        The Gaussian scales (:func:`scale_sigmas`).
    k : float
        Ratio of successive scales.
    rows : (int, int), optional
        Compute only these rows (the smoothing still reads the whole `image`).

    Returns
    -------
    dog : (len(gaussian_sigmas) - 1, d1 - d0, W) ndarray
        Same dtype as `image`. Two Gaussian images are alive at a time.
    """
    n = len(gaussian_sigmas) - 1
    d0, d1 = rows if rows is not None else (0, image.shape[0])
    shape = (d1 - d0, image.shape[1])
    dog = np.empty((n,) + shape, dtype=image.dtype)
    previous = _smooth_rows(image, gaussian_sigmas[0], d0, d1, np.empty(shape, image.dtype))
    current = np.empty_like(previous)
    for i in range(n):
        _smooth_rows(image, gaussian_sigmas[i + 1], d0, d1, current)
        np.subtract(previous, current, out=dog[i])
        previous, current = current, previous
    # sigma_n / (sigma_{n+1} - sigma_n) = 1 / (k - 1); the same float as scikit-image
    dog *= 1 / (k - 1)
    return dog


def dog_scale_space(image, sigma_min=1.18, sigma_max=3.1, k=1.6):
    r"""Scale-normalised difference-of-Gaussians stack (Eq. 3-4).

    Parameters
    ----------
    image : (M, N) array_like
        Grey-level image, intensities in [0, 1] (see :func:`as_unit_image`). float32 and
        float64 are kept, other dtypes are converted to float32 *without* rescaling.
    sigma_min, sigma_max, k : float, optional
        Scales, see :func:`scale_sigmas`.

    Returns
    -------
    dog : ndarray, shape (N, M, N_cols)
        ``dog[n]`` is the DoG layer at ``sigmas[n]``; bright blobs are positive.
    sigmas : ndarray of float64, shape (N,)
        The scale of each layer.

    Notes
    -----
    .. math::

        \mathrm{DoG}(x, y, n) = \frac{\sigma_n}{\sigma_{n+1} - \sigma_n}
        \bigl(L(x, y; \sigma_n) - L(x, y; \sigma_{n+1})\bigr)
        \approx -\sigma_n^2 \nabla^2 L(x, y; \sigma_n)

    Eq. 4 of the paper is printed as ``L(sigma_{n+1}) - L(sigma_n)``, which is
    ``+sigma**2 * Laplacian``: negative on bright blobs. Local *maxima* of bright blobs, and the
    ``tr(H) < 0`` of Eq. 6, need the opposite sign, which is what scikit-image's ``blob_dog``
    and the authors' code compute; so do we. Because
    :math:`\partial L / \partial \sigma = \sigma \nabla^2 L` (the heat equation), the factor
    :math:`\sigma_n / \Delta\sigma = 1/(k-1)` makes the layers comparable across scales (the
    scale-normalised Laplacian of Lindeberg).

    Examples
    --------
    >>> img = np.zeros((32, 32), np.float32); img[16, 16] = 1
    >>> dog, sigmas = dog_scale_space(img, 1, 2, 1.6)
    >>> dog.shape, sigmas.round(2), bool(dog[0, 16, 16] > 0)
    ((2, 32, 32), array([1. , 1.6]), True)
    """
    gaussian_sigmas, dog_sigmas = scale_sigmas(sigma_min, sigma_max, k)
    image = check_image(image)
    return dog_layers(image, gaussian_sigmas, k), dog_sigmas


def scale_normalized_log(image, sigma):
    """Compute the scale-normalised Laplacian of Gaussian ``-sigma**2 * Laplacian(L)`` at `sigma`.

    This is what the DoG of Eq. 3 approximates (with the same sign convention: bright blobs
    positive); it is used to show the approximation error.

    Parameters
    ----------
    image : (M, N) array_like
        Grey-level image.
    sigma : float
        Scale in pixels.

    Returns
    -------
    response : ndarray, same shape, float32 (float64 for float64 input)

    Examples
    --------
    >>> img = np.zeros((21, 21)); img[10, 10] = 1
    >>> bool(scale_normalized_log(img, 2.0)[10, 10] > 0)
    True
    """
    image = check_image(image)
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    out = ndi.gaussian_laplace(image, sigma, mode="reflect", truncate=TRUNCATE)
    out *= -(sigma**2)
    return out


def disk_log_response(radius, sigmas):
    r"""Centre response of the scale-normalised LoG to a bright disk, in closed form.

    For a disk of radius ``r`` and unit contrast,

    .. math:: -\sigma^2 \nabla^2 (G_\sigma * \mathbb{1}_{|x| \le r})(0)
              = \frac{r^2}{\sigma^2} e^{-r^2 / (2 \sigma^2)},

    which is largest at :math:`\sigma = r / \sqrt{2}`: this is why the scale of a DoG maximum
    measures the size of a blob.

    Parameters
    ----------
    radius : float
        Disk radius (pixels), > 0.
    sigmas : array_like
        Scales.

    Returns
    -------
    response : ndarray of float64, same shape as `sigmas`

    Examples
    --------
    >>> s = np.linspace(0.5, 6, 1101)
    >>> float(s[np.argmax(disk_log_response(4.0, s))].round(2))
    2.83
    """
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    sigmas = np.asarray(sigmas, dtype=float)
    u = (radius / sigmas) ** 2
    return u * np.exp(-u / 2)


# --------------------------------------------------------------------------- peaks


def _spatial_max3(stack):
    """3x3 maximum of every layer of a (n, M, N) stack, edges replicated ('nearest')."""
    rows = stack.copy()
    np.maximum(rows[:, 1:], stack[:, :-1], out=rows[:, 1:])
    np.maximum(rows[:, :-1], stack[:, 1:], out=rows[:, :-1])
    out = rows.copy()
    np.maximum(out[:, :, 1:], rows[:, :, :-1], out=out[:, :, 1:])
    np.maximum(out[:, :, :-1], rows[:, :, 1:], out=out[:, :, :-1])
    return out


def local_maxima_3d(dog, dog_threshold):
    """Pixels of a (n, M, N) stack that are maxima of their 3x3x3 neighbourhood and > threshold.

    Same test as :func:`skimage.feature.peak_local_max` with a ``3x3x3`` footprint (what
    ``blob_dog`` uses): ``dog == maximum_filter(dog, 3, mode="nearest")`` and
    ``dog > dog_threshold``; plateaus give all their pixels. Unlike ``peak_local_max`` a
    constant stack is not special-cased here (see :func:`dog_peaks`).

    Parameters
    ----------
    dog : ndarray, shape (n, M, N)
        DoG stack.
    dog_threshold : float
        Lower bound (strict) on the DoG value of a peak.

    Returns
    -------
    peaks : ndarray of bool, shape (n, M, N)
    trivial : bool
        True if every pixel equals its neighbourhood maximum (a constant stack).
    """
    m = _spatial_max3(dog)
    across = m.copy()
    np.maximum(across[1:], m[:-1], out=across[1:])
    np.maximum(across[:-1], m[1:], out=across[:-1])
    peaks = dog >= across
    trivial = bool(peaks.all())
    peaks &= dog > dog_threshold
    return peaks, trivial


def order_like_skimage(coords, values):
    """Order ``(n, row, col)`` peaks as ``peak_local_max`` does on the ``(row, col, n)`` cube.

    Raster order of the cube, then descending value (stable), so that the blobs of
    :func:`dog_peaks` (and of the bands of :func:`hdogreg.hdog.hdog_segment`) come in
    scikit-image's order.

    Returns
    -------
    coords, values : ndarray
        Reordered copies.
    """
    raster = np.lexsort((coords[:, 0], coords[:, 2], coords[:, 1]))
    coords, values = coords[raster], values[raster]
    order = np.argsort(-values, kind="stable")
    return coords[order], values[order]


def blob_overlap(blobs1, blobs2):
    """Fraction of the smaller disk covered by the larger, for pairs of 2-D blobs.

    A blob ``(row, col, sigma)`` is the disk of radius ``sigma * sqrt(2)``; the fraction is
    the intersection area divided by the area of the smaller disk (vectorised version of
    scikit-image's ``_blob_overlap``).

    Parameters
    ----------
    blobs1, blobs2 : ndarray, shape (p, 3)
        Pairs of blobs ``(row, col, sigma)``.

    Returns
    -------
    fraction : ndarray of float64, shape (p,)
        In [0, 1]; 1 if one disk lies inside the other.

    Examples
    --------
    >>> blob_overlap(np.array([[0, 0, 2.0], [0, 0, 1.0]]), np.array([[0, 1, 2.0], [0, 9, 1.0]])).round(3)
    array([0.776, 0.   ])
    """
    b1 = np.asarray(blobs1, dtype=float).reshape(-1, 3)
    b2 = np.asarray(blobs2, dtype=float).reshape(-1, 3)
    s1, s2 = b1[:, 2], b2[:, 2]
    big = np.maximum(s1, s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(s1 >= s2, 1.0, s1 / big)
        r2 = np.where(s1 >= s2, s2 / big, 1.0)
        d = np.hypot(*(b1[:, :2] - b2[:, :2]).T) / (big * math.sqrt(2))
        c1 = np.clip((d**2 + r1**2 - r2**2) / (2 * d * r1), -1, 1)
        c2 = np.clip((d**2 + r2**2 - r1**2) / (2 * d * r2), -1, 1)
        area = (r1**2 * np.arccos(c1) + r2**2 * np.arccos(c2)
                - 0.5 * np.sqrt(np.abs((-d + r2 + r1) * (d - r2 + r1) * (d + r2 - r1) * (d + r2 + r1))))
        frac = area / (math.pi * np.minimum(r1, r2) ** 2)
    frac = np.where(d > r1 + r2, 0.0, np.where(d <= np.abs(r1 - r2), 1.0, frac))
    return np.where(big > 0, frac, 0.0)


def prune_blobs(blobs, overlap):
    """Remove the smaller of every two blobs whose overlap fraction exceeds `overlap`.

    Parameters
    ----------
    blobs : ndarray, shape (n, 3)
        Blobs ``(row, col, sigma)``, strongest first (the order of :func:`dog_peaks`).
    overlap : float
        ``O_DoG`` in [0, 1]. With 1 nothing is removed (a fraction never exceeds 1).

    Returns
    -------
    blobs : ndarray, shape (m, 3)
        The surviving rows, in their original order.

    Notes
    -----
    Same result as scikit-image's ``_prune_blobs``: the pairs closer than
    ``2 * sqrt(2) * max(sigma)`` are visited in the order of ``cKDTree.query_pairs``; of a
    pair overlapping by more than `overlap` the smaller blob is removed (the first one on a
    tie), and a removed blob removes nothing. Only the flagged pairs are visited in Python.
    """
    check_overlap(overlap)
    blobs = np.asarray(blobs, dtype=float).reshape(-1, 3)
    return blobs[surviving_blobs(blobs, overlap)]


def surviving_blobs(blobs, overlap):
    """Boolean mask of the ``(row, col, sigma)`` blobs that :func:`prune_blobs` keeps.

    Of two blobs overlapping by more than `overlap` (:func:`blob_overlap`) the smaller is
    dropped, as in ``skimage.feature.blob._prune_blobs``.
    """
    alive = np.ones(len(blobs), dtype=bool)
    if len(blobs) < 2 or overlap >= 1:
        return alive
    distance = 2 * blobs[:, 2].max() * math.sqrt(2)
    pairs = np.array(list(spatial.cKDTree(blobs[:, :2]).query_pairs(distance)), dtype=np.intp)
    if len(pairs) == 0:
        return alive
    flagged = pairs[blob_overlap(blobs[pairs[:, 0]], blobs[pairs[:, 1]]) > overlap]
    sig = blobs[:, 2]
    for i, j in flagged.tolist():
        if alive[i] and alive[j]:
            alive[j if sig[i] > sig[j] else i] = False
    return alive


def dog_peaks(image, sigma_min=1.18, sigma_max=3.1, k=1.6, dog_threshold=0.006, overlap=1.0,
              *, exclude_border=False):
    """DoG blobs: 3-D local maxima of the scale-normalised DoG stack (Eq. 4), pruned.

    Parameters
    ----------
    image : (M, N) array_like
        Grey-level image, intensities in [0, 1] (:func:`as_unit_image`); float32/float64 kept,
        other dtypes converted to float32 without rescaling.
    sigma_min, sigma_max, k : float, optional
        Scales (paper: 1.18, 3.1 px; ``k`` > 1), see :func:`scale_sigmas`.
    dog_threshold : float, optional
        ``T_DoG``: a peak's DoG value must exceed it (paper: 0.006 on [0, 1] intensities).
    overlap : float, optional
        ``O_DoG`` in [0, 1] (paper: 1, which removes nothing), see :func:`prune_blobs`.
    exclude_border : False or int, optional
        Discard peaks closer than this many pixels to the image border.

    Returns
    -------
    blobs : ndarray of float64, shape (n, 3)
        ``(row, col, sigma)`` of each blob, strongest first; shape ``(0, 3)`` if none.

    See Also
    --------
    skimage.feature.blob_dog : the same detector (``min_sigma=sigma_min``,
        ``max_sigma=sigma_max``, ``sigma_ratio=k``, ``threshold=dog_threshold``).

    Notes
    -----
    Differences from ``blob_dog``: integer images are *not* rescaled here (rescale with
    :func:`as_unit_image`), ``threshold_rel`` is not offered, and ``overlap = 1`` skips the
    pruning step instead of computing fractions that cannot exceed 1.

    Examples
    --------
    >>> rr, cc = np.mgrid[:40, :40]
    >>> img = 0.2 + 0.3 * np.exp(-((rr - 20) ** 2 + (cc - 15) ** 2) / (2 * 2.0**2))
    >>> dog_peaks(img, 1.18, 3.1, 1.6, 0.006)
    array([[20.   , 15.   ,  1.888]])
    """
    check_dog_threshold(dog_threshold)
    check_overlap(overlap)
    width = border_width(exclude_border)
    dog, sigmas = dog_scale_space(image, sigma_min, sigma_max, k)
    peaks, trivial = local_maxima_3d(dog, dog_threshold)
    if trivial:
        return np.empty((0, 3))
    if width:
        peaks[:, :width] = peaks[:, -width:] = False
        peaks[:, :, :width] = peaks[:, :, -width:] = False
    coords = np.argwhere(peaks)
    coords, _ = order_like_skimage(coords, dog[tuple(coords.T)])
    blobs = np.column_stack([coords[:, 1], coords[:, 2], sigmas[coords[:, 0]]]).astype(float)
    return prune_blobs(blobs.reshape(-1, 3), overlap)


def blobs_near_objects(blobs, labels, max_distance=5.0):
    """Which labelled objects have a blob near them, and which blobs lie near an object.

    Parameters
    ----------
    blobs : (n, 3) array_like
        ``(row, col, sigma)`` as returned by :func:`dog_peaks`.
    labels : (H, W) array_like of int
        Objects (e.g. ``Mammogram.mc_labels()``); 0 is background.
    max_distance : float
        A blob centre within this many pixels of an object's pixels counts as near it.

    Returns
    -------
    object_hit : ndarray of bool
        One entry per label ``1 .. labels.max()``: some blob lies near it.
    blob_near : ndarray of bool
        One entry per blob: it lies near some object.

    Examples
    --------
    >>> lab = np.zeros((20, 20), int); lab[5, 5] = 1; lab[15, 15] = 2
    >>> hit, near = blobs_near_objects([[6, 7, 1.2], [10, 0, 1.2]], lab, 3)
    >>> hit.tolist(), near.tolist()
    ([True, False], [True, False])
    """
    lab = np.asarray(labels)
    b = np.asarray(blobs, float).reshape(-1, 3)
    n_obj = int(lab.max()) if lab.size else 0
    if n_obj == 0 or len(b) == 0:
        return np.zeros(n_obj, bool), np.zeros(len(b), bool)
    dist, (ir, ic) = ndi.distance_transform_edt(lab == 0, return_indices=True)
    r = np.clip(np.rint(b[:, 0]).astype(int), 0, lab.shape[0] - 1)
    c = np.clip(np.rint(b[:, 1]).astype(int), 0, lab.shape[1] - 1)
    blob_near = dist[r, c] <= max_distance
    nearest = lab[ir[r, c], ic[r, c]]
    object_hit = np.zeros(n_obj + 1, bool)
    object_hit[nearest[blob_near]] = True
    return object_hit[1:], blob_near
