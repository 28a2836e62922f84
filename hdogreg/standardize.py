"""Intensity standardisation: one per-image transform so that thresholds keep their meaning.

The method's thresholds are absolute numbers on the package's intensity scale
(``raw / (2**BitsStored - 1)``): the DoG threshold ``T_DoG = 0.006`` of Eq. 4 and the proximity
threshold ``p_thr`` of a network trained on that scale. Their meaning therefore moves with the
image's brightness and contrast (vendor, processing, windowing, bit depth). :func:`standardize`
maps every image to a common scale with robust statistics measured on the image itself:

* the *level*: the median intensity inside the breast, mapped to :data:`REFERENCE_LEVEL`;
* the *noise*: the robust standard deviation of the fine-scale DoG (the finest band of the
  paper's scale space, :func:`fine_scale_noise`), mapped to :data:`REFERENCE_NOISE`.

``method="noise_psd"`` is ``"noise"`` for an image resampled to 0.07 mm from a detector of
another pixel size (``source_spacing``): resampling changes the fine-scale noise of the same
detector noise (a coarse detector has none above its Nyquist frequency), so the measured sd
is divided by what resampling does to white noise (:func:`resampling_noise_factor`) and the
image is mapped by its noise *power spectrum*, not by its resampled fine band. On a 0.07 mm
image it is ``"noise"`` exactly. The shipped model is trained with it (its pools hold images
of 0.05-0.14 mm); :data:`DEFAULT_METHOD` stays ``"noise"``, which the book's benchmark (all
0.07 mm) cannot tell apart from it.

``method="equalize"`` first puts the image through its noise-equalising grey-level map
(:func:`noise_curve`, :func:`equalizing_lut`; after Veldkamp & Karssemeijer 2000), so that the
fine-scale noise is :data:`REFERENCE_NOISE` at *every* grey level whatever tone curve (gamma,
window, log) the image went through, not only on average.

The reference values are those of the Siemens-like 14-bit synthetic INbreast images (whose
statistics match real INbreast, ``benchmarks/bench_realism.py``), so that on INbreast-like
images the transform is close to the identity and the paper's ``T_DoG = 0.006`` keeps its
INbreast meaning. ``method="none"`` keeps the paper's raw-scale behaviour.

The same function is used wherever the method sees an image: :func:`hdogreg.pipeline.segment_mammogram`
(both branches, ``SegmentParams.normalize``) and :mod:`hdogreg.training`
(``TrainConfig.normalize``, applied per whole image before patches are cut).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage as ndi
from scipy.integrate import cumulative_trapezoid

from ._utils import check_image, robust_sd

__all__ = ["METHODS", "DEFAULT_METHOD", "REFERENCE_LEVEL", "REFERENCE_NOISE", "NOISE_SIGMA", "NOISE_K",
           "NOISE_EROSION", "LEVEL_SIGMA", "NOISE_BINS", "check_method", "standardize",
           "standardize_breast_mask", "fine_scale_noise", "resampling_noise_factor", "noise_curve",
           "equalizing_lut"]

#: Names accepted by ``method`` (and by ``SegmentParams.normalize``, ``TrainConfig.normalize``).
METHODS = ("none", "noise", "equalize", "noise_psd")

#: The package's default standardisation (``SegmentParams``, ``TrainConfig``, the comparison
#: methods, the shipped model). ``"equalize"`` keeps the number of HDoG candidates steady under
#: tone curves where ``"noise"`` does not (``benchmarks/bench_standardize.py``), but a model
#: trained on it has not yet been validated over the robustness study, so it is opt-in.
DEFAULT_METHOD = "noise"

#: Median breast intensity that :func:`standardize` maps the image's breast median to.
#: Measured as the median, over the 56 training images of ``data/synth`` (Siemens-like 14-bit,
#: raw / 16383), of the median intensity inside ``standardize_breast_mask(image)``::
#:
#:     .venv/bin/python benchmarks/bench_standardize.py --data data/synth
REFERENCE_LEVEL = 0.1063

#: Robust sd of the fine-scale DoG (:func:`fine_scale_noise`) that :func:`standardize` maps the
#: image's to; measured like :data:`REFERENCE_LEVEL` (median over the same images).
REFERENCE_NOISE = 0.000804

#: Scales of the fine-scale DoG ``G(NOISE_SIGMA) - G(NOISE_K * NOISE_SIGMA)``: the finest band of
#: the paper's scale space (``sigma_min = 1.18`` px, ``k = 1.6``, px at 0.07 mm).
NOISE_SIGMA = 1.18
NOISE_K = 1.6

#: The noise is measured over the breast eroded by this many px (a square of side
#: ``2 * NOISE_EROSION + 1``), so that the breast edge (skin line, air) stays out of the DoG's
#: support (``4 * NOISE_K * NOISE_SIGMA`` ~ 7.6 px).
NOISE_EROSION = 8

#: Scale (px) of the local grey level that :func:`noise_curve` bins the fine-scale DoG by: the
#: image smoothed well beyond the DoG's support, so that a pixel's bin is its background's.
LEVEL_SIGMA = 4.0

#: Number of grey-level bins (equal pixel counts inside the eroded breast) of :func:`noise_curve`.
NOISE_BINS = 32


def check_method(method, name="method"):
    """Return `method` if it names a standardisation (:data:`METHODS`), else raise ValueError.

    Examples
    --------
    >>> check_method("noise")
    'noise'
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"{name} must be one of {list(METHODS)}, got {method!r}")
    return method


