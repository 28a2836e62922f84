"""Synthetic INbreast-format benchmark: mammograms with exactly known microcalcifications.

No mammogram data set can be downloaded where this project is built, so the book runs on
a deterministic generator. It writes the same on-disk layout as INbreast (``AllDICOMs/``,
``AllXML/``, ``INbreast.csv``) so that one reader serves both, and keeps the exact ground
truth beside it.

Image model (per view, linear "for presentation" units in [0, 1]; sizes in mm are
converted with the pixel spacing, 0.07 mm):

* breast outline (CC: half ellipse; MLO/ML: with axilla and a pectoral muscle triangle),
  compressed-thickness fall-off over the last ~7 mm, a brighter skin line, dark background;
* fibroglandular tissue: a power-law (``1/f**beta``, ``beta`` about 3) Gaussian field
  filtered through a soft threshold, denser in the central breast, density per case;
* bright curvilinear structures (ducts, vessels, trabeculae): random smooth curves of
  1-4 px width - a blob detector also fires on them;
* microcalcifications (MCs): clusters (round, linear, segmental) and singletons of
  punctate, amorphous (faint), pleomorphic and fine-linear/branching shapes of 0.1-1 mm,
  plus large benign calcifications (coarse/popcorn, vascular, rim); contrast drawn relative
  to the local background;
* Gaussian detector blur, Poisson (quantum) + Gaussian (electronic) noise, and a vendor
  look: 14-bit linear (Siemens-like, INbreast) or 12-bit with a sigmoid tone curve
  (Hologic-like, the paper's local data).

Annotations follow INbreast: MCs smaller than ~4-5 px across are single points, larger ones
contours (the outer boundary, rasterized as a filled polygon).
"""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft
from scipy import ndimage as ndi
from scipy.special import expit
from skimage import measure

from .records import Annotation, rasterize_polygon
from .splits import LOCAL_PROPORTIONS, PAPER_PROPORTIONS, make_splits

__all__ = ["GENERATOR_VERSION", "Preset", "PRESETS", "Vendor", "VENDORS", "MC_TYPES",
           "powerlaw_field", "breast_geometry", "synth_mammogram", "synth_magnification",
           "write_dicom", "write_inbreast_xml", "generate"]

GENERATOR_VERSION = "1.1"
SPACING = 0.07  # mm / pixel (INbreast, the paper)

MC_COLUMNS = ["mc_id", "kind", "type", "cluster_id", "row", "col", "x", "y", "area_px",
              "diameter_mm", "amplitude", "contrast"]

MC_TYPES = ("punctate", "amorphous", "pleomorphic", "linear",
            "benign-coarse", "benign-vascular", "benign-rim")


@dataclass(frozen=True)
class Vendor:
    """Acquisition 'look': bit depth, tone curve, blur and noise."""

    name: str
    manufacturer: str
    bits: int
    blur_sigma: float          # detector PSF, px
    counts: float              # quanta per unit signal (Poisson noise)
    electronic_sigma: float    # additive Gaussian noise, [0, 1] units
    tone: str                  # "linear" or "sigmoid"


VENDORS = {
    "siemens": Vendor("siemens", "SIEMENS (synthetic)", 14, 0.6, 40000.0, 0.0008, "linear"),
    "hologic": Vendor("hologic", "HOLOGIC (synthetic)", 12, 0.7, 25000.0, 0.0015, "sigmoid"),
}


@dataclass(frozen=True)
class Preset:
    """Sizes of a generated benchmark."""

    name: str
    n_cases: int                       # INbreast-like patients (Siemens look)
    shape: tuple                       # (rows, cols) of a mammogram
    views: tuple = ("CC", "MLO")       # views per case (one breast per case)
    n_local_cases: int = 20            # local set (Hologic look), 1-3 images each
    local_shape: tuple | None = None
    n_case_patients: int = 150         # case-study cohort
    n_case_rois: int = 180
    case_shape: tuple = (400, 400)
    magnification: float = 1.8


PRESETS = {
    "tiny": Preset("tiny", n_cases=6, shape=(320, 256), n_local_cases=3,
                   n_case_patients=10, n_case_rois=12, case_shape=(288, 288)),
    "default": Preset("default", n_cases=48, shape=(1000, 800), n_local_cases=20,
                      n_case_patients=150, n_case_rois=180),
    "full": Preset("full", n_cases=86, shape=(4084, 3328), n_local_cases=79, local_shape=(3328, 2560),
                   n_case_patients=248, n_case_rois=300, case_shape=(512, 512)),
}


