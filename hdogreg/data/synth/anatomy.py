"""Noise-free breast anatomy in projected-attenuation units (breast bright, air 0).

One view is built from its outline (:func:`breast_geometry`), a compressed-thickness
profile, fibroglandular tissue (a thresholded power-law field), fine fibrous strands
oriented toward the nipple (:func:`~hdogreg.data.synth.texture.oriented_field`), Cooper's
ligaments near the skin, ducts and vessels of several widths and contrasts, a skin line
with its own texture, a pectoral muscle with fibres along its edge, and axillary lymph
nodes with a fatty hilum. Units: fat at full thickness about 0.3-0.4, glandular tissue
adds about 0.15-0.2; the vendor look (:mod:`~hdogreg.data.synth.acquisition`) maps them to
stored values.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.special import expit

from .texture import oriented_field, powerlaw_field, smooth_profile

__all__ = ["breast_geometry", "render_curves", "curvilinear", "lymph_nodes", "anatomy"]


def breast_geometry(shape, view, rng, *, laterality="L"):
    """Breast region, pectoral region and gland envelope of one view.

    The chest wall is at column 0 for ``laterality="L"`` and at the last column for "R".

    Returns
    -------
    dict
        ``mask`` (bool breast incl. pectoral), ``pectoral`` (float 0..1 soft mask),
        ``envelope`` (float, where glandular tissue concentrates), ``nipple`` (row, col),
        ``pect_angle`` (direction of the pectoral edge, radians, or None).
    """
    H, W = shape
    y = np.arange(H, dtype=np.float32)
    if view == "CC":
        rc = H * rng.uniform(0.46, 0.54)
        a = H * rng.uniform(0.4, 0.47)
        d = W * rng.uniform(0.72, 0.86)
        p = rng.uniform(1.8, 2.4)
        v = np.clip(np.abs(y - rc) / a, 0, 1)
        xb = d * (1 - v**p) ** (1 / p)
        xb[np.abs(y - rc) >= a] = -1
        nipple_r = rc
    else:
        top_w = W * rng.uniform(0.3, 0.42)
        ym = H * rng.uniform(0.5, 0.6)
        yb = H * rng.uniform(0.9, 0.97)
        d = W * rng.uniform(0.72, 0.86)
        p = rng.uniform(1.8, 2.4)
        up = top_w + (d - top_w) * np.sin(0.5 * np.pi * np.clip(y / ym, 0, 1)) ** 0.8
        t = np.clip((y - ym) / (yb - ym), 0, 1)
        low = d * (1 - t**p) ** (1 / p)
        xb = np.where(y < ym, up, low)
        xb[y >= yb] = -1
        nipple_r = ym
    xb = np.where(xb > 0, xb * (1 + smooth_profile(rng, H, 0.015, H / 12)), xb).astype(np.float32)
    x = np.arange(W, dtype=np.float32)[None, :]
    mask = x < xb[:, None]
    pect = np.zeros(shape, np.float32)
    pect_angle = None
    if view in ("MLO", "ML"):
        pw = W * (rng.uniform(0.25, 0.4) if view == "MLO" else rng.uniform(0.1, 0.18))
        ph = H * (rng.uniform(0.45, 0.7) if view == "MLO" else rng.uniform(0.25, 0.4))
        edge = pw * np.clip(1 - y / ph, 0, 1) ** rng.uniform(0.8, 1.2)
        edge = edge * (1 + smooth_profile(rng, H, 0.02, H / 20))
        pect = np.clip((edge[:, None] - x) / 4.0 + 0.5, 0, 1).astype(np.float32) * mask
        pect_angle = float(np.arctan2(ph, -pw))  # the edge runs from (0, pw) to (ph, 0)
    u = x / np.float32(d)
    vv = (y[:, None] - np.float32(nipple_r)) / np.float32(H * 0.4)
    env = np.exp(-(((u - 0.42) / 0.33) ** 2) - (vv / 0.75) ** 2).astype(np.float32)
    nipple = (float(nipple_r), float(d))
    if laterality == "R":
        mask, pect, env = mask[:, ::-1], pect[:, ::-1], env[:, ::-1]
        nipple = (nipple[0], W - 1 - nipple[1])
        if pect_angle is not None:
            pect_angle = float(np.pi - pect_angle)
    return {"mask": np.ascontiguousarray(mask), "pectoral": np.ascontiguousarray(pect),
            "envelope": np.ascontiguousarray(env), "nipple": nipple, "pect_angle": pect_angle}


def render_curves(shape, rng, starts, n_steps, theta0, kappa, amps, sigma, lengths):
    """Sum of smooth random curves drawn as Gaussian ridges of width `sigma` (px).

    A ridge of amplitude ``a`` has peak ``a`` across its width (a cylinder seen side-on).
    """
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


#: Peak frequency (cycles/mm) of the fine strands' band-pass spectrum: strands about 0.1 mm
#: wide carry their power at 1.5-3.5 cycles/mm, where real images exceed the low-frequency
#: power law (measured on real mammograms: +0.45 dex).
STRAND_PEAK_MM = (1.5, 2.2)

#: Roll-off (cycles/mm) of the large-scale tissue texture.
TEXTURE_F_CUT_MM = 2.5

#: Curvilinear structures: (name, per cm2, width sd in mm, amplitude range, length mm range,
#: tortuosity, oriented toward the nipple). Amplitudes in attenuation units.
CURVE_SPECS = (
    ("duct", 0.5, 0.09, (0.003, 0.008), (4, 15), 0.02, True),
    ("duct", 0.25, 0.16, (0.004, 0.010), (6, 25), 0.015, True),
    ("vessel", 0.06, 0.25, (0.006, 0.014), (15, 45), 0.01, False),
    ("vessel", 0.04, 0.45, (0.008, 0.018), (20, 60), 0.008, False),
    ("vessel", 0.015, 0.9, (0.010, 0.022), (30, 80), 0.006, False),
)


def curvilinear(shape, rng, mask, nipple, area_cm2, spacing, *, specs=CURVE_SPECS, where=None):
    """Ducts and vessels of several widths and contrasts as one layer.

    Parameters
    ----------
    where : (H, W) bool array, optional
        Start points are drawn from it (default: the breast `mask`).
    """
    base = mask if where is None else where
    rows, cols = np.nonzero(base[::4, ::4])
    layer = np.zeros(shape, np.float32)
    if rows.size == 0:
        return layer
    for _name, per_cm2, width_mm, (a0, a1), (l0, l1), kappa, radial in specs:
        n = int(rng.poisson(per_cm2 * area_cm2))
        if n == 0:
            continue
        idx = rng.integers(0, rows.size, n)
        starts = np.stack([rows[idx] * 4.0, cols[idx] * 4.0], axis=1).astype(np.float32)
        lengths = rng.uniform(l0, l1, n) / spacing
        if radial:
            theta0 = np.arctan2(nipple[0] - starts[:, 0], nipple[1] - starts[:, 1])
            theta0 = theta0 + rng.normal(0, 0.35, n) + np.pi * (rng.random(n) < 0.5)
        else:
            theta0 = rng.uniform(-np.pi, np.pi, n)
        amps = rng.uniform(a0, a1, n).astype(np.float32)
        n_steps = int(np.ceil(lengths.max()))
        layer += render_curves(shape, rng, starts, n_steps, theta0.astype(np.float32), kappa,
                               amps, max(width_mm / spacing, 0.5), lengths)
    return layer


def lymph_nodes(shape, rng, region, spacing, n):
    """Axillary lymph nodes: smooth ovals of 5-15 mm with a lucent (fatty) hilum.

    Returns
    -------
    layer : (H, W) float32
        Attenuation added (0.02-0.05 at the centre of a node).
    """
    layer = np.zeros(shape, np.float32)
    rows, cols = np.nonzero(region[::8, ::8])
    if rows.size == 0 or n == 0:
        return layer
    H, W = shape
    for _ in range(n):
        i = rng.integers(rows.size)
        r0, c0 = rows[i] * 8.0, cols[i] * 8.0
        a = rng.uniform(2.5, 7.5) / spacing
        b = a * rng.uniform(0.5, 0.8)
        phi = rng.uniform(0, np.pi)
        R = int(a + 3)
        r_lo, r_hi = int(max(r0 - R, 0)), int(min(r0 + R + 1, H))
        c_lo, c_hi = int(max(c0 - R, 0)), int(min(c0 + R + 1, W))
        yy, xx = np.mgrid[r_lo:r_hi, c_lo:c_hi].astype(np.float32)
        u = (xx - c0) * np.cos(phi) + (yy - r0) * np.sin(phi)
        v = -(xx - c0) * np.sin(phi) + (yy - r0) * np.cos(phi)
        q = (u / a) ** 2 + (v / b) ** 2
        body = np.sqrt(np.clip(1 - q, 0, 1))
        hilum = np.exp(-(((u - 0.75 * a) / (0.35 * a)) ** 2 + (v / (0.3 * b)) ** 2))
        layer[r_lo:r_hi, c_lo:c_hi] += np.float32(rng.uniform(0.02, 0.05)) * body * (1 - 0.8 * hilum)
    return ndi.gaussian_filter(layer, 1.0)


def anatomy(shape, view, rng, *, laterality="L", density=None, beta=None, spacing=0.07,
            fine_amp=None, fine_gamma=None):
    """Noise-free projected attenuation of one view.

    Parameters
    ----------
    density : float in [0, 1], optional
        Fibroglandular density; random by default.
    beta : float, optional
        Exponent of the large-scale tissue texture; drawn around 2.7 by default (real
        INbreast: 2.1-3.0, measured).
    fine_amp, fine_gamma : float, optional
        Amplitude (attenuation units) and spectral exponent of the fine fibrous strands.

    Returns
    -------
    dict
        ``attenuation`` (float32), ``mask``, ``pectoral``, ``gland``, ``dist`` (px to the
        skin), ``thickness`` (0..1), ``nipple``, ``inside`` (where MCs may lie), ``skin``
        (bool band within 2 mm of the skin) and the drawn ``density``, ``beta``,
        ``fine_amp``, ``fine_gamma``.
    """
    H, W = shape
    density = float(rng.uniform(0.1, 0.9)) if density is None else float(density)
    beta = float(np.clip(rng.normal(2.7, 0.2), 2.2, 3.1)) if beta is None else float(beta)
    fine_gamma = float(rng.uniform(1.6, 2.2)) if fine_gamma is None else float(fine_gamma)
    fine_peak = float(rng.uniform(*STRAND_PEAK_MM))
    fine_amp = float(np.exp(rng.uniform(np.log(0.008), np.log(0.014)))) if fine_amp is None else fine_amp
    geo = breast_geometry(shape, view, rng, laterality=laterality)
    mask = geo["mask"]
    dist = ndi.distance_transform_edt(mask).astype(np.float32)
    L = rng.uniform(5.0, 8.0) / spacing
    t = np.sqrt(1 - (1 - np.clip(dist / np.float32(L), 0, 1)) ** 2)
    f_cut = TEXTURE_F_CUT_MM * spacing
    tex = powerlaw_field(shape, beta, rng, f_cut=f_cut, f_min=spacing / 40.0)
    gland = expit((tex * 0.9 + 3.0 * geo["envelope"] * (0.4 + density) - 2.4 + 1.6 * density) / 0.8)
    gland = (gland * geo["envelope"] ** 0.3).astype(np.float32)
    fat = rng.uniform(0.3, 0.38)
    att = np.float32(0.02) + np.float32(fat - 0.02) * t
    att += np.float32(rng.uniform(0.14, 0.22)) * gland * t
    att += np.float32(0.006) * powerlaw_field(shape, 2.2, rng, f_cut=f_cut) * t  # fat lobule mottle
    # fine fibrous strands, converging on the nipple; stronger in glandular tissue
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    toward = np.arctan2(geo["nipple"][0] - yy, geo["nipple"][1] - xx)
    strands = oriented_field(shape, fine_gamma, rng, toward, anisotropy=float(rng.uniform(3, 8)),
                             f_peak=fine_peak * spacing)
    att += np.float32(fine_amp) * strands * (0.6 + 0.8 * gland) * t
    # skin: a brighter band with its own fine mottle
    skin_w = rng.uniform(0.8, 1.4) / spacing
    skin_profile = np.exp(-((dist - skin_w) / (0.6 * skin_w)) ** 2) * mask
    skin_tex = 1 + 0.25 * powerlaw_field(shape, 1.5, rng, f_cut=0.35)
    att += np.float32(rng.uniform(0.03, 0.06)) * skin_profile * skin_tex
    # pectoral muscle with fibres along its edge
    pect = geo["pectoral"]
    if pect.any():
        fibres = oriented_field(shape, 2.2, rng, geo["pect_angle"], anisotropy=10.0)
        att += pect * np.float32(rng.uniform(0.16, 0.26)) * (1 + 0.08 * tex + 0.04 * fibres)
    area_cm2 = float(mask.sum()) * (spacing / 10) ** 2
    att += curvilinear(shape, rng, mask, geo["nipple"], area_cm2, spacing) * t
    # Cooper's ligaments: thin arcs in the subcutaneous fat
    periphery = mask & (dist < 12 / spacing) & (dist > 2 / spacing) & (pect < 0.5)
    cooper = (("cooper", 0.3, 0.06, (0.002, 0.006), (5, 15), 0.04, False),)
    att += curvilinear(shape, rng, mask, geo["nipple"], area_cm2, spacing, specs=cooper,
                       where=periphery) * t
    # axillary lymph nodes (MLO/ML: upper part, beside the pectoral muscle)
    if view in ("MLO", "ML"):
        axilla = mask & (yy < 0.35 * H) & (pect < 0.1) & (dist > 6 / spacing)
        att += lymph_nodes(shape, rng, axilla, spacing, int(rng.choice([0, 1, 1, 2, 3])))
    att = np.where(mask, att, np.float32(0.0)).astype(np.float32)
    inside = (dist > 1.5 / spacing) & (pect < 0.5)
    return {"attenuation": att, "mask": mask, "pectoral": pect, "gland": gland, "dist": dist,
            "thickness": t.astype(np.float32), "nipple": geo["nipple"], "inside": inside,
            "skin": mask & (dist < 2.0 / spacing), "density": density, "beta": beta,
            "fine_amp": fine_amp, "fine_gamma": fine_gamma, "area_cm2": area_cm2}
