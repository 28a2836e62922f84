"""Realism estimators: the measurements that compare a mammogram set with real mammograms.

These are the estimators with which the targets in :mod:`hdogreg.data.real_targets` were
measured on real images. All work at a common spacing of 0.14 mm, so that images of
different detectors compare:

* :func:`spectrum_realism` - power-law slope of the breast-interior power spectrum at low
  frequency (``beta``), at high frequency (``beta_hi``) and the high-frequency excess over
  the low-frequency power law (``excess``, dex);
* :func:`dog_snr` - how far annotated MCs stand above the fine-scale background
  (``snr``), and how heavy that background's tail is (``bg_tail``);
* :func:`realism_summary` - both over a set of images, in one row.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .._utils import robust_sd

__all__ = ["REALISM_SPACING", "resample_to", "realism_breast_mask", "radial_power",
           "spectrum_stats", "spectrum_realism", "mean_spectrum", "target_spectrum", "fine_scale_dog",
           "dog_snr", "breast_level", "realism_summary",
           "annotation_summary"]

#: Spacing (mm) at which all realism statistics are measured.
REALISM_SPACING = 0.14
LOW_BAND = (0.15, 1.0)    # cycles/mm
HIGH_BAND = (1.5, 3.4)    # cycles/mm


def resample_to(image, pixel_spacing, target=REALISM_SPACING):
    """Resample an image to `target` mm per pixel.

    An integer ratio (0.07 -> 0.14 mm) is an ``n x n`` block mean, as the estimator was
    defined; other ratios use anti-aliased interpolation (:func:`skimage.transform.rescale`).

    Parameters
    ----------
    image : (H, W) array_like
    pixel_spacing : float
        mm per pixel of `image`.
    target : float
        mm per pixel wanted.

    Returns
    -------
    out : ndarray of float64
    factor : float
        ``target / pixel_spacing`` (input pixels per output pixel).
    """
    if not (pixel_spacing > 0 and target > 0):
        raise ValueError(f"spacings must be > 0, got pixel_spacing={pixel_spacing}, target={target}")
    img = np.asarray(image, dtype=np.float64)
    factor = target / pixel_spacing
    n = int(round(factor))
    if n >= 1 and abs(factor - n) < 1e-6:
        if n == 1:
            return img.copy(), 1.0
        H, W = (img.shape[0] // n) * n, (img.shape[1] // n) * n
        return img[:H, :W].reshape(H // n, n, W // n, n).mean(axis=(1, 3)), float(n)
    from skimage.transform import rescale

    return rescale(img, 1.0 / factor, order=1, anti_aliasing=factor > 1, mode="reflect",
                   preserve_range=True), float(factor)


def realism_breast_mask(image, fraction=0.35):
    """Breast pixels as the estimator defines them: above ``min + fraction * (p99 - min)``.

    The 99th percentile is taken over the breast found by :func:`hdogreg.breast.breast_mask`,
    and only pixels inside it count, so that burnt-in labels and collimation bands (absent
    from the real images the targets were measured on) do not move the threshold.
    """
    from ..breast import breast_mask

    img = np.asarray(image, dtype=np.float64)
    breast = breast_mask(img)
    lo, hi = float(img.min()), float(np.percentile(img[breast], 99))
    return breast & (img > lo + fraction * (hi - lo))


def radial_power(patch, pixel_spacing):
    """Radially averaged power spectrum of one square patch (mean removed, Hann window).

    Parameters
    ----------
    patch : (N, N) array_like
    pixel_spacing : float
        mm per pixel.

    Returns
    -------
    freq : ndarray
        Bin centres in cycles/mm (DC excluded, up to the Nyquist frequency).
    power : ndarray
        Mean ``|FFT|**2`` per bin.
    """
    p = np.asarray(patch, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"patch must be square, got shape {p.shape}")
    n = p.shape[0]
    win = np.outer(np.hanning(n), np.hanning(n))
    spec = np.abs(np.fft.fft2((p - p.mean()) * win)) ** 2
    f = np.fft.fftfreq(n)
    idx = np.rint(np.hypot(f[:, None], f[None, :]) * n).astype(int)
    nb = n // 2
    keep = (idx > 0) & (idx <= nb)
    power = np.bincount(idx[keep], weights=spec[keep], minlength=nb + 1)
    count = np.bincount(idx[keep], minlength=nb + 1)
    k = np.arange(1, nb + 1)
    return k / n / pixel_spacing, power[1:] / np.maximum(count[1:], 1)


def _fit(freq, power, band):
    sel = (freq >= band[0]) & (freq <= band[1]) & (power > 0)
    if sel.sum() < 3:
        raise ValueError(f"fewer than 3 frequency bins in {band} cycles/mm")
    slope, icpt = np.polyfit(np.log(freq[sel]), np.log(power[sel]), 1)
    return -slope, icpt, sel


def spectrum_stats(freq, power):
    """``beta``, ``beta_hi`` and ``excess`` of one radial spectrum.

    ``beta`` is minus the log-log slope over 0.15-1.0 cycles/mm, ``beta_hi`` the same over
    1.5-3.4 cycles/mm, and ``excess = log10(mean P over 1.5-3.4 / mean of the 0.15-1.0 power
    law extrapolated there)``.
    """
    freq, power = np.asarray(freq, float), np.asarray(power, float)
    beta, icpt, _ = _fit(freq, power, LOW_BAND)
    beta_hi, _, sel = _fit(freq, power, HIGH_BAND)
    law = np.exp(icpt) * freq[sel] ** -beta
    excess = float(np.log10(power[sel].mean() / law.mean()))
    return {"beta": float(beta), "beta_hi": float(beta_hi), "excess": excess}


def _spectrum_squares(image, pixel_spacing, *, n_squares=6, square_mm=25.6, seed=0, mask=None):
    """Return the image at 0.14 mm and up to `n_squares` random squares fully inside the breast."""
    img, _ = resample_to(image, pixel_spacing)
    if mask is None:
        m = realism_breast_mask(img)
    else:
        m = resample_to(np.asarray(mask, float), pixel_spacing)[0] > 0.999
    side = int(round(square_mm / REALISM_SPACING))
    corners = _square_corners(m, side)
    if len(corners) == 0:
        return img, []
    rng = np.random.default_rng(seed)
    pick = corners[rng.choice(len(corners), size=min(n_squares, len(corners)), replace=False)]
    return img, [img[r:r + side, c:c + side] for r, c in pick]


def spectrum_realism(image, pixel_spacing, *, n_squares=6, square_mm=25.6, seed=0, mask=None):
    """Spectral realism of one mammogram: median ``beta``, ``beta_hi``, ``excess``.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram, breast bright (any linear intensity scale: the statistics are ratios).
    pixel_spacing : float
        mm per pixel.
    n_squares : int
        Up to this many random squares are used.
    square_mm : float
        Side of the squares (25.6 mm: 183 px at 0.14 mm).
    seed : int
        Seed of the random choice of squares.
    mask : (H, W) array_like of bool, optional
        Breast region at the input spacing; default :func:`realism_breast_mask`.

    Returns
    -------
    dict
        ``beta, beta_hi, excess`` (medians over squares, NaN if no square fits) and
        ``n_squares`` used.

    Notes
    -----
    The image is resampled to 0.14 mm (:func:`resample_to`); squares of `square_mm` lying
    fully inside the breast are drawn at random; each gets a Hann-windowed radial power
    spectrum (:func:`radial_power`) and the statistics of :func:`spectrum_stats`.
    """
    _, squares = _spectrum_squares(image, pixel_spacing, n_squares=n_squares, square_mm=square_mm,
                                   seed=seed, mask=mask)
    out = {"beta": np.nan, "beta_hi": np.nan, "excess": np.nan, "n_squares": len(squares)}
    if not squares:
        return out
    rows = [spectrum_stats(*radial_power(sq, REALISM_SPACING)) for sq in squares]
    for key in ("beta", "beta_hi", "excess"):
        out[key] = float(np.median([row[key] for row in rows]))
    return out


def mean_spectrum(image, pixel_spacing, **kwargs):
    """Mean radial power spectrum over the squares of :func:`spectrum_realism`.

    Returns
    -------
    freq, power : ndarray
        cycles/mm and mean power; both empty if no square fits.
    """
    _, squares = _spectrum_squares(image, pixel_spacing, **kwargs)
    if not squares:
        return np.empty(0), np.empty(0)
    spectra = [radial_power(sq, REALISM_SPACING) for sq in squares]
    return spectra[0][0], np.mean([p for _, p in spectra], axis=0)


def target_spectrum(freq, beta, beta_hi, excess, *, f_ref=0.5):
    """Return a reference spectrum with given ``beta``, ``beta_hi`` and ``excess`` (1 at `f_ref`).

    Below 1.0 cycles/mm it is the power law ``(f / f_ref)**-beta``; from 1.5 cycles/mm on a
    power law of slope ``-beta_hi`` whose mean over 1.5-3.4 cycles/mm lies `excess` dex above
    the low-frequency law extrapolated there; in between NaN (not constrained). Used to
    draw the real targets beside measured spectra.
    """
    f = np.asarray(freq, float)
    low = (f / f_ref) ** -beta
    hi_band = np.linspace(*HIGH_BAND, 64)
    law_mean = np.mean((hi_band / f_ref) ** -beta)
    shape_mean = np.mean(hi_band ** -beta_hi)
    high = f ** -beta_hi * (10**excess * law_mean / shape_mean)
    out = np.full_like(f, np.nan)
    out[f <= LOW_BAND[1]] = low[f <= LOW_BAND[1]]
    out[f >= HIGH_BAND[0]] = high[f >= HIGH_BAND[0]]
    return out


def _square_corners(mask, side):
    """Top-left corners (r, c) of all side x side squares lying fully inside `mask`."""
    H, W = mask.shape
    if H < side or W < side:
        return np.empty((0, 2), int)
    ii = np.zeros((H + 1, W + 1), np.int64)
    ii[1:, 1:] = np.cumsum(np.cumsum(mask, 0), 1)
    s = ii[side:, side:] - ii[:-side, side:] - ii[side:, :-side] + ii[:-side, :-side]
    return np.argwhere(s == side * side)


def fine_scale_dog(image_014, sigma=0.6, ratio=1.6):
    """``G(sigma) - G(ratio * sigma)`` of an image at 0.14 mm: the scale of a small MC."""
    img = np.asarray(image_014, dtype=np.float64)
    return ndi.gaussian_filter(img, sigma) - ndi.gaussian_filter(img, ratio * sigma)


def dog_snr(image, pixel_spacing, centroids=(), *, erode_px=15, mask=None):
    """DoG-SNR of annotated MCs and the tail of the fine-scale background.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram, MCs bright.
    pixel_spacing : float
        mm per pixel of `image`.
    centroids : (n, 2) array_like
        Annotated MC centroids (row, col) in `image` pixels.
    erode_px : int
        The breast interior is the breast mask eroded by this many pixels at 0.14 mm.
    mask : (H, W) array_like of bool, optional
        Breast region at the input spacing; default :func:`realism_breast_mask`.

    Returns
    -------
    dict
        ``snr`` (array, one per centroid: max of the DoG in the 3 x 3 window at the centroid
        over the robust background sd), ``bg_tail`` (p99.9 of the DoG over the interior in
        the same units), ``sd`` (``1.4826 * MAD`` of the DoG over the interior).

    Raises
    ------
    ValueError
        If the eroded breast interior is empty, or the DoG is constant on it.
    """
    img, factor = resample_to(image, pixel_spacing)
    if mask is None:
        m = realism_breast_mask(img)
    else:
        m = resample_to(np.asarray(mask, float), pixel_spacing)[0] > 0.5
    interior = ndi.binary_erosion(m, iterations=erode_px) if erode_px else m
    if not interior.any():
        raise ValueError(f"no breast interior left after eroding by {erode_px} px at 0.14 mm")
    d = fine_scale_dog(img)
    vals = d[interior]
    sd = robust_sd(vals)
    if not sd > 0:
        raise ValueError(f"the fine-scale DoG is constant over the breast interior ({vals.size} px at "
                         "0.14 mm): no background sd")
    dmax = ndi.maximum_filter(d, size=3)
    cen = np.asarray(centroids, float).reshape(-1, 2) / factor
    r = np.clip(np.floor(cen[:, 0]).astype(int), 0, d.shape[0] - 1)
    c = np.clip(np.floor(cen[:, 1]).astype(int), 0, d.shape[1] - 1)
    return {"snr": dmax[r, c] / sd, "bg_tail": float(np.percentile(vals, 99.9)) / sd, "sd": sd}


def breast_level(image, mask=None):
    """Median intensity inside the breast (default mask: :func:`realism_breast_mask`)."""
    img = np.asarray(image, dtype=np.float64)
    m = realism_breast_mask(img) if mask is None else np.asarray(mask, bool)
    return float(np.median(img[m]))


def realism_summary(mammograms, *, seed=0):
    """Realism statistics of a set of mammograms, as the real targets were measured.

    Parameters
    ----------
    mammograms : iterable of :class:`hdogreg.data.Mammogram`
        Images on the ``raw / intensity_scale`` scale, with annotations.
    seed : int
        Seed for the choice of spectrum squares (per image ``seed + i``).

    Returns
    -------
    per_image : DataFrame
        One row per image: ``file_id, vendor, bits, beta, beta_hi, excess, n_squares,
        bg_tail, level, n_mcs``.
    snr : ndarray
        DoG-SNR of every annotated calcification, pooled over images (images whose eroded
        breast interior is empty have NaN ``bg_tail`` and contribute no SNR).
    """
    import pandas as pd

    rows, snrs = [], []
    for i, mg in enumerate(mammograms):
        spec = spectrum_realism(mg.image, mg.pixel_spacing, seed=seed + i)
        cen = np.array([a.centroid for a in mg.annotations]).reshape(-1, 2)
        try:
            ds = dog_snr(mg.image, mg.pixel_spacing, cen)
        except ValueError:  # breast too small for the 15-px interior: no DoG statistics
            ds = {"snr": np.full(len(cen), np.nan), "bg_tail": np.nan}
        snrs.append(ds["snr"][np.isfinite(ds["snr"])])
        rows.append({"file_id": mg.file_id, "vendor": mg.vendor,
                     "bits": int(round(np.log2(mg.intensity_scale + 1))), **spec,
                     "bg_tail": ds["bg_tail"], "level": breast_level(mg.image), "n_mcs": len(cen)})
    return pd.DataFrame(rows), (np.concatenate(snrs) if snrs else np.empty(0))



def annotation_summary(mammograms):
    """Return counts per image and contour sizes of the annotations, as measured on INbreast's files.

    Parameters
    ----------
    mammograms : iterable of :class:`hdogreg.data.Mammogram`

    Returns
    -------
    counts : ndarray of int
        Calcification annotations per image.
    n_points : int
        How many of them are single points.
    contours : DataFrame
        One row per contour: ``longest_side_px`` (longest side of its bounding box, pixels
        counted inclusively), ``area_mm2`` (polygon area at the image's spacing) and
        ``n_points`` (vertices).

    Examples
    --------
    >>> from hdogreg.data import Annotation, Mammogram
    >>> box = Annotation("contour", [[0, 0], [0, 9], [4, 9], [4, 0]])
    >>> mg = Mammogram(np.zeros((20, 20)), 0.1, "f", "p", "L", "CC",
    ...                [box, Annotation("point", [[8, 8]])], 1.0)
    >>> counts, n_points, contours = annotation_summary([mg])
    >>> counts.tolist(), n_points, contours.round(2).values.tolist()
    ([2], 1, [[10.0, 0.36, 4.0]])
    """
    import pandas as pd

    from .records import polygon_area

    counts, n_points, rows = [], 0, []
    for mg in mammograms:
        counts.append(len(mg.annotations))
        for a in mg.annotations:
            if a.kind == "point":
                n_points += 1
                continue
            extent = a.points.max(axis=0) - a.points.min(axis=0)
            rows.append({"longest_side_px": float(extent.max()) + 1,
                         "area_mm2": polygon_area(a.points) * mg.pixel_spacing**2,
                         "n_points": len(a.points)})
    return (np.array(counts, dtype=int), n_points,
            pd.DataFrame(rows, columns=["longest_side_px", "area_mm2", "n_points"]))