# ----------------------------------------------------------------------------- texture
def powerlaw_field(shape, beta, rng, *, f_cut=None, dtype=np.float32):
    """Zero-mean, unit-variance Gaussian random field with power spectrum ``~ 1/f**beta``.

    Parameters
    ----------
    shape : tuple of int
    beta : float
        Spectral exponent (mammograms: about 3, Burgess et al. 2001).
    rng : numpy.random.Generator
    f_cut : float, optional
        If given (cycles/pixel), the spectrum is rolled off above it by
        ``exp(-(f / f_cut)**2)``: fine anatomical detail is lost to the detector MTF and
        buried in quantum noise in real mammograms.

    Returns
    -------
    field : ndarray
        Periodic field of the given shape.

    Notes
    -----
    White noise is filtered in the Fourier domain by ``|f|**(-beta/2)`` (the DC term set
    to zero), so the radially averaged power spectrum falls as ``f**-beta``.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    spec = scipy.fft.rfft2(white, workers=1)
    fy = scipy.fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = scipy.fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    f2 = fy * fy + fx * fx
    f2[0, 0] = 1.0
    filt = f2 ** np.float32(-beta / 4.0)
    if f_cut is not None:
        filt *= np.exp(-f2 / np.float32(f_cut**2))
    spec *= filt
    spec[0, 0] = 0
    out = scipy.fft.irfft2(spec, s=shape, workers=1)
    out /= out.std() + 1e-12
    return out.astype(dtype, copy=False)


def _smooth_1d(rng, n, scale, corr):
    """Smooth random 1-D profile of length n (std ~ scale, correlation length ~ corr)."""
    w = rng.standard_normal(n + 4 * int(corr) + 2)
    s = ndi.gaussian_filter1d(w, corr, mode="wrap")[2 * int(corr) + 1: 2 * int(corr) + 1 + n]
    return scale * s / (s.std() + 1e-12)


# ----------------------------------------------------------------------------- geometry
def breast_geometry(shape, view, rng, *, laterality="L"):
    """Breast region, pectoral region and gland envelope of one view.

    The chest wall is at column 0 for ``laterality="L"`` and at the last column for "R".

    Returns
    -------
    dict
        ``mask`` (bool breast incl. pectoral), ``pectoral`` (float 0..1 soft mask),
        ``envelope`` (float, where glandular tissue concentrates), ``nipple`` (row, col).
    """
    H, W = shape
    y = np.arange(H, dtype=np.float32)
    if view == "CC":
        rc = H * rng.uniform(0.45, 0.55)
        a = H * rng.uniform(0.36, 0.44)
        d = W * rng.uniform(0.66, 0.8)
        p = rng.uniform(1.8, 2.4)
        v = np.clip(np.abs(y - rc) / a, 0, 1)
        xb = d * (1 - v**p) ** (1 / p)
        xb[np.abs(y - rc) >= a] = -1
        nipple_r = rc
    else:
        top_w = W * rng.uniform(0.3, 0.42)
        ym = H * rng.uniform(0.5, 0.6)
        yb = H * rng.uniform(0.88, 0.96)
        d = W * rng.uniform(0.66, 0.8)
        p = rng.uniform(1.8, 2.4)
        up = top_w + (d - top_w) * np.sin(0.5 * np.pi * np.clip(y / ym, 0, 1)) ** 0.8
        t = np.clip((y - ym) / (yb - ym), 0, 1)
        low = d * (1 - t**p) ** (1 / p)
        xb = np.where(y < ym, up, low)
        xb[y >= yb] = -1
        nipple_r = ym
    xb = np.where(xb > 0, xb * (1 + _smooth_1d(rng, H, 0.015, H / 12)), xb).astype(np.float32)
    x = np.arange(W, dtype=np.float32)[None, :]
    mask = x < xb[:, None]
    pect = np.zeros(shape, np.float32)
    if view in ("MLO", "ML"):
        pw = W * (rng.uniform(0.25, 0.4) if view == "MLO" else rng.uniform(0.1, 0.18))
        ph = H * (rng.uniform(0.45, 0.7) if view == "MLO" else rng.uniform(0.25, 0.4))
        edge = pw * np.clip(1 - y / ph, 0, 1) ** rng.uniform(0.8, 1.2)
        edge = edge * (1 + _smooth_1d(rng, H, 0.02, H / 20))
        pect = np.clip((edge[:, None] - x) / 4.0 + 0.5, 0, 1).astype(np.float32) * mask
    u = x / np.float32(d)
    vv = (y[:, None] - np.float32(nipple_r)) / np.float32(H * 0.4)
    env = np.exp(-(((u - 0.42) / 0.33) ** 2) - (vv / 0.75) ** 2).astype(np.float32)
    nipple = (float(nipple_r), float(d))
    if laterality == "R":
        mask, pect, env = mask[:, ::-1], pect[:, ::-1], env[:, ::-1]
        nipple = (nipple[0], W - 1 - nipple[1])
    return {"mask": np.ascontiguousarray(mask), "pectoral": np.ascontiguousarray(pect),
            "envelope": np.ascontiguousarray(env), "nipple": nipple}


# ----------------------------------------------------------------------------- curvilinear structures
def _render_curves(shape, rng, starts, n_steps, theta0, kappa, amps, sigma, lengths):
    """Sum of smooth random curves drawn as Gaussian ridges of width `sigma` (px)."""
    n = len(starts)
    if n == 0:
        return np.zeros(shape, np.float32)
    dtheta = rng.normal(0.0, kappa, (n, n_steps)).astype(np.float32)
    dtheta = ndi.gaussian_filter1d(dtheta, 6.0, axis=1) * 4.0
    theta = theta0[:, None] + np.cumsum(dtheta, axis=1)
    r = starts[:, :1] + np.cumsum(np.sin(theta), axis=1)
    c = starts[:, 1:] + np.cumsum(np.cos(theta), axis=1)
    s = np.arange(n_steps)[None, :] / np.maximum(lengths[:, None], 1)
    w = amps[:, None] * np.clip(np.sin(np.pi * np.clip(s, 0, 1)) * 3, 0, 1) * (s < 1)
    ri, ci = np.rint(r).astype(np.int64), np.rint(c).astype(np.int64)
    ok = (ri >= 0) & (ri < shape[0]) & (ci >= 0) & (ci < shape[1]) & (w > 0)
    acc = np.bincount(ri[ok] * shape[1] + ci[ok], weights=w[ok], minlength=shape[0] * shape[1])
    acc = acc.reshape(shape).astype(np.float32)
    out = ndi.gaussian_filter(acc, sigma, truncate=3.0)
    return out * np.float32(np.sqrt(2 * np.pi) * sigma)


def _curvilinear(shape, rng, mask, nipple, area_cm2, spacing):
    """Ducts/trabeculae (thin) and vessels (wider) as one layer, linear units."""
    rows, cols = np.nonzero(mask[::4, ::4])
    layer = np.zeros(shape, np.float32)
    if rows.size == 0:
        return layer
    specs = [  # (per cm2, sigma px, amplitude range, length mm range, kappa, toward nipple)
        (1.6, 0.8, (0.006, 0.02), (3, 15), 0.02, True),    # trabeculae / ducts
        (0.6, 1.3, (0.008, 0.025), (5, 25), 0.015, True),  # ducts
        (0.15, 2.2, (0.01, 0.03), (15, 40), 0.01, False),  # vessels
    ]
    for per_cm2, sigma, (a0, a1), (l0, l1), kappa, radial in specs:
        n = int(rng.poisson(per_cm2 * area_cm2))
        idx = rng.integers(0, rows.size, n)
        starts = np.stack([rows[idx] * 4.0, cols[idx] * 4.0], axis=1).astype(np.float32)
        lengths = rng.uniform(l0, l1, n) / spacing
        if radial:
            theta0 = np.arctan2(nipple[0] - starts[:, 0], nipple[1] - starts[:, 1])
            theta0 = theta0 + rng.normal(0, 0.35, n) + np.pi * (rng.random(n) < 0.5)
        else:
            theta0 = rng.uniform(-np.pi, np.pi, n)
        amps = rng.uniform(a0, a1, n).astype(np.float32)
        n_steps = int(np.ceil(lengths.max())) if n else 1
        layer += _render_curves(shape, rng, starts, n_steps, theta0.astype(np.float32), kappa,
                                amps, sigma, lengths)
    return layer


# ----------------------------------------------------------------------------- MC shapes
def _disk_footprint(rng, diam, elong=1.0):
    """Pixels (dr, dc) of an ellipse of equivalent diameter `diam` px at a sub-pixel offset."""
    a = max(diam / 2 * np.sqrt(elong), 0.5)
    b = max(diam / 2 / np.sqrt(elong), 0.5)
    phi = rng.uniform(0, np.pi)
    off = rng.uniform(-0.5, 0.5, 2)
    R = int(np.ceil(max(a, b))) + 1
    g = np.arange(-R, R + 1)
    dr, dc = np.meshgrid(g, g, indexing="ij")
    yr, xr = dr - off[0], dc - off[1]
    u = xr * np.cos(phi) + yr * np.sin(phi)
    v = -xr * np.sin(phi) + yr * np.cos(phi)
    inside = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    if not inside.any():
        inside[R, R] = True
    return dr[inside], dc[inside]


def _blobs_footprint(rng, diam, n_lobes):
    """Irregular shape: union of a few ellipses (pleomorphic, popcorn)."""
    rr, cc = [], []
    for i in range(n_lobes):
        d = diam * rng.uniform(0.45, 0.8) if i else diam * 0.7
        off = rng.normal(0, diam * 0.22, 2) if i else np.zeros(2)
        r, c = _disk_footprint(rng, d, rng.uniform(1, 2.2))
        rr.append(r + int(round(off[0])))
        cc.append(c + int(round(off[1])))
    return _unique_rc(np.concatenate(rr), np.concatenate(cc))


def _branch_footprint(rng, length, width):
    """Fine-linear / branching: a crooked line with an optional side branch."""
    pts_r, pts_c = [], []
    theta = rng.uniform(-np.pi, np.pi)
    segs = [(0.0, 0.0, theta, length)]
    if rng.random() < 0.6:
        segs.append((None, None, theta + rng.choice([-1, 1]) * rng.uniform(0.5, 1.1), length * rng.uniform(0.3, 0.6)))
    for r0, c0, th, ln in segs:
        if r0 is None:  # branch from a point of the main line
            k = rng.integers(len(pts_r[0]) // 3, max(len(pts_r[0]) // 3 + 1, 2 * len(pts_r[0]) // 3))
            r0, c0 = pts_r[0][k], pts_c[0][k]
        n = max(int(ln), 2)
        t = th + np.cumsum(rng.normal(0, 0.15, n))
        pts_r.append(r0 + np.cumsum(np.sin(t)))
        pts_c.append(c0 + np.cumsum(np.cos(t)))
    r = np.rint(np.concatenate(pts_r)).astype(int)
    c = np.rint(np.concatenate(pts_c)).astype(int)
    if width > 1.5:
        r = np.concatenate([r, r + 1, r, r + 1])
        c = np.concatenate([c, c, c + 1, c + 1])
    return _unique_rc(r, c)


def _rim_footprint(rng, diam, thick):
    g = np.arange(-int(diam / 2) - 2, int(diam / 2) + 3)
    dr, dc = np.meshgrid(g, g, indexing="ij")
    e = rng.uniform(1.0, 1.3)
    rad = np.sqrt((dr / e) ** 2 + (dc * e) ** 2)
    inside = (rad <= diam / 2) & (rad >= diam / 2 - thick)
    return dr[inside], dc[inside]


def _vascular_footprint(rng, length, width):
    t = rng.uniform(-np.pi, np.pi) + np.cumsum(rng.normal(0, 0.03, int(length)))
    r, c = np.cumsum(np.sin(t)), np.cumsum(np.cos(t))
    nr, nc = -np.cos(t), np.sin(t)
    rr, cc = [], []
    half = width / 2
    for side in (-1, 1):  # tram-track: two parallel calcified walls
        for w in np.arange(0, 1.5, 0.5):
            rr.append(np.rint(r + side * (half + w) * nr))
            cc.append(np.rint(c + side * (half + w) * nc))
    return _unique_rc(np.concatenate(rr).astype(int), np.concatenate(cc).astype(int))


def _unique_rc(r, c):
    r, c = np.asarray(r, int), np.asarray(c, int)
    r0, c0 = r.min(), c.min()
    w = c.max() - c0 + 1
    flat = np.unique((r - r0) * w + (c - c0))
    return flat // w + r0, flat % w + c0


#: per type: (diameter mm range, relative contrast median, contrast log-sd)
_TYPE_SPECS = {
    "punctate": ((0.1, 0.45), 0.2, 0.5),
    "amorphous": ((0.1, 0.3), 0.075, 0.5),
    "pleomorphic": ((0.25, 1.0), 0.2, 0.45),
    "linear": ((0.4, 1.0), 0.16, 0.45),
    "benign-coarse": ((1.2, 3.0), 0.45, 0.3),
    "benign-vascular": ((3.0, 7.0), 0.35, 0.3),
    "benign-rim": ((1.4, 3.2), 0.35, 0.3),
}


def _mc_footprint(rng, mc_type, spacing, size_scale=1.0):
    lo, hi = _TYPE_SPECS[mc_type][0]
    d = np.exp(rng.uniform(np.log(lo), np.log(hi))) / spacing * size_scale
    if mc_type in ("punctate", "amorphous"):
        return _disk_footprint(rng, d, rng.uniform(1.0, 1.6))
    if mc_type == "pleomorphic":
        return _blobs_footprint(rng, d, int(rng.integers(1, 4)))
    if mc_type == "linear":
        return _branch_footprint(rng, d, rng.uniform(1, 2.2))
    if mc_type == "benign-coarse":
        return _blobs_footprint(rng, d, int(rng.integers(3, 6)))
    if mc_type == "benign-vascular":
        return _vascular_footprint(rng, d, rng.uniform(2, 4))
    return _rim_footprint(rng, d, rng.uniform(2, 4))


def _contour_of(rr, cc):
    """Outer boundary polygon (row, col) of a footprint, vertices on half pixels."""
    r0, c0 = rr.min() - 1, cc.min() - 1
    m = np.zeros((rr.max() - r0 + 2, cc.max() - c0 + 2), bool)
    m[rr - r0, cc - c0] = True
    m = ndi.binary_fill_holes(m)
    contours = measure.find_contours(m.astype(np.float32), 0.5)
    poly = max(contours, key=len)[:-1]
    poly = measure.approximate_polygon(poly, 0.3) if len(poly) > 40 else poly
    if len(poly) > 1 and np.allclose(poly[0], poly[-1]):
        poly = poly[:-1]
    return np.round(poly + [r0, c0], 3)


# ----------------------------------------------------------------------------- one mammogram
@dataclass
class SynthImage:
    """Output of :func:`synth_mammogram` / :func:`synth_magnification`."""

    raw: np.ndarray                 # uint16, 0 .. 2**bits - 1
    bits: int
    annotations: list               # Annotation per MC, in mc_id order
    labels: np.ndarray              # int32: exact footprint of MC i has label i+1
    mcs: pd.DataFrame               # per-MC table
    breast: np.ndarray              # bool true breast region
    info: dict = field(default_factory=dict)


def _tone(v, vendor):
    if vendor.tone == "linear":
        return v
    lo, hi = expit(-0.38 / 0.16), expit(0.62 / 0.16)
    return (expit((v - 0.38) / 0.16) - lo) / (hi - lo)


def _place_mcs(rng, plan, shape, inside, bg, spacing, *, size_scale=1.0, point_max=(3.5, 5.5)):
    """Place MCs without overlap; returns footprints, annotations and per-MC rows.

    plan: list of (type, (row, col) centre, cluster_id[, size_factor, amplitude_factor]).
    """
    H, W = shape
    occupied = np.zeros(shape, bool)
    labels = np.zeros(shape, np.int32)
    layer = np.zeros(shape, np.float32)
    anns, rows = [], []
    for item in plan:
        mc_type, (r0, c0), cluster = item[:3]
        size_f, amp_f = item[3:5] if len(item) > 3 else (1.0, 1.0)
        for _attempt in range(6):
            rr, cc = _mc_footprint(rng, mc_type, spacing, size_scale * size_f)
            rr = rr + int(round(r0)) - int(round(rr.mean()))
            cc = cc + int(round(c0)) - int(round(cc.mean()))
            if rr.min() < 2 or cc.min() < 2 or rr.max() >= H - 2 or cc.max() >= W - 2:
                r0, c0 = r0 + rng.normal(0, 4), c0 + rng.normal(0, 4)
                continue
            if not inside[rr, cc].all() or occupied[rr, cc].any():
                r0, c0 = r0 + rng.normal(0, 3 * size_scale), c0 + rng.normal(0, 3 * size_scale)
                continue
            break
        else:
            continue
        eq_diam = 2 * np.sqrt(len(rr) / np.pi)
        is_point = eq_diam < rng.uniform(*point_max) and not mc_type.startswith("benign")
        if is_point:
            fr, fc = rr, cc
            k = np.argmin((rr - rr.mean()) ** 2 + (cc - cc.mean()) ** 2)
            pr, pc = float(rr[k]), float(cc[k])
            ann = Annotation("point", np.array([[pr, pc]]))
        else:
            poly = _contour_of(rr, cc)
            fr, fc = rasterize_polygon(poly, shape)
            if not mc_type.startswith("benign"):
                rr, cc = fr, fc  # rendered footprint = annotated region
            pr, pc = float(np.mean(fr)), float(np.mean(fc))
            ann = Annotation("contour", poly)
        # occupancy with a 2-px guard band
        occ = ndi.binary_dilation(_patch(fr, fc), iterations=2)
        orr, occ_c = np.nonzero(occ)
        orr, occ_c = orr + fr.min() - 2, occ_c + fc.min() - 2
        ok = (orr >= 0) & (orr < H) & (occ_c >= 0) & (occ_c < W)
        occupied[orr[ok], occ_c[ok]] = True
        # intensity: projected thickness profile, amplitude relative to local background
        spec = _TYPE_SPECS[mc_type]
        rel = spec[1] * np.exp(rng.normal(0, spec[2]))
        amp = float(rel * amp_f * bg[int(pr), int(pc)])
        e = ndi.distance_transform_edt(_patch(rr, cc))
        sub = np.sqrt(e[rr - rr.min() + 2, cc - cc.min() + 2] / e.max())
        het = 1.0 + 0.15 * rng.standard_normal(len(rr)) if mc_type in ("pleomorphic", "benign-coarse") else 1.0
        layer[rr, cc] = np.maximum(layer[rr, cc], amp * sub * het)
        label = len(anns) + 1
        labels[fr, fc] = label
        anns.append(ann)
        rows.append({"mc_id": label, "kind": ann.kind, "type": mc_type, "cluster_id": cluster,
                     "row": pr, "col": pc, "x": pc, "y": pr, "area_px": int(len(fr)),
                     "diameter_mm": float(2 * np.sqrt(len(fr) / np.pi) * spacing / size_scale),
                     "amplitude": amp})
    return layer, labels, anns, rows


def _patch(rr, cc):
    """Bool patch holding footprint (rr, cc) with two pixels of padding."""
    m = np.zeros((rr.max() - rr.min() + 5, cc.max() - cc.min() + 5), bool)
    m[rr - rr.min() + 2, cc - cc.min() + 2] = True
    return m


def _finish(lin, mc_layer, labels, rows, vendor, rng):
    """Blur, tone curve, contrasts, noise and quantisation."""
    with_mc = ndi.gaussian_filter(lin + mc_layer, vendor.blur_sigma, truncate=3.0)
    # noise-free contrast of each MC in the final [0, 1] units: the blur is linear, so the
    # image without MC i is the blurred image minus the blurred MC i (computed locally)
    contrast = np.zeros(len(rows))
    pad = int(np.ceil(3 * vendor.blur_sigma)) + 1
    for i, sl in enumerate(ndi.find_objects(labels) if rows else []):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - pad, 0), s.stop + pad) for s in sl)
        own = labels[sl] == i + 1
        mcb = ndi.gaussian_filter(np.where(own, mc_layer[sl], 0), vendor.blur_sigma, truncate=3.0)
        d = _tone(with_mc[sl], vendor) - _tone(with_mc[sl] - mcb, vendor)
        contrast[i] = float(d[own].max())
    counts = np.float32(vendor.counts)
    noisy = rng.poisson(np.clip(with_mc, 0, None) * counts).astype(np.float32) / counts
    noisy += rng.normal(0, vendor.electronic_sigma, noisy.shape).astype(np.float32)
    out = np.clip(_tone(noisy, vendor), 0, 1)
    scale = 2**vendor.bits - 1
    raw = np.rint(out * scale).astype(np.uint16)
    for r, cval in zip(rows, contrast):
        r["contrast"] = float(cval)
    return raw


def synth_mammogram(rng, shape=(1000, 800), *, view="CC", laterality="L", vendor="siemens",
                    density=None, beta=None, spacing=SPACING, n_clusters=None, n_single=None,
                    n_benign=None):
    """Generate one full-field mammogram with known MCs.

    Parameters
    ----------
    rng : numpy.random.Generator or int
    shape : (rows, cols)
    view : {"CC", "MLO", "ML"}
    laterality : {"L", "R"}
    vendor : {"siemens", "hologic"} or Vendor
    density : float in [0, 1], optional
        Fibroglandular density (ACR 1-4 ~ 0.15, 0.35, 0.6, 0.85); random by default.
    beta : float, optional
        Power-law exponent of the texture; default drawn around 3.
    spacing : float
        mm per pixel.
    n_clusters, n_single, n_benign : int, optional
        Numbers of MC clusters, isolated MCs and large benign calcifications.

    Returns
    -------
    SynthImage
    """
    rng = np.random.default_rng(rng)
    vendor = VENDORS[vendor] if isinstance(vendor, str) else vendor
    H, W = shape
    density = float(rng.uniform(0.1, 0.9)) if density is None else float(density)
    beta = float(np.clip(rng.normal(3.0, 0.12), 2.6, 3.4)) if beta is None else float(beta)
    geo = breast_geometry(shape, view, rng, laterality=laterality)
    mask = geo["mask"]
    dist = ndi.distance_transform_edt(mask).astype(np.float32)
    L = rng.uniform(5.0, 8.0) / spacing
    t = np.sqrt(1 - (1 - np.clip(dist / np.float32(L), 0, 1)) ** 2)
    f_cut = 2.5 * spacing
    tex = powerlaw_field(shape, beta, rng, f_cut=f_cut)
    # fibroglandular fraction: soft threshold of the texture, denser in the envelope
    gland = expit((tex * 0.9 + 3.0 * geo["envelope"] * (0.4 + density) - 2.4 + 1.6 * density) / 0.8)
    gland *= geo["envelope"] ** 0.3
    fat = rng.uniform(0.3, 0.38)
    lin = np.float32(0.02) + (fat - 0.02) * t
    lin = lin + np.float32(rng.uniform(0.14, 0.22)) * gland * t
    lin += np.float32(0.008) * powerlaw_field(shape, 2.2, rng, f_cut=f_cut) * t  # fat lobule mottle
    skin_w = rng.uniform(0.8, 1.4) / spacing
    lin += np.float32(rng.uniform(0.04, 0.07)) * np.exp(-((dist - skin_w) / (0.6 * skin_w)) ** 2) * mask
    pect = geo["pectoral"]
    if pect.any():
        lin += pect * np.float32(rng.uniform(0.18, 0.28)) * (1 + 0.1 * tex)
    area_cm2 = mask.sum() * (spacing / 10) ** 2
    lin += _curvilinear(shape, rng, mask, geo["nipple"], area_cm2, spacing) * t
    lin = np.where(mask, lin, np.float32(0.02)).astype(np.float32)

    # MC plan: clusters + singletons + benign, inside the breast away from the skin
    inside = (dist > 1.5 / spacing) & (pect < 0.5)
    scale_area = area_cm2 / 30.0
    if n_clusters is None:
        n_clusters = int(rng.integers(1, 3 + int(scale_area > 2)))
    if n_single is None:
        n_single = int(rng.poisson(4 * max(scale_area, 0.5)))
    if n_benign is None:
        n_benign = int(rng.poisson(0.7 * max(scale_area, 0.5)))
    plan = _plan_mcs(rng, inside, gland, n_clusters, n_single, n_benign, spacing)
    mc_layer, labels, anns, rows = _place_mcs(rng, plan, shape, inside, lin, spacing)
    raw = _finish(lin, mc_layer, labels, rows, vendor, rng)
    return SynthImage(raw=raw, bits=vendor.bits, annotations=anns, labels=labels,
                      mcs=pd.DataFrame(rows, columns=MC_COLUMNS), breast=mask,
                      info={"density": density, "beta": beta, "vendor": vendor.name,
                            "view": view, "laterality": laterality})


def _plan_mcs(rng, inside, gland, n_clusters, n_single, n_benign, spacing, *, size_scale=1.0):
    rs, cs = np.nonzero(inside[::8, ::8])
    if rs.size == 0:
        return []
    rs, cs = rs * 8, cs * 8
    weight = gland[rs, cs] + 0.15
    weight = weight / weight.sum()
    plan = []
    for k in range(n_clusters):
        i = rng.choice(rs.size, p=weight)
        cr, cc = float(rs[i]), float(cs[i])
        kind = rng.choice(["punctate", "amorphous", "pleomorphic", "linear"], p=[0.3, 0.25, 0.25, 0.2])
        n = int(rng.integers(5, 26))
        layout = rng.choice(["round", "linear", "segmental"], p=[0.55, 0.2, 0.25])
        spread = rng.uniform(1.5, 6.0) / spacing * size_scale
        if layout == "round":
            pos = rng.normal(0, spread / 2, (n, 2))
        else:
            th = rng.uniform(0, np.pi)
            along = rng.uniform(-spread, spread, n) * (1.5 if layout == "linear" else 1.0)
            across = rng.normal(0, 2.0 if layout == "linear" else spread / 4, n)
            pos = np.stack([along * np.sin(th) + across * np.cos(th),
                            along * np.cos(th) - across * np.sin(th)], 1)
        for p in pos:
            t = str(kind) if rng.random() < 0.75 else "punctate"
            plan.append((t, (cr + p[0], cc + p[1]), k))
    for _ in range(n_single):
        i = rng.integers(rs.size)
        t = str(rng.choice(["punctate", "pleomorphic", "amorphous"], p=[0.6, 0.25, 0.15]))
        plan.append((t, (float(rs[i]) + rng.uniform(-4, 4), float(cs[i]) + rng.uniform(-4, 4)), -1))
    for _ in range(n_benign):
        i = rng.integers(rs.size)
        t = str(rng.choice(["benign-coarse", "benign-vascular", "benign-rim"], p=[0.45, 0.3, 0.25]))
        plan.append((t, (float(rs[i]), float(cs[i])), -1))
    return plan


# ----------------------------------------------------------------------------- magnification views
def synth_magnification(rng, shape=(400, 400), *, z=0.0, magnification=1.8, vendor="hologic",
                        spacing=SPACING):
    """A magnification-view image around a group of amorphous calcifications.

    Parameters
    ----------
    z : float
        Latent 'suspiciousness' of the group: larger ``z`` gives more MCs, more size and
        contrast heterogeneity, more pleomorphic members and more often a linear/segmental
        distribution. The benign/malignant label only shifts ``z`` (see :func:`generate`),
        so morphology predicts the label only partly.

    Returns
    -------
    SynthImage
        ``info`` holds ``bbox`` = (x0, y0, x1, y1) half-open, x = column.
    """
    rng = np.random.default_rng(rng)
    vendor = VENDORS[vendor] if isinstance(vendor, str) else vendor
    H, W = shape
    sp = spacing / magnification
    f_cut = 2.5 * sp
    tex = powerlaw_field(shape, float(np.clip(rng.normal(3.0, 0.12), 2.6, 3.4)), rng, f_cut=f_cut)
    density = rng.uniform(0.2, 0.9)
    gland = expit((tex + 2.5 * density - 1.4) / 0.8)
    lin = np.float32(rng.uniform(0.3, 0.38)) + np.float32(rng.uniform(0.14, 0.22)) * gland
    lin += np.float32(0.008) * powerlaw_field(shape, 2.2, rng, f_cut=f_cut)
    nipple = (rng.uniform(-H, 2 * H), rng.uniform(-W, 2 * W))
    lin += _curvilinear(shape, rng, np.ones(shape, bool), nipple, H * W * (sp / 10) ** 2, sp)
    lin = lin.astype(np.float32)
    n = int(np.clip(np.rint(np.exp(2.2 + 0.3 * z + rng.normal(0, 0.35))), 3, 45))
    het = float(np.clip(0.25 + 0.12 * z + rng.normal(0, 0.05), 0.05, 0.8))
    p_linear = float(expit(-1.2 + 0.9 * z))
    p_pleo = float(np.clip(0.05 + 0.08 * z, 0, 0.4))
    spread = rng.uniform(2.0, 4.5) / sp
    cr, cc = H / 2 + rng.normal(0, H / 12), W / 2 + rng.normal(0, W / 12)
    if rng.random() < p_linear:
        th = rng.uniform(0, np.pi)
        along = rng.uniform(-spread, spread, n)
        across = rng.normal(0, spread / 6, n)
        pos = np.stack([along * np.sin(th) + across * np.cos(th), along * np.cos(th) - across * np.sin(th)], 1)
        layout = "linear"
    else:
        pos = rng.normal(0, spread / 2.5, (n, 2))
        layout = "clustered"
    plan = []
    for p in pos:
        t = "pleomorphic" if rng.random() < p_pleo else "amorphous"
        plan.append((t, (cr + p[0], cc + p[1]), 0))
    inside = np.zeros(shape, bool)
    inside[8:-8, 8:-8] = True
    # size and contrast heterogeneity: per-MC factors with log-sd `het`
    plan = [(t, c, k, float(np.exp(rng.normal(0, het))), float(np.exp(rng.normal(0, het))))
            for t, c, k in plan]
    mc_layer, labels, anns, rows = _place_mcs(
        rng, plan, shape, inside, lin, sp,
        point_max=(3.5 * magnification, 5.5 * magnification))
    raw = _finish(lin, mc_layer, labels, rows, vendor, rng)
    if rows:
        rr, cc_ = np.nonzero(labels)
        m0, m1 = rng.integers(10, 45, 2), rng.integers(10, 45, 2)
        x0, y0 = int(max(cc_.min() - m0[0], 0)), int(max(rr.min() - m0[1], 0))
        x1, y1 = int(min(cc_.max() + 1 + m1[0], W)), int(min(rr.max() + 1 + m1[1], H))
    else:
        x0, y0, x1, y1 = W // 4, H // 4, 3 * W // 4, 3 * H // 4
    return SynthImage(raw=raw, bits=vendor.bits, annotations=anns, labels=labels,
                      mcs=pd.DataFrame(rows, columns=MC_COLUMNS), breast=np.ones(shape, bool),
                      info={"bbox": (x0, y0, x1, y1), "n_mc": len(rows), "heterogeneity": het,
                            "layout": layout, "pixel_spacing": sp, "z": z})


# ----------------------------------------------------------------------------- writers
def _uid(*parts):
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(p) for p in parts])


def write_dicom(path, raw, *, bits, pixel_spacing, patient_id, laterality="", view="",
                manufacturer="", uid_seed=(0,), date="20100101"):
    """Write an uncompressed MONOCHROME2 mammogram DICOM (deterministic bytes).

    UIDs are derived from `uid_seed` (hashes), dates are fixed, so the same inputs give
    byte-identical files.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from .._utils import atomic_path

    sop_class = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image - For Presentation
    sop = _uid("sop", *uid_seed)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("hdogreg-implementation")
    meta.ImplementationVersionName = f"HDOGREG_{GENERATOR_VERSION}"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = _uid("study", patient_id, *uid_seed[:1])
    ds.SeriesInstanceUID = _uid("series", *uid_seed)
    ds.Modality = "MG"
    ds.Manufacturer = manufacturer
    ds.PatientID = str(patient_id)
    ds.PatientName = f"SYNTH^{patient_id}"
    ds.StudyDate = ds.ContentDate = date
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PixelSpacing = [f"{pixel_spacing:.6g}", f"{pixel_spacing:.6g}"]
    ds.ImagerPixelSpacing = ds.PixelSpacing
    ds.Rows, ds.Columns = raw.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(raw, dtype="<u2").tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)


