"""Acquisition physics and vendor looks.

Detector blur, quantum and electronic noise, tone curve, bit depth, and what real files carry
outside the breast (labels, markers, collimation).

The detector sees the projected attenuation ``s`` (:mod:`~hdogreg.data.synth.anatomy`; air
0, fat about 0.35). Per image the vendor's ranges give one :class:`Acquisition`:

* detector MTF: Gaussian blur of ``s`` with ``mtf_sigma`` px;
* noise: ``s + sqrt(s / quanta + electronic**2) * n``, a Poisson-Gaussian model whose
  variance grows linearly with the signal (:func:`noise_sd`); ``n`` is unit-variance noise
  with a Gaussian correlation of ``nps_sigma`` px (:func:`correlated_noise`), white for a
  direct (a-Se) detector, correlated for an indirect (CsI) one or film grain;
* the vendor look (:func:`apply_tone`): ``linear`` (raw-like, INbreast's 14-bit levels:
  breast at 0.06-0.2 of full scale), ``sigmoid`` (processed, Hologic-like), ``log``
  (processed, GE-like) or ``film`` (digitised film, H&D curve);
* quantisation to ``bits``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.special import expit

__all__ = ["Vendor", "VENDORS", "Acquisition", "draw_acquisition", "noise_sd", "correlated_noise",
           "apply_tone", "tone_slope", "acquire", "quantise", "burn_in", "GLYPHS"]


@dataclass(frozen=True)
class Vendor:
    """Acquisition 'look' of one kind of system: ranges from which each image draws.

    Ranges are ``(low, high)``; ``quanta`` is drawn log-uniformly, the rest uniformly.
    """

    name: str
    manufacturer: str
    bits: int
    tone: str                  # "linear", "sigmoid", "log" or "film"
    mtf_sigma: tuple           # detector blur, px
    nps_sigma: tuple           # noise correlation, px (0 = white)
    quanta: tuple              # quanta per unit attenuation signal (dose)
    electronic: tuple          # electronic noise sd, attenuation units
    gain: tuple                # stored value (fraction of full scale) per attenuation unit
    offset: tuple              # stored value of air
    tone_centre: tuple = (0.0, 0.0)
    tone_width: tuple = (1.0, 1.0)
    grain: tuple = (0.0, 0.0)  # film grain sd (fraction of full scale)


VENDORS = {
    # INbreast (Siemens MammoNovation, a-Se, 14-bit): raw-like linear look, breast at
    # 0.08-0.16 of full scale and MC peaks at 0.10-0.24 (measured on real INbreast files)
    "siemens": Vendor("siemens", "SIEMENS (synthetic)", 14, "linear", mtf_sigma=(0.35, 0.6),
                      nps_sigma=(0.35, 0.65), quanta=(2500.0, 8000.0), electronic=(0.001, 0.003),
                      gain=(0.22, 0.32), offset=(0.0, 0.004)),
    # Hologic Selenia (a-Se, 12-bit), processed: sigmoid tone
    "hologic": Vendor("hologic", "HOLOGIC (synthetic)", 12, "sigmoid", mtf_sigma=(0.45, 0.7),
                      nps_sigma=(0.0, 0.35), quanta=(1200.0, 5000.0), electronic=(0.001, 0.003),
                      gain=(0.9, 1.1), offset=(0.0, 0.02), tone_centre=(0.33, 0.43),
                      tone_width=(0.13, 0.19)),
    # GE (CsI indirect, 14-bit), processed: logarithmic tone, correlated noise
    "ge": Vendor("ge", "GE MEDICAL SYSTEMS (synthetic)", 14, "log", mtf_sigma=(0.7, 1.0),
                 nps_sigma=(0.5, 0.8), quanta=(1500.0, 6000.0), electronic=(0.001, 0.003),
                 gain=(0.9, 1.1), offset=(0.0, 0.02), tone_centre=(6.0, 14.0)),
    # digitised screen-film (12-bit): H&D characteristic curve, screen blur, film grain
    "film": Vendor("film", "FILM DIGITIZER (synthetic)", 12, "film", mtf_sigma=(0.8, 1.2),
                   nps_sigma=(0.4, 0.7), quanta=(2500.0, 9000.0), electronic=(0.0005, 0.0015),
                   gain=(0.9, 1.1), offset=(0.0, 0.02), tone_centre=(0.28, 0.36),
                   tone_width=(0.09, 0.13), grain=(0.004, 0.009)),
}


@dataclass(frozen=True)
class Acquisition:
    """The acquisition parameters of one image (drawn from a :class:`Vendor`)."""

    vendor: str
    bits: int
    tone: str
    mtf_sigma: float
    nps_sigma: float
    quanta: float
    electronic: float
    gain: float
    offset: float
    tone_centre: float = 0.0
    tone_width: float = 1.0
    grain: float = 0.0


def draw_acquisition(vendor, rng):
    """One image's :class:`Acquisition`, drawn from the ranges of `vendor`."""
    v = VENDORS[vendor] if isinstance(vendor, str) else vendor

    def uni(rg):
        return float(rng.uniform(*rg)) if rg[1] > rg[0] else float(rg[0])

    quanta = float(np.exp(rng.uniform(np.log(v.quanta[0]), np.log(v.quanta[1]))))
    return Acquisition(v.name, v.bits, v.tone, uni(v.mtf_sigma), uni(v.nps_sigma), quanta,
                       uni(v.electronic), uni(v.gain), uni(v.offset), uni(v.tone_centre),
                       uni(v.tone_width), uni(v.grain))