def standardize_breast_mask(image, *, name="image"):
    """Breast mask used by :func:`standardize`: :func:`hdogreg.breast.breast_mask` of ``image - min``.

    The breast mask's threshold, ``0.2 * otsu(image)``, assumes the background near 0; an
    intensity offset ``image + b`` would move the background above it. Subtracting the image's
    minimum first makes the mask invariant to ``a * image + b`` for ``a > 0`` (up to float
    rounding at the threshold); on an image whose background is at 0 it is ``breast_mask(image)``.

    Parameters
    ----------
    image : (H, W) array_like
    name : str, optional
        Name used in error messages.

    Returns
    -------
    mask : (H, W) ndarray of bool

    Examples
    --------
    >>> img = np.zeros((6, 6)); img[1:5, 0:3] = 0.5
    >>> bool((standardize_breast_mask(4 * img + 0.3) == standardize_breast_mask(img)).all())
    True
    """
    from .breast import breast_mask

    img = check_image(image, name)
    return np.asarray(breast_mask(img - img.min(), name=name), dtype=bool)


def _fine_dog(image):
    img = np.asarray(image, dtype=np.float64)
    return (ndi.gaussian_filter(img, NOISE_SIGMA)
            - ndi.gaussian_filter(img, NOISE_K * NOISE_SIGMA))


def fine_scale_noise(image, mask=None):
    """Robust sd (1.4826 MAD) of the fine-scale DoG ``G(1.18) - G(1.6 * 1.18)`` inside `mask`.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram (px at 0.07 mm, the scales of the paper's finest DoG band).
    mask : (H, W) array_like of bool, optional
        Where to measure (e.g. the breast); eroded by :data:`NOISE_EROSION` px first, falling
        back to the mask itself if the erosion empties it. Default: the whole image.

    Returns
    -------
    s : float
        ``1.4826 * median(|d - median(d)|)`` of the DoG values ``d`` in the (eroded) mask;
        ``a * s`` for ``a * image + b``. 0 for a constant image.

    Raises
    ------
    ValueError
        If `mask` has another shape than `image` or is empty.

    Notes
    -----
    For white noise of sd ``sigma`` the result is ``c * sigma`` with ``c`` ~ 0.09 fixed by the
    two Gaussians; on a mammogram it mixes quantum noise with the finest tissue texture: a
    contrast scale measured at the scale of the smallest calcifications.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = rng.normal(0.5, 0.01, (128, 128))
    >>> s = fine_scale_noise(img)
    >>> bool(np.isclose(fine_scale_noise(4 * img + 1), 4 * s))
    True
    """
    img = check_image(image)
    return robust_sd(_fine_dog(img)[_inner_breast(mask, img.shape)])