def _fmt_point(row, col):
    return f"({col:.3f}, {row:.3f})"  # INbreast: "(x, y)", x = column, y = row


def _roi_dict(ann, index, image=None):
    pts = ann.points
    n = len(pts)
    center = pts.mean(axis=0)
    roi = {
        "Area": float(0.0 if n == 1 else abs(_shoelace(pts))),
        "Center": _fmt_point(*center),
        "Dev": 0.0, "IndexInImage": index, "Max": 0.0, "Mean": 0.0, "Min": 0.0,
        "Name": ann.name,
        "NumberOfPoints": n,
        "Point_mm": ["(0.000000, 0.000000, 0.000000)"] * n,
        "Point_px": [_fmt_point(r, c) for r, c in pts],
        "Total": 0.0,
        "Type": 19 if n == 1 else 15,
    }
    return roi


def _shoelace(pts):
    r, c = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(c, np.roll(r, -1)) - np.dot(r, np.roll(c, -1)))


def write_inbreast_xml(path, annotations, *, others=()):
    """Write annotations as an INbreast XML (Apple plist) file.

    Calcifications first (ROI order = annotation order), then `others` (e.g. clusters).
    """
    from .._utils import atomic_path

    rois = [_roi_dict(a, i) for i, a in enumerate([*annotations, *others])]
    plist = {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois), "ROIs": rois}]}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            plistlib.dump(plist, fh, fmt=plistlib.FMT_XML, sort_keys=True)
    return Path(path)


