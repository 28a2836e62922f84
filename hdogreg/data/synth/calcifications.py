"""Calcifications: how many, where, what shape and size, how conspicuous, how annotated.

Distributions follow what was measured on real INbreast files
(:mod:`hdogreg.data.real_targets`):

* counts per image (:func:`draw_counts`): a quarter of the images have none, the median
  is about 3, a few benign images hold 50-100 (INbreast: p25/p50/p75/p95 = 1/3/10/26);
* sizes (:data:`SIZE_MODEL`, :func:`draw_area_px`): about three quarters are small enough
  to be annotated by a single point (equivalent diameter 0.1-0.35 mm); the others are
  contoured, with an area drawn log-normally around 0.53 mm^2 (INbreast contours:
  p5/p50/p95 = 0.105/0.53/3.5 mm^2);
* conspicuity (:data:`SNR_MODEL`): each point-size MC's amplitude is set so that its
  fine-scale DoG response stands a drawn number of background sd above the image's own
  fine-scale background (real INbreast DoG-SNR: p10/p50/p90 = 2.4/5.1/12.4); contoured MCs
  get a drawn contrast-to-noise ratio of their peak;
* benign calcifications (coarse, vascular, rim, dermal) are large, bright and annotated
  as contours, as INbreast annotates every calcification.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage import measure

from ..records import Annotation, rasterize_polygon

__all__ = ["MC_TYPES", "SIZE_MODEL", "SNR_MODEL", "COUNT_MODEL", "COUNT_MODELS", "draw_counts",
           "draw_area_px", "mc_footprint", "contour_of", "plan_mcs", "place_mcs"]

MC_TYPES = ("punctate", "amorphous", "pleomorphic", "linear",
            "benign-coarse", "benign-vascular", "benign-rim", "benign-dermal")
SUSPICIOUS = MC_TYPES[:4]

#: Size distribution of non-benign MCs.
SIZE_MODEL = {
    "p_point": 0.76,                     # share annotated by a single point (356 / 470)
    "point_diameter_mm": (0.1, 0.35),    # log-uniform
    "contour_area_mm2": (0.53, 1.066),   # log-normal: median, sd of ln(area)
    "contour_area_clip_mm2": (0.1, 5.0),
}

#: Size ranges of benign calcifications (mm; log-uniform).
BENIGN_SIZE_MM = {"benign-coarse": (1.2, 3.0), "benign-vascular": (3.0, 8.0),
                  "benign-rim": (1.4, 3.2), "benign-dermal": (0.6, 1.6)}

#: Conspicuity: point-size MCs by DoG-SNR, contoured ones by peak contrast-to-noise;
#: log-normal with ``median * type factor`` and log-sd ``sd``.
SNR_MODEL = {
    "point_snr": (5.0, 0.6),
    "contour_cnr": (9.0, 0.5),
    "type_factor": {"punctate": 1.0, "amorphous": 0.7, "pleomorphic": 1.1, "linear": 1.0,
                    "benign-coarse": 2.2, "benign-vascular": 1.6, "benign-rim": 1.8,
                    "benign-dermal": 1.6},
}

#: Counts per image.
COUNT_MODEL = {
    "p_none": 0.17,            # no calcification at all
    "p_diffuse": 0.03,         # a benign image with many scattered punctate MCs
    "diffuse_range": (45, 100),
    "single_mean": 1.6,        # Poisson mean of isolated MCs
    "p_cluster": 0.45,         # probability of a cluster (a second one: p_cluster2)
    "p_cluster2": 0.15,
    "cluster_size": (8.0, 0.6, 3, 40),   # log-normal median, log-sd, clip
    "benign_mean": 0.35,       # Poisson mean of large benign calcifications
    "dermal_mean": 0.15,
}


#: Every image with a cluster and a few isolated MCs: small test sets that exercise every code
#: path (the ``tiny`` preset), not a realistic count distribution.
DENSE_COUNT_MODEL = {**COUNT_MODEL, "p_none": 0.0, "p_diffuse": 0.0, "single_mean": 3.0,
                     "p_cluster": 1.0, "benign_mean": 0.5}

COUNT_MODELS = {"inbreast": COUNT_MODEL, "dense": DENSE_COUNT_MODEL}


def draw_counts(rng, model=COUNT_MODEL):
    """Numbers of clusters (with sizes), isolated MCs and benign calcifications of one image.

    Returns
    -------
    dict
        ``cluster_sizes`` (list of int), ``n_single``, ``n_benign``, ``n_dermal``,
        ``diffuse`` (bool).
    """
    out = {"cluster_sizes": [], "n_single": 0, "n_benign": 0, "n_dermal": 0, "diffuse": False}
    u = rng.random()
    if u < model["p_none"]:
        return out
    if u < model["p_none"] + model["p_diffuse"]:
        out.update(n_single=int(rng.integers(*model["diffuse_range"])), diffuse=True)
        return out
    med, sd, lo, hi = model["cluster_size"]
    n_cl = int(rng.random() < model["p_cluster"])
    n_cl += int(n_cl and rng.random() < model["p_cluster2"])
    out["cluster_sizes"] = [int(np.clip(np.rint(med * np.exp(rng.normal(0, sd))), lo, hi))
                            for _ in range(n_cl)]
    out["n_single"] = int(rng.poisson(model["single_mean"]))
    out["n_benign"] = int(rng.poisson(model["benign_mean"]))
    out["n_dermal"] = int(rng.poisson(model["dermal_mean"]))
    if not out["cluster_sizes"] and out["n_single"] + out["n_benign"] + out["n_dermal"] == 0:
        out["n_single"] = 1   # p_none alone decides the images without calcifications
    return out


def draw_area_px(rng, mc_type, spacing, *, size_scale=1.0, model=SIZE_MODEL):
    """Target area (px) of one MC and whether it is point-size.

    Returns
    -------
    area_px : float
    point : bool
        True for the small class annotated by a single point (never for benign types).
    """
    px_mm2 = spacing**2
    if mc_type in BENIGN_SIZE_MM:
        lo, hi = BENIGN_SIZE_MM[mc_type]
        d = np.exp(rng.uniform(np.log(lo), np.log(hi)))
        return float(np.pi * d * d / 4 / px_mm2 * size_scale**2), False
    p_point = model["p_point"] * (1.15 if mc_type == "amorphous" else 1.0)
    if rng.random() < min(p_point, 0.95):
        lo, hi = model["point_diameter_mm"]
        d = np.exp(rng.uniform(np.log(lo), np.log(hi)))
        return float(np.pi * d * d / 4 / px_mm2 * size_scale**2), True
    med, sd = model["contour_area_mm2"]
    a = float(np.clip(med * np.exp(rng.normal(0, sd)), *model["contour_area_clip_mm2"]))
    return a / px_mm2 * size_scale**2, False


# ----------------------------------------------------------------------------- footprints
def _unique_rc(r, c):
    r, c = np.asarray(r, int), np.asarray(c, int)
    r0, c0 = r.min(), c.min()
    w = c.max() - c0 + 1
    flat = np.unique((r - r0) * w + (c - c0))
    return flat // w + r0, flat % w + c0


def _ellipse(rng, area, elong=1.0):
    """Pixels (dr, dc) of an ellipse of the given area (px) at a sub-pixel offset."""
    a = max(np.sqrt(area / np.pi * elong), 0.5)
    b = max(np.sqrt(area / np.pi / elong), 0.5)
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


def _lobes(rng, area, n_lobes):
    """Irregular shape: union of a few ellipses (pleomorphic, popcorn)."""
    rr, cc = [], []
    d = 2 * np.sqrt(area / np.pi)
    for i in range(n_lobes):
        ai = area * (0.5 if i == 0 else rng.uniform(0.2, 0.45))
        off = rng.normal(0, d * 0.22, 2) if i else np.zeros(2)
        r, c = _ellipse(rng, ai, rng.uniform(1, 2.2))
        rr.append(r + int(round(off[0])))
        cc.append(c + int(round(off[1])))
    return _unique_rc(np.concatenate(rr), np.concatenate(cc))


def _branch(rng, area, aspect):
    """Draw a fine-linear / branching MC: a crooked line of about `area` px.

    ``length / width ~ aspect``, with an optional side branch; the centre line is widened with
    a disk.
    """
    width = max(np.sqrt(area / aspect), 2.0)
    length = max(area / width, 3.0)
    pts_r, pts_c = [], []
    theta = rng.uniform(-np.pi, np.pi)
    main = length / 1.3 if rng.random() < 0.6 else length
    segs = [(0.0, 0.0, theta, main)]
    if main < length:
        segs.append((None, None, theta + rng.choice([-1, 1]) * rng.uniform(0.5, 1.1), length - main))
    for r0, c0, th, ln in segs:
        if r0 is None:
            k = int(rng.integers(len(pts_r[0]) // 3, max(len(pts_r[0]) // 3 + 1, 2 * len(pts_r[0]) // 3)))
            r0, c0 = pts_r[0][k], pts_c[0][k]
        n = max(int(ln), 2)
        t = th + np.cumsum(rng.normal(0, 0.15, n))
        pts_r.append(r0 + np.cumsum(np.sin(t)))
        pts_c.append(c0 + np.cumsum(np.cos(t)))
    r = np.rint(np.concatenate(pts_r)).astype(int)
    c = np.rint(np.concatenate(pts_c)).astype(int)
    rad = max(int(np.floor(width / 2)), 1)
    if rad >= 1:
        from skimage.morphology import disk

        m = np.zeros((r.max() - r.min() + 2 * rad + 1, c.max() - c.min() + 2 * rad + 1), bool)
        m[r - r.min() + rad, c - c.min() + rad] = True
        rr, cc = np.nonzero(ndi.binary_dilation(m, structure=disk(rad)))
        r, c = rr + r.min() - rad, cc + c.min() - rad
    return _unique_rc(r, c)


def _ring(rng, diam, thick):
    g = np.arange(-int(diam / 2) - 2, int(diam / 2) + 3)
    dr, dc = np.meshgrid(g, g, indexing="ij")
    e = rng.uniform(1.0, 1.3)
    rad = np.sqrt((dr / e) ** 2 + (dc * e) ** 2)
    inside = (rad <= diam / 2) & (rad >= diam / 2 - thick)
    if not inside.any():
        inside = rad <= diam / 2
    return dr[inside], dc[inside]


def _tram_track(rng, length, width):
    t = rng.uniform(-np.pi, np.pi) + np.cumsum(rng.normal(0, 0.03, max(int(length), 3)))
    r, c = np.cumsum(np.sin(t)), np.cumsum(np.cos(t))
    nr, nc = -np.cos(t), np.sin(t)
    rr, cc = [], []
    half = width / 2
    for side in (-1, 1):  # two parallel calcified vessel walls
        for w in np.arange(0, 1.5, 0.5):
            rr.append(np.rint(r + side * (half + w) * nr))
            cc.append(np.rint(c + side * (half + w) * nc))
    return _unique_rc(np.concatenate(rr).astype(int), np.concatenate(cc).astype(int))


def mc_footprint(rng, mc_type, area_px):
    """Pixel offsets (dr, dc) of one calcification of `mc_type` with about `area_px` pixels."""
    if mc_type in ("punctate", "amorphous"):
        return _ellipse(rng, area_px, rng.uniform(1.0, 1.6))
    if mc_type == "pleomorphic":
        return _lobes(rng, area_px, int(rng.integers(1, 4)))
    if mc_type == "linear":
        return _branch(rng, area_px, rng.uniform(4, 10))
    d = 2 * np.sqrt(area_px / np.pi)
    if mc_type == "benign-coarse":
        return _lobes(rng, area_px, int(rng.integers(3, 6)))
    if mc_type == "benign-vascular":
        return _tram_track(rng, d, rng.uniform(2, 4))
    if mc_type == "benign-rim":
        return _ring(rng, d, rng.uniform(2, 4))
    if mc_type == "benign-dermal":
        return _ring(rng, d, max(d / 3, 1.5))
    raise ValueError(f"unknown calcification type {mc_type!r}")


def contour_of(rr, cc, *, max_points=39, min_points=4):
    """INbreast-like contour of a footprint: an open polygon of 4-39 vertices on its outline.

    The outer boundary (:func:`skimage.measure.find_contours` at 0.5 of the hole-filled
    footprint, closed until it is one 4-connected region) is simplified with
    :func:`skimage.measure.approximate_polygon`, tolerance 0.6 px, raised until at most
    `max_points` remain; the closing vertex is dropped.
    """
    pad = 6
    r0, c0 = rr.min() - pad, cc.min() - pad
    m = np.zeros((rr.max() - r0 + pad + 1, cc.max() - c0 + pad + 1), bool)
    m[rr - r0, cc - c0] = True
    m = ndi.binary_fill_holes(m)
    # one outline for the whole calcification: pieces (diagonal steps of a branch, the two
    # walls of a vascular calcification) are joined by a binary closing of increasing size
    # until the region is one 4-connected component, as an annotator would draw one contour
    # around them
    base = m
    for it in range(1, pad // 2 + 1):
        if ndi.label(m)[1] <= 1:
            break
        m = ndi.binary_fill_holes(ndi.binary_closing(base, iterations=it) | base)
    if ndi.label(m)[1] > 1:  # pieces still apart: grow them until they touch
        while ndi.label(m)[1] > 1 and m.sum() < m.size // 2:
            m = ndi.binary_fill_holes(ndi.binary_dilation(m, structure=np.ones((3, 3), bool)))
    full = max(measure.find_contours(m.astype(np.float32), 0.5), key=len)
    tol = 0.6
    poly = measure.approximate_polygon(full, tol)
    while len(poly) - 1 > max_points:
        tol *= 1.3
        poly = measure.approximate_polygon(full, tol)
    if len(poly) - 1 < min_points:  # too coarse: take evenly spaced outline points
        idx = np.linspace(0, len(full) - 1, min_points + 1).astype(int)
        poly = full[idx]
    poly = poly[:-1] if np.allclose(poly[0], poly[-1]) else poly
    return np.round(poly + [r0, c0], 3)


# ----------------------------------------------------------------------------- plan
def plan_mcs(rng, inside, gland, counts, spacing, *, skin=None, size_scale=1.0):
    """Positions and types of the calcifications of one image.

    Returns
    -------
    list of tuple
        ``(type, (row, col), cluster_id)``; cluster_id -1 for isolated ones.
    """
    rs, cs = np.nonzero(inside[::8, ::8])
    if rs.size == 0:
        return []
    rs, cs = rs * 8, cs * 8
    weight = gland[rs, cs] + 0.15
    weight = weight / weight.sum()
    plan = []
    for k, n in enumerate(counts["cluster_sizes"]):
        i = rng.choice(rs.size, p=weight)
        cr, cc = float(rs[i]), float(cs[i])
        kind = str(rng.choice(SUSPICIOUS, p=[0.3, 0.25, 0.25, 0.2]))
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
            t = kind if rng.random() < 0.75 else "punctate"
            plan.append((t, (cr + p[0], cc + p[1]), k))
    single_types = ["punctate"] if counts.get("diffuse") else ["punctate", "pleomorphic", "amorphous"]
    single_p = [1.0] if counts.get("diffuse") else [0.6, 0.25, 0.15]
    for _ in range(counts["n_single"]):
        i = rng.integers(rs.size)
        t = str(rng.choice(single_types, p=single_p))
        plan.append((t, (float(rs[i]) + rng.uniform(-4, 4), float(cs[i]) + rng.uniform(-4, 4)), -1))
    for _ in range(counts["n_benign"]):
        i = rng.integers(rs.size)
        t = str(rng.choice(["benign-coarse", "benign-vascular", "benign-rim"], p=[0.45, 0.3, 0.25]))
        plan.append((t, (float(rs[i]), float(cs[i])), -1))
    if skin is not None and counts.get("n_dermal", 0):
        sr, sc = np.nonzero(skin[::4, ::4])
        for _ in range(counts["n_dermal"] if sr.size else 0):
            i = rng.integers(sr.size)
            plan.append(("benign-dermal", (float(sr[i] * 4), float(sc[i] * 4)), -1))
    return plan


def _patch(rr, cc):
    """Bool patch holding footprint (rr, cc) with two pixels of padding."""
    m = np.zeros((rr.max() - rr.min() + 5, cc.max() - cc.min() + 5), bool)
    m[rr - rr.min() + 2, cc - cc.min() + 2] = True
    return m


def place_mcs(rng, plan, shape, allowed, spacing, *, size_scale=1.0):
    """Place the planned calcifications without overlap, with unit-amplitude profiles.

    Parameters
    ----------
    plan : list
        From :func:`plan_mcs`; items may carry ``(size_factor, amplitude_factor)`` after
        the cluster id.
    allowed : (H, W) bool array
        Where calcification pixels may lie.

    Returns
    -------
    mcs : list of dict
        Per placed MC: ``type, cluster_id, rr, cc`` (rendered pixels), ``profile`` (unit
        peak projected-thickness profile on them), ``fr, fc`` (annotated pixels),
        ``annotation``, ``point`` (bool), ``amp_factor``.
    labels : (H, W) int32
        Annotated pixels, label i + 1 for MC i.
    """
    H, W = shape
    occupied = np.zeros(shape, bool)
    labels = np.zeros(shape, np.int32)
    placed = []
    for item in plan:
        mc_type, (r0, c0), cluster = item[:3]
        size_f, amp_f = item[3:5] if len(item) > 3 else (1.0, 1.0)
        area, point = draw_area_px(rng, mc_type, spacing, size_scale=size_scale * size_f)
        for _attempt in range(6):
            rr, cc = mc_footprint(rng, mc_type, area)
            rr = rr + int(round(r0)) - int(round(rr.mean()))
            cc = cc + int(round(c0)) - int(round(cc.mean()))
            if rr.min() < 2 or cc.min() < 2 or rr.max() >= H - 2 or cc.max() >= W - 2:
                r0, c0 = r0 + rng.normal(0, 4), c0 + rng.normal(0, 4)
                continue
            if point:
                fr, fc = rr, cc
            else:  # the annotated region (filled contour) must be free too, not only the footprint
                poly = contour_of(rr, cc)
                fr, fc = rasterize_polygon(poly, shape)
            if not (allowed[rr, cc].all() and allowed[fr, fc].all()) or occupied[fr, fc].any() \
                    or occupied[rr, cc].any():
                r0, c0 = r0 + rng.normal(0, 3 * size_scale), c0 + rng.normal(0, 3 * size_scale)
                continue
            break
        else:
            continue
        if point:
            k = np.argmin((rr - rr.mean()) ** 2 + (cc - cc.mean()) ** 2)
            ann = Annotation("point", np.array([[float(rr[k]), float(cc[k])]]))
        else:
            if not mc_type.startswith("benign"):
                rr, cc = fr, fc  # rendered footprint = annotated region
            ann = Annotation("contour", poly)
        occ = ndi.binary_dilation(_patch(fr, fc), iterations=2)
        orr, occ_c = np.nonzero(occ)
        orr, occ_c = orr + fr.min() - 2, occ_c + fc.min() - 2
        ok = (orr >= 0) & (orr < H) & (occ_c >= 0) & (occ_c < W)
        occupied[orr[ok], occ_c[ok]] = True
        e = ndi.distance_transform_edt(_patch(rr, cc))
        prof = np.sqrt(e[rr - rr.min() + 2, cc - cc.min() + 2] / e.max())
        if mc_type in ("pleomorphic", "benign-coarse"):
            prof = prof * (1.0 + 0.15 * rng.standard_normal(len(rr)))
        labels[fr, fc] = len(placed) + 1
        placed.append({"type": mc_type, "cluster_id": cluster, "rr": rr, "cc": cc,
                       "profile": prof.astype(np.float32), "fr": fr, "fc": fc, "annotation": ann,
                       "point": bool(point), "amp_factor": float(amp_f)})
    return placed, labels