@functools.lru_cache(maxsize=64)
def _resampling_noise_factor(spacing, native):
    from .spacing import to_native

    n = 1024                      # native px per side: ~0.25 % sampling error of each sd
    rng = np.random.default_rng(20261203)
    side = max(64, int(round(n * native / spacing)))
    resampled = to_native(rng.standard_normal((side, side)), spacing, native)
    # white noise of the same power spectral density (variance x pixel area) drawn at `native`
    same_psd = rng.standard_normal(resampled.shape) * (spacing / native)
    whole = np.ones(resampled.shape, bool)
    return fine_scale_noise(resampled, whole) / fine_scale_noise(same_psd, whole)


def resampling_noise_factor(spacing, native=None):
    """How resampling from `spacing` to `native` mm changes the fine-scale noise of white noise.

    The :func:`fine_scale_noise` of white noise drawn at `spacing` and resampled to `native`
    (:func:`hdogreg.spacing.to_native`), over that of white noise with the same power spectral
    density drawn at `native`: below 1 when the detector is coarser (no noise above its
    Nyquist frequency) and, through the area mean, when it is finer. ``method="noise_psd"``
    divides the measured noise by it. Computed once per spacing (seeded simulation).

    Parameters
    ----------
    spacing : float
        mm per pixel of the detector (checked, :func:`hdogreg.spacing.check_pixel_spacing`).
    native : float, optional
        The grid the image was resampled to (default :data:`hdogreg.spacing.NATIVE_SPACING`).

    Returns
    -------
    float
        1.0 exactly when `spacing` is `native` (within 1e-6 mm).

    Examples
    --------
    >>> resampling_noise_factor(0.07)
    1.0
    >>> 0.8 < resampling_noise_factor(0.14) < 0.95
    True
    """
    from .spacing import NATIVE_SPACING, check_pixel_spacing, is_native

    spacing = check_pixel_spacing(spacing, name="spacing")
    native = check_pixel_spacing(NATIVE_SPACING if native is None else native, name="native")
    if is_native(spacing, native):
        return 1.0
    return float(_resampling_noise_factor(round(spacing, 6), round(native, 6)))


def _inner_breast(mask, shape):
    """Check `mask` (None: all of `shape`); erode it by :data:`NOISE_EROSION` px, or keep it if emptied."""
    mask = np.ones(shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} differs from image shape {tuple(shape)}")
    if not mask.any():
        raise ValueError("mask is empty: no pixel to measure the noise on")
    inner = ndi.minimum_filter(mask.view(np.uint8), size=2 * NOISE_EROSION + 1,
                               mode="nearest").astype(bool)
    return inner if inner.any() else mask


