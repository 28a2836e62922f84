"""Random fields: power-law (``1/f**beta``) and oriented (fibrous) Gaussian textures."""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import ndimage as ndi

__all__ = ["powerlaw_field", "oriented_field", "smooth_profile"]


def _freq2(shape):
    fy = scipy.fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = scipy.fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    return fy, fx


def _filtered_noise(shape, rng, filt):
    white = rng.standard_normal(shape, dtype=np.float32)
    spec = scipy.fft.rfft2(white, workers=1)
    spec *= filt
    spec[0, 0] = 0
    out = scipy.fft.irfft2(spec, s=shape, workers=1)
    out /= out.std() + 1e-12
    return out.astype(np.float32, copy=False)


def powerlaw_field(shape, beta, rng, *, f_cut=None, f_min=None, dtype=np.float32):
    """Zero-mean, unit-variance Gaussian random field with power spectrum ``~ 1/f**beta``.

    Parameters
    ----------
    shape : tuple of int
    beta : float
        Spectral exponent (mammographic anatomy: about 2.5-3, Burgess et al. 2001).
    rng : numpy.random.Generator
    f_cut : float, optional
        If given (cycles/pixel), the spectrum is rolled off above it by
        ``exp(-(f / f_cut)**2)``.
    f_min : float, optional
        If given (cycles/pixel), the spectrum is flat below it (no power runaway at the
        largest scales).

    Returns
    -------
    field : ndarray
        Periodic field of the given shape.

    Notes
    -----
    White noise is filtered in the Fourier domain by ``|f|**(-beta/2)`` (the DC term set
    to zero), so the radially averaged power spectrum falls as ``f**-beta``.
    """
    fy, fx = _freq2(shape)
    f2 = fy * fy + fx * fx
    f2[0, 0] = 1.0
    if f_min is not None:
        f2 = np.maximum(f2, np.float32(f_min**2))
    filt = f2 ** np.float32(-beta / 4.0)
    if f_cut is not None:
        filt *= np.exp(-f2 / np.float32(f_cut**2))
    return _filtered_noise(shape, rng, filt).astype(dtype, copy=False)


def oriented_field(shape, gamma, rng, theta, *, anisotropy=6.0, f_lo=0.02, f_peak=None, n_orient=6):
    """Unit-variance Gaussian texture of strands oriented along a local angle field.

    Fibrous strands, Cooper's ligaments and muscle fibres are long and thin: their power
    lies across the strand. For each of `n_orient` directions a field is made whose
    spectrum is ``f**-gamma`` times a wedge around the direction *across* the strands; the
    fields are blended with weights ``cos**2`` of the difference between their direction
    and the local strand angle `theta`.

    Parameters
    ----------
    shape : tuple of int
    gamma : float
        Radial spectral exponent of the strands (about 2 for fine fibrous structure).
    rng : numpy.random.Generator
    theta : (H, W) array_like or float
        Local strand direction in radians (0 = along the columns).
    anisotropy : float
        Sharpness of the angular wedge (larger = longer, straighter strands).
    f_lo : float
        Below this frequency (cycles/pixel) the spectrum is flat.
    f_peak : float, optional
        If given (cycles/pixel), the radial power spectrum is the band-pass
        ``(f / f_peak)**2 * exp(1 - (f / f_peak)**2)`` instead of ``f**-gamma``: it peaks at
        `f_peak` (thin strands, width about ``1 / (2 pi f_peak)``) and carries no large-scale
        variance.
    n_orient : int
        Number of orientations blended.

    Returns
    -------
    field : (H, W) ndarray of float32
        Zero mean, unit variance.
    """
    fy, fx = _freq2(shape)
    f2 = np.maximum(fy * fy + fx * fx, np.float32(f_lo**2))
    if f_peak is None:
        radial = f2 ** np.float32(-gamma / 4.0)
    else:
        q = fy * fy + fx * fx
        q = q / np.float32(f_peak**2)
        radial = np.sqrt(q * np.exp(1 - q)).astype(np.float32)
    phi = np.arctan2(fy, fx)
    theta = np.broadcast_to(np.asarray(theta, np.float32), shape)
    out = np.zeros(shape, np.float32)
    wsum = np.zeros(shape, np.float32)
    for k in range(n_orient):
        ang = np.pi * k / n_orient
        # power concentrated at frequencies perpendicular to the strand direction `ang`
        wedge = np.exp(-anisotropy * np.cos(phi - ang) ** 2).astype(np.float32)
        fld = _filtered_noise(shape, rng, radial * wedge)
        w = (np.cos(theta - ang) ** 2) ** 4
        out += w * fld
        wsum += w * w
    out /= np.sqrt(wsum) + 1e-6
    out -= out.mean()
    return (out / (out.std() + 1e-12)).astype(np.float32)


def smooth_profile(rng, n, scale, corr):
    """Smooth random 1-D profile of length `n` (sd ~ `scale`, correlation length ~ `corr`)."""
    w = rng.standard_normal(n + 4 * int(corr) + 2)
    s = ndi.gaussian_filter1d(w, corr, mode="wrap")[2 * int(corr) + 1: 2 * int(corr) + 1 + n]
    return scale * s / (s.std() + 1e-12)
