"""Intensity perturbations of a mammogram: what vendors, processing and file export do to it.

Two uses, one set of functions:

* the robustness study (:mod:`hdogreg.robustness`, ``notebooks/robustness.py``) applies the
  named perturbations of :data:`PERTURBATIONS` to the test split;
* domain randomisation in training (:func:`random_look`) draws a random combination per
  image - window, gamma, bit depth, extra noise and blur - on top of the generator's vendor
  looks.

Every function maps a float image in [0, 1] (the package's scale, ``raw / (2**bits - 1)``) to
another one in [0, 1]: a stored image cannot leave its range, so values are clipped where a
real file would saturate.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._utils import check_image, robust_sd

__all__ = ["scale_offset", "apply_gamma", "quantize", "window", "export_8bit", "PERTURBATIONS",
           "perturb", "random_look"]


def scale_offset(image, a=1.0, b=0.0):
    """``clip(a * image + b, 0, 1)``: a gain and an offset (another detector, another export).

    Examples
    --------
    >>> scale_offset(np.array([[0.1, 0.5]]), 4).tolist()
    [[0.4, 1.0]]
    """
    if not a > 0:
        raise ValueError(f"a must be > 0, got {a}")
    return np.clip(a * check_image(image) + b, 0.0, 1.0)


def apply_gamma(image, gamma):
    """``clip(image, 0, 1) ** gamma``: a tone curve (processing; < 1 brightens, > 1 darkens).

    Examples
    --------
    >>> apply_gamma(np.array([[0.25, 1.0]]), 0.5).tolist()
    [[0.5, 1.0]]
    """
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    return np.clip(check_image(image), 0.0, 1.0) ** gamma


def quantize(image, bits):
    """Round to ``bits``-bit levels: ``round(clip(image, 0, 1) * (2**bits - 1)) / (2**bits - 1)``.

    Examples
    --------
    >>> quantize(np.array([[0.1, 0.51]]), 1).tolist()
    [[0.0, 1.0]]
    """
    if int(bits) != bits or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer in 1..16, got {bits}")
    top = float(2 ** int(bits) - 1)
    return np.round(np.clip(check_image(image), 0.0, 1.0) * top) / top


def window(image, low, high):
    """Window/level: map ``[low, high]`` linearly onto [0, 1], clipping outside.

    Examples
    --------
    >>> window(np.array([[0.1, 0.15, 0.3]]), 0.1, 0.2).round(6).tolist()
    [[0.0, 0.5, 1.0]]
    """
    if not high > low:
        raise ValueError(f"window needs high > low, got [{low}, {high}]")
    return np.clip((check_image(image) - low) / (high - low), 0.0, 1.0)


def _breast(image, breast):
    if breast is not None:
        breast = np.asarray(breast, bool)
        if breast.shape != image.shape:
            raise ValueError(f"breast mask shape {breast.shape} differs from image shape {image.shape}")
        return breast
    from .standardize import standardize_breast_mask

    return standardize_breast_mask(image)


def export_8bit(image, breast=None, *, low=0.5, high=99.9):
    """Export to 8 bits: window to the breast's ``[low, high]`` percentiles, quantise to 256 levels.

    What a PACS or viewer writes to PNG/JPEG: the display window set to the breast (not the
    detector's full range, which would leave the breast a few dozen grey levels), then 8 bits.

    Parameters
    ----------
    image : (H, W) array_like
    breast : (H, W) array_like of bool, optional
        Default :func:`hdogreg.standardize.standardize_breast_mask`.
    low, high : float
        Percentiles of the breast intensities mapped to 0 and 1.

    Returns
    -------
    out : (H, W) ndarray of float64, 256 levels in [0, 1]
    """
    img = check_image(image)
    b = _breast(img, breast)
    values = img[b] if b.any() else img.ravel()
    lo, hi = np.percentile(values, [low, high])
    if not hi > lo:
        hi = lo + 1e-6
    return quantize(window(img, lo, hi), 8)


#: The named perturbations of the robustness study (issue 13): ``name -> f(image, breast)``.
PERTURBATIONS = {
    "original": lambda x, breast=None: check_image(x),
    "x0.25": lambda x, breast=None: scale_offset(x, 0.25),
    "x4": lambda x, breast=None: scale_offset(x, 4.0),
    "offset+0.05": lambda x, breast=None: scale_offset(x, 1.0, 0.05),
    "gamma0.7": lambda x, breast=None: apply_gamma(x, 0.7),
    "gamma1.4": lambda x, breast=None: apply_gamma(x, 1.4),
    "12bit": lambda x, breast=None: quantize(x, 12),
    "8bit": lambda x, breast=None: export_8bit(x, breast),
}


def perturb(image, name, breast=None):
    """Apply the perturbation `name` of :data:`PERTURBATIONS` (float32 result).

    Examples
    --------
    >>> perturb(np.full((2, 2), 0.2), "x4").max()
    np.float32(0.8)
    """
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; expected one of {list(PERTURBATIONS)}")
    return np.asarray(PERTURBATIONS[name](image, breast), np.float32)


def random_look(image, rng, *, breast=None, p_window=0.5, gamma=(0.6, 1.6), p_gamma=0.6,
                bits=(8, 10, 12, 14, 16), p_bits=0.5, noise=(0.0, 1.0), p_noise=0.3,
                blur=(0.3, 1.0), p_blur=0.3):
    """Domain randomisation: a random window, tone, bit depth, dose and blur for one image.

    Each step is applied with its probability, in acquisition order: blur (a softer MTF or a
    resampled image), extra noise (a lower dose), a display window on the breast, a gamma
    tone curve, and quantisation to a bit depth.

    Parameters
    ----------
    image : (H, W) array_like
        Float image in [0, 1].
    rng : numpy.random.Generator
    breast : (H, W) array_like of bool, optional
        Breast mask (default :func:`hdogreg.standardize.standardize_breast_mask`), for the
        window percentiles and the noise level.
    p_window : float
        Probability of windowing to breast percentiles (low in 0-2 %, high in 99-100 %).
    gamma, p_gamma : (float, float), float
        Log-uniform gamma range and its probability.
    bits, p_bits : sequence of int, float
        Bit depths drawn uniformly and the probability of quantising.
    noise, p_noise : (float, float), float
        Extra white Gaussian noise, sd as a multiple of the image's pixel noise (robust sd
        of ``image - G(image, 1 px)`` in the breast), and its probability.
    blur, p_blur : (float, float), float
        Gaussian blur sigma range (px) and its probability.

    Returns
    -------
    out : (H, W) ndarray of float32 in [0, 1]

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = np.clip(rng.normal(0.2, 0.01, (64, 64)), 0, 1)
    >>> out = random_look(img, rng, breast=np.ones((64, 64), bool))
    >>> out.dtype.name, bool(0 <= out.min() and out.max() <= 1)
    ('float32', True)
    """
    img = np.clip(check_image(image).astype(np.float64), 0.0, 1.0)
    b = _breast(img, breast)
    if not b.any():
        b = np.ones(img.shape, bool)
    if rng.random() < p_blur:
        img = ndi.gaussian_filter(img, float(rng.uniform(*blur)))
    if rng.random() < p_noise:
        fine = img - ndi.gaussian_filter(img, 1.0)
        sd = robust_sd(fine[b])
        img = np.clip(img + rng.normal(0.0, 1.0, img.shape) * sd * float(rng.uniform(*noise)), 0, 1)
    if rng.random() < p_window:
        lo, hi = np.percentile(img[b], [rng.uniform(0, 2), rng.uniform(99, 100)])
        if hi > lo:
            img = window(img, lo, hi)
    if rng.random() < p_gamma:
        g = float(np.exp(rng.uniform(np.log(gamma[0]), np.log(gamma[1]))))
        img = apply_gamma(img, g)
    if rng.random() < p_bits:
        img = quantize(img, int(rng.choice(np.asarray(bits))))
    return img.astype(np.float32)