def _write_png(path, array):
    import imageio.v3 as iio

    from .._utils import atomic_path

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, array, extension=".png")
    return Path(path)


def _cluster_rois(sim):
    """A 'Cluster' ROI (convex hull of the members) per MC cluster, as INbreast has them."""
    from scipy.spatial import ConvexHull, QhullError

    out = []
    if sim.mcs.empty:
        return out
    for k, grp in sim.mcs[sim.mcs.cluster_id >= 0].groupby("cluster_id"):
        pts = grp[["row", "col"]].to_numpy(float)
        if len(pts) < 3:
            continue
        try:
            hull = pts[ConvexHull(pts).vertices]
        except QhullError:
            continue
        out.append(Annotation("contour", np.round(hull, 3), name="Cluster"))
    return out


# ----------------------------------------------------------------------------- the benchmark
def _hex_id(rng):
    return f"{int(rng.integers(0, 2**62)):016x}"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cases(rng, n):
    """Patient ids, ages, densities and laterality per case."""
    cases = []
    used = set()
    for i in range(n):
        pid = _hex_id(rng)
        while pid in used:
            pid = _hex_id(rng)
        used.add(pid)
        dens_class = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.35, 0.28, 0.12]))
        density = float(np.clip([0.15, 0.38, 0.62, 0.85][dens_class - 1] + rng.normal(0, 0.06), 0.05, 0.95))
        cases.append({"patient_id": pid, "age": int(rng.integers(38, 80)), "acr": dens_class,
                      "density": density, "laterality": str(rng.choice(["L", "R"])),
                      "date": f"20{int(rng.integers(8, 11)):02d}{int(rng.integers(1, 13)):02d}"
                              f"{int(rng.integers(1, 29)):02d}"})
    return cases