def noise_sd(signal, acq):
    """Noise sd at a given attenuation signal: ``sqrt(signal / quanta + electronic**2)``.

    The variance is linear in the signal (quantum noise) plus a constant (electronic).
    """
    s = np.clip(np.asarray(signal, np.float32), 0, None)
    return np.sqrt(s / np.float32(acq.quanta) + np.float32(acq.electronic) ** 2)


def correlated_noise(shape, rng, sigma):
    """Unit-variance Gaussian noise with Gaussian correlation `sigma` px (0: white).

    White noise is filtered in the Fourier domain so that its noise power spectrum is
    ``exp(-(2 pi sigma f)**2)`` (f in cycles/px), then scaled to unit pixel variance.
    """
    n = rng.standard_normal(shape, dtype=np.float32)
    if sigma <= 0:
        return n
    import scipy.fft

    fy = scipy.fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = scipy.fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    amp = np.exp(-0.5 * (2 * np.pi * np.float32(sigma)) ** 2 * (fy * fy + fx * fx)).astype(np.float32)
    out = scipy.fft.irfft2(scipy.fft.rfft2(n, workers=1) * amp, s=shape, workers=1)
    # expected variance: mean of amp**2 over the full (two-sided) frequency grid
    full_y = scipy.fft.fftfreq(shape[0])[:, None]
    full_x = scipy.fft.fftfreq(shape[1])[None, :]
    var = float(np.mean(np.exp(-(2 * np.pi * sigma) ** 2 * (full_y**2 + full_x**2))))
    return (out / np.sqrt(var)).astype(np.float32)


def apply_tone(v, acq):
    """Map the linear detector value ``v = offset + gain * s`` to stored [0, 1] values."""
    v = np.asarray(v, np.float32)
    if acq.tone == "linear":
        return v
    if acq.tone == "sigmoid":
        c, w = acq.tone_centre, acq.tone_width
        lo, hi = expit(-c / w), expit((1 - c) / w)
        return ((expit((v - c) / w) - lo) / (hi - lo)).astype(np.float32)
    if acq.tone == "log":
        k = acq.tone_centre
        return (np.log1p(k * np.clip(v, 0, None)) / np.log1p(k)).astype(np.float32)
    if acq.tone == "film":
        c, w = acq.tone_centre, acq.tone_width
        return (0.04 + 0.9 * expit((v - c) / w)).astype(np.float32)
    raise ValueError(f"unknown tone {acq.tone!r}")


def tone_slope(v, acq, eps=1e-3):
    """d(stored)/d(v) of :func:`apply_tone` (central difference)."""
    v = np.asarray(v, np.float32)
    return (apply_tone(v + eps, acq) - apply_tone(v - eps, acq)) / np.float32(2 * eps)