def noise_curve(image, mask=None, *, n_bins=NOISE_BINS):
    """Fine-scale noise as a function of grey level: the signal dependence of the noise.

    X-ray quantum noise grows with the signal, and every tone curve a vendor applies (log,
    gamma, windowing, film characteristic) stretches some grey levels and compresses others,
    so the noise of a mammogram differs between fatty and dense tissue by an amount that
    depends on its processing. This measures it: the pixels of the (eroded) `mask` are binned
    by their local grey level (the image smoothed at :data:`LEVEL_SIGMA` px) into `n_bins`
    bins of equal counts, and in each bin the robust sd of the fine-scale DoG is taken (as in
    :func:`fine_scale_noise`).

    Parameters
    ----------
    image : (H, W) array_like
    mask : (H, W) array_like of bool, optional
        Where to measure (the breast); default the whole image.
    n_bins : int, optional

    Returns
    -------
    levels : (n,) ndarray of float64
        Median local grey level of each bin, increasing (bins whose levels coincide, as in a
        quantised image, are merged, so ``n <= n_bins``).
    noise : (n,) ndarray of float64
        Robust sd of the fine-scale DoG in each bin, >= 0.

    References
    ----------
    .. [1] Veldkamp W. J. H., Karssemeijer N. (2000). Normalization of local contrast in
           mammograms. IEEE Trans Med Imaging 19(7), 731-738.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ramp = np.tile(np.linspace(0.1, 0.9, 256), (256, 1))
    >>> img = ramp + rng.normal(0, 1, ramp.shape) * 0.01 * ramp    # noise grows with level
    >>> levels, noise = noise_curve(img, n_bins=4)
    >>> bool(np.all(np.diff(noise) > 0))
    True
    """
    img = check_image(image).astype(np.float64)
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    inner = _inner_breast(mask, img.shape)
    level = ndi.gaussian_filter(img, LEVEL_SIGMA)[inner]
    d = _fine_dog(img)[inner]
    order = np.argsort(level, kind="stable")
    level, d = level[order], d[order]
    edges = np.unique(np.linspace(0, level.size, n_bins + 1).round().astype(np.int64))
    bins = [[lo, hi] for lo, hi in zip(edges[:-1], edges[1:])]
    merged = []
    for b in bins:                  # equal levels (a quantised image): merge with the bin below
        merged.append(b)
        while len(merged) > 1 and (np.median(level[slice(*merged[-1])])
                                   <= np.median(level[slice(*merged[-2])])):
            top = merged.pop()
            merged[-1][1] = top[1]
    levels = [float(np.median(level[lo:hi])) for lo, hi in merged]
    noise = [robust_sd(d[lo:hi]) for lo, hi in merged]
    return np.asarray(levels), np.asarray(noise)