def _birads(mcs):
    if mcs.empty:
        return "1"
    types = set(mcs["type"])
    if types & {"linear"}:
        return "4c" if "pleomorphic" in types else "4b"
    if types & {"pleomorphic"}:
        return "4a"
    if types & {"amorphous"}:
        return "3"
    return "2"


def _gen_inbreast_image(args):
    seed, case, view, file_id, shape, out = args
    rng = np.random.default_rng([seed, 1, int(file_id)])
    sim = synth_mammogram(rng, shape, view=view, laterality=case["laterality"], vendor="siemens",
                          density=case["density"])
    name = f"{file_id}_{case['patient_id']}_MG_{case['laterality']}_{view}_ANON.dcm"
    write_dicom(out / "AllDICOMs" / name, sim.raw, bits=sim.bits, pixel_spacing=SPACING,
                patient_id=case["patient_id"], laterality=case["laterality"], view=view,
                manufacturer=VENDORS["siemens"].manufacturer, uid_seed=(seed, file_id), date=case["date"])
    write_inbreast_xml(out / "AllXML" / f"{file_id}.xml", sim.annotations, others=_cluster_rois(sim))
    _write_png(out / "groundtruth" / "labels" / f"{file_id}.png", sim.labels.astype(np.uint16))
    _write_png(out / "groundtruth" / "breast" / f"{file_id}.png", sim.breast.astype(np.uint8) * 255)
    mcs = sim.mcs.assign(file_id=str(file_id))
    info = {"file_id": str(file_id), "patient_id": case["patient_id"], "laterality": case["laterality"],
            "view": view, "vendor": "siemens", "dicom": f"AllDICOMs/{name}", "density": sim.info["density"],
            "beta": sim.info["beta"], "n_mc": len(mcs), "birads": _birads(sim.mcs)}
    return info, mcs


