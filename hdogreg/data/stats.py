"""Measurements on images used to check the synthetic benchmark against the literature."""

from __future__ import annotations

import numpy as np

__all__ = ["LITERATURE_BETA", "radial_power_spectrum", "fit_power_law", "spectral_slope",
           "breast_interior", "spectrum_summary", "measure_mcs"]

#: Power-law exponent of mammographic anatomical noise, P(f) ~ 1/f**beta
#: (Burgess, Jacobson & Judy 2001, Med Phys 28:419: beta = 2.8 +- 0.4).
LITERATURE_BETA = 3.0


def _patch_origins(shape, patch, mask, step):
    rows = range(0, shape[0] - patch + 1, step)
    cols = range(0, shape[1] - patch + 1, step)
    out = []
    for r in rows:
        for c in cols:
            if mask is None or mask[r:r + patch, c:c + patch].all():
                out.append((r, c))
    return out


def radial_power_spectrum(image, pixel_spacing=0.07, *, mask=None, patch=256):
    """Radially averaged power spectrum of an image (mean over windowed patches).

    Parameters
    ----------
    image : (H, W) array_like
    pixel_spacing : float
        mm per pixel; frequencies are returned in cycles/mm.
    mask : (H, W) array_like of bool, optional
        Only patches lying entirely inside the mask are used (e.g. the breast interior).
    patch : int
        Side of the square patches (Hann-windowed, mean removed).

    Returns
    -------
    freq : ndarray
        Bin centres in cycles/mm (excluding DC).
    power : ndarray
        Mean power per bin (arbitrary units).

    Raises
    ------
    ValueError
        If no patch fits (image too small or mask too small).
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {img.shape}")
    if pixel_spacing <= 0:
        raise ValueError(f"pixel_spacing must be > 0, got {pixel_spacing}")
    m = None if mask is None else np.asarray(mask, bool)
    origins = _patch_origins(img.shape, patch, m, patch // 2)
    if not origins:
        raise ValueError(f"no {patch}x{patch} patch fits inside the image/mask of shape {img.shape}")
    win = np.outer(np.hanning(patch), np.hanning(patch))
    acc = np.zeros((patch, patch))
    for r, c in origins:
        p = img[r:r + patch, c:c + patch]
        p = (p - p.mean()) * win
        acc += np.abs(np.fft.fft2(p)) ** 2
    acc /= len(origins)
    f = np.fft.fftfreq(patch)
    fr = np.hypot(f[:, None], f[None, :])
    nb = patch // 2
    idx = np.rint(fr * patch).astype(int)
    keep = (idx > 0) & (idx < nb)
    power = np.bincount(idx[keep], weights=acc[keep], minlength=nb) / np.maximum(
        np.bincount(idx[keep], minlength=nb), 1)
    k = np.arange(1, nb)
    return k / patch / pixel_spacing, power[1:]


def spectral_slope(image, pixel_spacing=0.07, *, f_range=(0.1, 0.6), mask=None, patch=256):
    """Exponent ``beta`` of a power-law fit ``P(f) ~ f**-beta`` of the radial spectrum.

    Parameters
    ----------
    f_range : (float, float)
        Fit range in cycles/mm (anatomical noise dominates there; above it quantum noise
        and the detector MTF flatten/steepen the spectrum).
    Other parameters as in :func:`radial_power_spectrum`.

    Returns
    -------
    beta : float
        Minus the slope of a least-squares line through ``log P`` vs ``log f``.

    Examples
    --------
    >>> from hdogreg.data.synth import powerlaw_field
    >>> img = powerlaw_field((512, 512), 3.0, np.random.default_rng(0))
    >>> round(spectral_slope(img, 0.07), 1)  # doctest: +SKIP
    3.0
    """
    freq, power = radial_power_spectrum(image, pixel_spacing, mask=mask, patch=patch)
    return fit_power_law(freq, power, f_range)[0]


def fit_power_law(freq, power, f_range=(0.1, 0.6)):
    """Least-squares fit of ``log P = log A - beta log f`` within `f_range`.

    Returns
    -------
    beta, log_amplitude : float
        So that the fitted line is ``exp(log_amplitude) * freq**-beta``.
    """
    freq, power = np.asarray(freq, float), np.asarray(power, float)
    sel = (freq >= f_range[0]) & (freq <= f_range[1]) & (power > 0)
    if sel.sum() < 3:
        raise ValueError(f"fewer than 3 frequency bins in f_range={tuple(f_range)} cycles/mm; "
                         "use larger patches or a wider range")
    slope, intercept = np.polyfit(np.log(freq[sel]), np.log(power[sel]), 1)
    return float(-slope), float(intercept)


def breast_interior(image, pixel_spacing=0.07, margin_mm=5.0):
    """Breast region (:func:`hdogreg.breast.breast_mask`) minus a `margin_mm` rim.

    The rim holds the skin line and the thickness fall-off, which are not texture.
    """
    from scipy import ndimage as ndi

    from ..breast import breast_mask

    mask = breast_mask(image)
    return ndi.distance_transform_edt(mask) > margin_mm / pixel_spacing


def spectrum_summary(mammogram, *, patch=256, f_range=(0.1, 0.6), margin_mm=5.0):
    """Power-law exponent of one mammogram's breast interior, as a table row.

    Returns
    -------
    dict
        ``file_id, view, vendor, beta, n_patches``; ``beta`` is NaN when no patch of
        the breast interior fits (small images).
    """
    interior = breast_interior(mammogram.image, mammogram.pixel_spacing, margin_mm)
    n = len(_patch_origins(interior.shape, patch, interior, patch // 2))
    beta = np.nan
    if n:
        beta = spectral_slope(mammogram.image, mammogram.pixel_spacing, f_range=f_range,
                              mask=interior, patch=patch)
    return {"file_id": mammogram.file_id, "view": mammogram.view, "vendor": mammogram.vendor,
            "beta": beta, "n_patches": n}


def measure_mcs(image, labels, pixel_spacing=0.07, *, ring=(3, 6)):
    """Size and contrast of each labelled calcification, measured on the image.

    Parameters
    ----------
    image : (H, W) ndarray
        [0, 1]-scaled mammogram.
    labels : (H, W) ndarray of int
        E.g. ``Mammogram.mc_labels()`` (point annotations are single pixels).
    ring : (int, int)
        Inner and outer radius (px) of the background ring around each object.

    Returns
    -------
    DataFrame
        ``mc_id, area_px, diameter_mm`` (equivalent diameter of the labelled region) and
        ``contrast`` = maximum within the object (grown by one pixel, so that point
        annotations reach the MC's peak) minus the median of the ring.
    """
    import pandas as pd
    from scipy import ndimage as ndi

    img = np.asarray(image, float)
    labels = np.asarray(labels)
    rows = []
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        pad = ring[1] + 1
        box = tuple(slice(max(s.start - pad, 0), s.stop + pad) for s in sl)
        obj = labels[box] == i
        dist = ndi.distance_transform_edt(~obj)
        core = dist <= 1.5
        bg = (dist > ring[0]) & (dist <= ring[1]) & (labels[box] == 0)
        area = int(obj.sum())
        contrast = float(img[box][core].max() - np.median(img[box][bg])) if bg.any() else np.nan
        rows.append({"mc_id": i, "area_px": area,
                     "diameter_mm": 2 * np.sqrt(area / np.pi) * pixel_spacing, "contrast": contrast})
    return pd.DataFrame(rows, columns=["mc_id", "area_px", "diameter_mm", "contrast"])