def acquire(signal, acq, rng, *, noise=None):
    """Detector blur, noise and tone: attenuation `signal` -> stored values in [0, 1].

    Parameters
    ----------
    signal : (H, W) ndarray
        Projected attenuation (noise-free).
    acq : Acquisition
    rng : numpy.random.Generator
    noise : (H, W) ndarray, optional
        Unit-variance noise field to use (default: drawn with :func:`correlated_noise`);
        passing the same field renders the same noise realisation twice.

    Returns
    -------
    stored : (H, W) ndarray of float32
        Not yet clipped or quantised.
    """
    blurred = ndi.gaussian_filter(np.asarray(signal, np.float32), acq.mtf_sigma, truncate=3.0)
    if noise is None:
        noise = correlated_noise(blurred.shape, rng, acq.nps_sigma)
    noisy = blurred + noise_sd(blurred, acq) * noise
    out = apply_tone(np.float32(acq.offset) + np.float32(acq.gain) * noisy, acq)
    if acq.grain > 0:
        out = out + np.float32(acq.grain) * correlated_noise(out.shape, rng, 0.6)
    return out


def quantise(stored, bits):
    """Clip to [0, 1] and round to ``bits``-bit integers (uint16)."""
    scale = 2**bits - 1
    return np.rint(np.clip(stored, 0, 1) * scale).astype(np.uint16)


#: 5 x 7 bitmaps of the letters burnt into mammogram labels.
GLYPHS = {
    "L": ["10000"] * 6 + ["11111"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "C": ["01111", "10000", "10000", "10000", "10000", "10000", "01111"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
}


def _text(word, height_px):
    rows = []
    for ch in word:
        g = np.array([[int(b) for b in line] for line in GLYPHS.get(ch, GLYPHS["O"])], bool)
        rows.append(np.pad(g, ((0, 0), (0, 1))))
    bitmap = np.concatenate(rows, axis=1)
    k = max(int(round(height_px / 7)), 1)
    return np.kron(bitmap, np.ones((k, k), bool))


def burn_in(stored, rng, breast, spacing, *, label="", p_label=0.6, p_marker=0.25, p_collimation=0.35):
    """Add what real files carry outside the breast: a burnt-in label, markers, collimation.

    Parameters
    ----------
    stored : (H, W) ndarray
        Stored values in [0, 1] (modified copy returned).
    breast : (H, W) bool ndarray
        The breast region (labels and markers are placed away from it).
    label : str
        Text of the label (e.g. "LCC"); letters L, R, C, M, O.

    Returns
    -------
    out : ndarray
    added : dict
        ``label``, ``marker``, ``collimation`` (bool masks of what was added; all False
        when nothing was).
    """
    out = np.array(stored, np.float32, copy=True)
    H, W = out.shape
    away = ~ndi.binary_dilation(breast, iterations=max(int(3 / spacing), 1))
    added = {k: np.zeros((H, W), bool) for k in ("label", "marker", "collimation")}
    if label and rng.random() < p_label:
        bm = _text(label, rng.uniform(3.0, 6.0) / spacing)
        h, w = bm.shape
        if h < H // 3 and w < W // 2:
            for _ in range(20):
                r = int(rng.integers(2, H - h - 2))
                c = int(rng.integers(2, W - w - 2))
                if away[r:r + h, c:c + w].all():
                    out[r:r + h, c:c + w][bm] = np.float32(rng.uniform(0.85, 1.0))
                    added["label"][r:r + h, c:c + w] = bm
                    break
    if rng.random() < p_marker:
        rad = rng.uniform(0.8, 1.6) / spacing
        for _ in range(20):
            r, c = rng.uniform(rad + 2, H - rad - 2), rng.uniform(rad + 2, W - rad - 2)
            yy, xx = np.ogrid[:H, :W]
            disk = (yy - r) ** 2 + (xx - c) ** 2 <= rad**2
            if away[disk].all():
                out[disk] = np.float32(rng.uniform(0.9, 1.0))
                added["marker"] = disk
                break
    if rng.random() < p_collimation:
        width = int(max(rng.uniform(1.0, 5.0) / spacing, 2))
        band = np.zeros((H, W), bool)
        if rng.random() < 0.5:
            band[:width] = True
        else:
            band[-width:] = True
        out[band] = np.float32(rng.uniform(0.9, 1.0))
        added["collimation"] = band
    return out, added