def _gen_local_image(args):
    seed, case, view, image_id, shape, out = args
    rng = np.random.default_rng([seed, 2, int(image_id[1:])])
    sim = synth_mammogram(rng, shape, view=view, laterality=case["laterality"], vendor="hologic",
                          density=case["density"])
    write_dicom(out / "local" / "images" / f"{image_id}.dcm", sim.raw, bits=sim.bits, pixel_spacing=SPACING,
                patient_id=case["patient_id"], laterality=case["laterality"], view=view,
                manufacturer=VENDORS["hologic"].manufacturer, uid_seed=(seed, image_id), date=case["date"])
    _write_png(out / "local" / "groundtruth" / "labels" / f"{image_id}.png", sim.labels.astype(np.uint16))
    mcs = sim.mcs.assign(image=f"{image_id}.dcm")
    # the local radiologist marked suspicious MCs by single pixels (benign ones left out)
    mcs["annotated"] = ~mcs["type"].astype(str).str.startswith("benign")
    points = [(a.centroid, m) for a, m in zip(sim.annotations, mcs.to_dict("records")) if m["annotated"]]
    rows = []
    for (r, c), m in points:
        # a click on the MC: the footprint pixel nearest its centroid
        lab = sim.labels == m["mc_id"]
        rr, cc = np.nonzero(lab[int(max(r - 60, 0)):int(r + 61), int(max(c - 60, 0)):int(c + 61)])
        rr, cc = rr + int(max(r - 60, 0)), cc + int(max(c - 60, 0))
        k = int(np.argmin((rr - m["row"]) ** 2 + (cc - m["col"]) ** 2))
        rows.append({"x": int(cc[k]), "y": int(rr[k]), "image": f"{image_id}.dcm"})
    info = {"image": f"{image_id}.dcm", "patient_id": case["patient_id"], "laterality": case["laterality"],
            "view": view, "vendor": "hologic", "density": sim.info["density"], "n_mc": len(mcs)}
    return info, mcs, rows