def equalizing_lut(levels, noise, lo, hi, *, n_points=4097, floor=0.25):
    r"""Grey-level map whose output has the same fine-scale noise at every grey level.

    :math:`g(x) = \int^x dt / \sigma(t)`, with :math:`\sigma` the measured noise curve
    (:func:`noise_curve`) linearly interpolated between its levels and constant beyond them:
    the noise-equalising (variance-stabilising) transform. Since the noise of ``f(image)`` for
    a monotone tone curve ``f`` is :math:`f'(x)\,\sigma(x)`, the map of ``f(image)``
    composed with ``f`` is the map of ``image``: the output does not depend on the tone curve
    (to first order in the noise), only on the detector's noise.

    Parameters
    ----------
    levels, noise : (n,) array_like
        :func:`noise_curve` (``levels`` increasing).
    lo, hi : float
        Range of grey levels the map covers (the image's minimum and maximum).
    n_points : int, optional
        Points of the tabulated map.
    floor : float, optional
        Smallest noise used, as a fraction of the median of `noise`: where the noise vanishes
        (saturated, clipped or heavily quantised grey levels) the map would otherwise blow up.

    Returns
    -------
    x, g : (n_points,) ndarray of float64
        The map, tabulated; apply with ``numpy.interp(image, x, g)``. ``g`` is increasing, in
        units of the noise (``g`` rises by 1 per noise sd).
    """
    levels = np.asarray(levels, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    if levels.ndim != 1 or levels.shape != noise.shape or levels.size == 0:
        raise ValueError("levels and noise must be 1-D arrays of the same, non-zero length")
    ref = float(np.median(noise))
    if not ref > 0:
        raise ValueError(f"cannot equalise: the median fine-scale noise is {ref:g}")
    sigma = np.maximum(noise, floor * ref)
    hi = max(float(hi), float(lo) + np.finfo(np.float64).eps)
    x = np.linspace(float(lo), hi, n_points)
    g = cumulative_trapezoid(1.0 / np.interp(x, levels, sigma), x, initial=0.0)
    return x, g


def standardize(image, breast=None, *, method=DEFAULT_METHOD, source_spacing=None):
    """Map a mammogram to the reference intensity scale (level and fine-scale noise).

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram, any intensity scale (bright breast on a dark background), px at 0.07 mm.
    breast : (H, W) array_like of bool, optional
        Breast mask; default :func:`standardize_breast_mask` (``breast_mask(image - min)``).
        Ignored by ``method="none"``.
    method : {"noise", "equalize", "none"}, optional
        ``"noise"``: ``REFERENCE_LEVEL + (image - m) * (REFERENCE_NOISE / s)`` with ``m`` the
        median of the image inside `breast` and ``s`` = :func:`fine_scale_noise` over the breast
        (eroded by :data:`NOISE_EROSION` px; the whole breast if that empties it, the whole
        image if the breast is empty), clipped to [0, 1]. ``"equalize"``: the same with the
        image first put through its noise-equalising grey-level map
        (:func:`noise_curve`, :func:`equalizing_lut`), ``REFERENCE_LEVEL + REFERENCE_NOISE *
        (g(image) - g(m))``: the noise is then the same at every grey level, whatever tone
        curve the image went through. ``"none"``: the image unchanged (the paper's raw scale).
        ``"noise_psd"``: ``"noise"`` with ``s`` divided by
        ``resampling_noise_factor(source_spacing)``.
    source_spacing : float, optional
        mm per pixel of the detector the image was resampled from (default: the image is at
        0.07 mm); used by ``"noise_psd"`` only.

    Returns
    -------
    out : (H, W) ndarray of float32

    Raises
    ------
    ValueError
        If `method` is unknown, `breast` has another shape, or ``s == 0`` (e.g. a constant
        image: there is no contrast scale to standardise to).

    Notes
    -----
    ``"noise"`` is exactly invariant to ``a * image + b`` for any ``a > 0`` and ``b``: ``m``
    becomes ``a m + b`` and ``s`` becomes ``a s`` (the DoG is linear and its weights sum to 0),
    so the output is the same up to float rounding (computed in float64, returned as float32),
    provided the breast mask is the same - which the default mask guarantees. It is not
    invariant to non-linear maps (gamma, windowing with clipping) or to quantisation, which
    change the noise relative to the structures.

    With the reference values (measured on Siemens-like 14-bit synthetic INbreast images) the
    transform is close to the identity on INbreast-like images, so the paper's
    ``T_DoG = 0.006`` keeps its meaning. The result is clipped to [0, 1], the package's
    intensity range (on which the HDoG branch insists): a value above 1 lies more than 1000
    reference noise sd above the breast median (saturated burn-ins and markers), one below 0
    is background. The clip comes after the invariant map, so the invariance holds.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((64, 64)); img[8:56, :40] = 0.1
    >>> img += rng.normal(0, 0.003, img.shape)
    >>> a = standardize(img)
    >>> float(np.abs(standardize(0.25 * img + 0.05) - a).max()) < 1e-6
    True
    >>> bool((standardize(img, method="none") == img.astype(np.float32)).all())
    True
    """
    check_method(method)
    img = check_image(image)
    if method == "none":
        return img.astype(np.float32, copy=False)
    if breast is None:
        breast = standardize_breast_mask(img)
    breast = np.asarray(breast, dtype=bool)
    if breast.shape != img.shape:
        raise ValueError(f"breast mask shape {breast.shape} differs from image shape {img.shape}")
    if not breast.any():
        breast = np.ones(img.shape, bool)
    img = img.astype(np.float64)
    m = float(np.median(img[breast]))
    if method == "equalize":
        levels, noise = noise_curve(img, breast)
        s = float(np.median(noise))
    else:
        s = fine_scale_noise(img, breast)
    if method == "noise_psd" and source_spacing is not None:
        s = s / resampling_noise_factor(source_spacing)
    if not s > 0:
        raise ValueError(f"cannot standardise: fine-scale noise is {s:g} inside the breast "
                         f"(constant image? median {m:g})")
    if method == "equalize":
        x, g = equalizing_lut(levels, noise, img.min(), img.max())
        out = REFERENCE_LEVEL + REFERENCE_NOISE * (np.interp(img, x, g) - np.interp(m, x, g))
    else:
        out = REFERENCE_LEVEL + (img - m) * (REFERENCE_NOISE / s)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