def _gen_case_roi(args):
    seed, roi_id, patient, z, shape, magnification, out = args
    rng = np.random.default_rng([seed, 3, int(roi_id[1:])])
    sim = synth_magnification(rng, shape, z=z, magnification=magnification)
    sp = sim.info["pixel_spacing"]
    write_dicom(out / "casestudy" / "images" / f"{roi_id}.dcm", sim.raw, bits=sim.bits, pixel_spacing=sp,
                patient_id=patient["patient_id"], laterality=patient["laterality"], view=patient["view"],
                manufacturer=VENDORS["hologic"].manufacturer, uid_seed=(seed, roi_id), date=patient["date"])
    _write_png(out / "casestudy" / "groundtruth" / f"{roi_id}.png", sim.labels.astype(np.uint16))
    x0, y0, x1, y1 = sim.info["bbox"]
    row = {"roi_id": roi_id, "patient_id": patient["patient_id"], "image": f"images/{roi_id}.dcm",
           "x0": x0, "y0": y0, "x1": x1, "y1": y1, "label": patient["label"], "pixel_spacing": round(sp, 6),
           "n_mc": sim.info["n_mc"], "layout": sim.info["layout"]}
    return row, sim.mcs.assign(roi_id=roi_id)


def _map(fn, items, jobs, desc, progress):
    from tqdm import tqdm

    disable = None if progress is None else not progress
    if jobs and jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as ex:
            return list(tqdm(ex.map(fn, items, chunksize=2), total=len(items), desc=desc, disable=disable))
    return [fn(it) for it in tqdm(items, desc=desc, disable=disable)]


_IMAGE_COLUMNS = ["file_id", "patient_id", "laterality", "view", "vendor", "dicom", "density", "beta",
                  "n_mc", "birads"]
_LOCAL_COLUMNS = ["image", "patient_id", "laterality", "view", "vendor", "density", "n_mc"]
_COHORT_COLUMNS = ["roi_id", "patient_id", "image", "x0", "y0", "x1", "y1", "label", "pixel_spacing",
                   "n_mc", "layout"]


def _concat(frames, columns):
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _write_csv(path, frame, **kw):
    from .._utils import atomic_path

    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g", **kw)


def generate(out, seed=0, preset="default", *, jobs=1, progress=None, overwrite=False):
    """Write the synthetic benchmark (INbreast layout + ground truth + local + case study).

    Parameters
    ----------
    out : str or Path
        Output folder. It is built in a temporary sibling folder and moved into place at
        the end (whole or not at all).
    seed : int
        Same seed and preset give byte-identical files.
    preset : str or Preset
        ``"tiny"`` (tests), ``"default"`` (the book), ``"full"`` (INbreast-sized images).
    jobs : int
        Worker processes (the output does not depend on it).
    overwrite : bool
        Replace an existing generated folder (one holding ``manifest.json``).

    Returns
    -------
    Path
        `out`.

    Notes
    -----
    Layout::

        AllDICOMs/<fileid>_<patientid>_MG_<L|R>_<CC|MLO>_ANON.dcm   14-bit, 0.07 mm
        AllXML/<fileid>.xml              Calcification (+ Cluster) ROIs, INbreast plist
        INbreast.csv                     metadata sheet, ';'-separated
        splits.csv                       file_id, patient_id, split (51/17/18 proportions)
        groundtruth/mcs.csv              file_id, mc_id, kind, type, cluster_id, row, col,
                                         x, y, area_px, diameter_mm, amplitude, contrast
        groundtruth/images.csv           per image: vendor, density, beta, n_mc, ...
        groundtruth/labels/<fileid>.png  uint16 label image (mc_id; contours = filled polygon)
        groundtruth/breast/<fileid>.png  true breast region
        local/images/<image>.dcm         12-bit Hologic-like, CC/MLO/ML
        local/annotations.csv            x, y, image (single-pixel points)
        local/images.csv, local/splits.csv (112/29 train/test proportions), local/groundtruth/
        casestudy/images/<roi_id>.dcm    magnification views (0.07/1.8 mm)
        casestudy/cohort.csv             roi_id, patient_id, image, x0, y0, x1, y1, label, ...
        casestudy/groundtruth/           label images and mcs.csv
        manifest.json                    seed, preset, generator version, files + sha256
    """
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").is_file():
            raise FileExistsError(f"{out}: exists and is not a generated benchmark; not touching it")
        if not overwrite:
            raise FileExistsError(f"{out}: exists; pass overwrite=True (--overwrite) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _generate_into(tmp, seed, preset, jobs, progress)
        manifest = {"generator": "hdogreg.data.synth", "version": GENERATOR_VERSION, "seed": int(seed),
                    "preset": asdict(preset),
                    "files": {str(p.relative_to(tmp)): _sha256(p)
                              for p in sorted(tmp.rglob("*")) if p.is_file()}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _generate_into(out, seed, preset, jobs, progress):
    rng = np.random.default_rng([seed, 0])
    for sub in ("AllDICOMs", "AllXML", "groundtruth/labels", "groundtruth/breast",
                "local/images", "local/groundtruth/labels", "casestudy/images", "casestudy/groundtruth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    # --- INbreast-like set
    cases = _cases(rng, preset.n_cases)
    file_ids = 20_000_000 + rng.choice(40_000_000, size=preset.n_cases * len(preset.views),
                          replace=False)
    items, k = [], 0
    for case in cases:
        for view in preset.views:
            items.append((seed, case, view, str(int(file_ids[k])), preset.shape, out))
            k += 1
    res = _map(_gen_inbreast_image, items, jobs, "synthetic INbreast", progress)
    images = pd.DataFrame([r[0] for r in res], columns=_IMAGE_COLUMNS)
    mcs = _concat([r[1] for r in res], ["file_id", *MC_COLUMNS])
    meta = pd.DataFrame({
        "Patient ID": images["patient_id"], "Patient age": [c["age"] for c in cases for _ in preset.views],
        "Laterality": images["laterality"], "View": images["view"],
        "Acquisition date": [c["date"] for c in cases for _ in preset.views],
        "File Name": images["file_id"], "ACR": [c["acr"] for c in cases for _ in preset.views],
        "Bi-Rads": images["birads"]})
    _write_csv(out / "INbreast.csv", meta, sep=";")
    _write_csv(out / "splits.csv", make_splits(images, PAPER_PROPORTIONS, seed))
    _write_csv(out / "groundtruth" / "images.csv", images)
    first = ["file_id", "mc_id", "kind", "type", "cluster_id", "row", "col", "x", "y", "area_px",
             "diameter_mm", "amplitude", "contrast"]
    _write_csv(out / "groundtruth" / "mcs.csv", mcs[first])
    # --- local set (Hologic-like look, point annotations)
    lshape = preset.local_shape or preset.shape
    lcases = _cases(rng, preset.n_local_cases)
    items, k = [], 0
    for case in lcases:
        nv = int(rng.choice([1, 2, 3], p=[0.35, 0.5, 0.15]))
        views = list(rng.choice(["CC", "MLO", "ML"], size=nv, replace=False, p=[0.33, 0.15, 0.52]))
        for view in views:
            k += 1
            items.append((seed, case, str(view), f"L{k:04d}", lshape, out))
    res = _map(_gen_local_image, items, jobs, "synthetic local set", progress)
    limages = pd.DataFrame([r[0] for r in res], columns=_LOCAL_COLUMNS)
    lmcs = _concat([r[1] for r in res], ["image", *MC_COLUMNS, "annotated"])
    points = pd.DataFrame([p for r in res for p in r[2]], columns=["x", "y", "image"])
    _write_csv(out / "local" / "annotations.csv", points)
    _write_csv(out / "local" / "images.csv", limages)
    lsplit = make_splits(limages.rename(columns={"image": "file_id"}), LOCAL_PROPORTIONS, seed)
    _write_csv(out / "local" / "splits.csv", lsplit.rename(columns={"file_id": "image"}))
    _write_csv(out / "local" / "groundtruth" / "mcs.csv",
               lmcs[["image", *first[1:], "annotated"]])
    # --- case-study cohort (magnification views of amorphous groups)
    patients = []
    for i in range(preset.n_case_patients):
        label = int(rng.random() < 0.42)
        patients.append({"patient_id": _hex_id(rng), "label": label, "z0": 1.4 * label + rng.normal(0, 1.0),
                         "laterality": str(rng.choice(["L", "R"])), "view": "CC",
                         "date": f"20{int(rng.integers(17, 20)):02d}0{int(rng.integers(1, 10))}15"})
    n_extra = max(preset.n_case_rois - len(patients), 0)
    roi_patients = list(range(len(patients))) + list(rng.choice(len(patients), n_extra, replace=True))
    roi_patients.sort()
    items = []
    for j, pi in enumerate(roi_patients):
        p = patients[pi]
        z = p["z0"] + rng.normal(0, 0.35)  # a second ROI of the same patient looks alike
        view_p = dict(p, view=str(rng.choice(["CC", "ML", "LM"], p=[0.5, 0.4, 0.1])))
        items.append((seed, f"R{j + 1:04d}", view_p, float(z), preset.case_shape, preset.magnification, out))
    res = _map(_gen_case_roi, items, jobs, "case-study cohort", progress)
    _write_csv(out / "casestudy" / "cohort.csv", pd.DataFrame([r[0] for r in res], columns=_COHORT_COLUMNS))
    cmcs = _concat([r[1] for r in res], ["roi_id", *MC_COLUMNS])
    _write_csv(out / "casestudy" / "groundtruth" / "mcs.csv", cmcs[["roi_id", *first[1:]]])
