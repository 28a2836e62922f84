"""One synthetic mammogram (or magnification view) with exactly known calcifications.

:func:`synth_mammogram` chains the stages: anatomy -> calcification plan and placement ->
acquisition of the background alone, to measure this image's fine-scale noise -> MC
amplitudes set from drawn conspicuities (:data:`~.calcifications.SNR_MODEL`) -> acquisition
of anatomy + MCs with the same noise realisation -> burnt-in label, markers, collimation ->
quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.special import expit

from ...spacing import is_native, labels_to_input, nearest_resize, rescale_points, to_native
from ..realism import dog_snr, fine_scale_dog, resample_to
from .acquisition import (
    VENDORS,
    acquire,
    burn_in,
    correlated_noise,
    draw_acquisition,
    noise_sd,
    quantise,
    tone_slope,
)
from .anatomy import anatomy, curvilinear
from .calcifications import COUNT_MODELS, SNR_MODEL, draw_counts, place_mcs, plan_mcs
from .texture import oriented_field, powerlaw_field

__all__ = ["SPACING", "MC_TRUTH_COLUMNS", "SynthImage", "synth_mammogram", "synth_magnification",
           "set_amplitudes", "reimage"]

SPACING = 0.07  # mm / pixel (INbreast, the paper)

#: Columns of the ground-truth table of the generated MCs (``SynthImage.mcs``, the benchmark's
#: ``groundtruth/mcs.csv``): ``row``/``col`` and ``x`` (column)/``y`` (row) in pixels. Not to be confused with
#: :data:`hdogreg.pipeline.MC_TABLE_COLUMNS`, the table of the MCs a segmentation measured.
MC_TRUTH_COLUMNS = ["mc_id", "kind", "type", "cluster_id", "row", "col", "x", "y", "area_px",
                    "diameter_mm", "amplitude", "contrast", "snr"]


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


def _local_box(rr, cc, shape, pad, n):
    """Slice around (rr, cc) with `pad` px, its start aligned to multiples of `n`."""
    r0 = max((rr.min() - pad) // n * n, 0)
    c0 = max((cc.min() - pad) // n * n, 0)
    r1 = min(rr.max() + pad + 1, shape[0])
    c1 = min(cc.max() + pad + 1, shape[1])
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))


def set_amplitudes(placed, background, acq, spacing, rng, *, bg_sd, snr_scale=1.0, model=SNR_MODEL):
    """Amplitude of each placed MC from a drawn conspicuity.

    Parameters
    ----------
    placed : list of dict
        From :func:`~.calcifications.place_mcs` (unit-peak profiles).
    background : (H, W) ndarray
        Noise-free, blurred attenuation of the image without MCs.
    acq : Acquisition
    bg_sd : float
        Robust sd of the fine-scale DoG of the noisy background (stored units, at 0.14 mm).
    snr_scale : float
        Multiplies every drawn conspicuity (magnification views: > 1).

    Returns
    -------
    None
        Adds ``amplitude`` (attenuation units), ``contrast`` (noise-free peak contrast in
        stored units) and ``snr`` (noise-free DoG-SNR) to each dict.

    Notes
    -----
    Point-size MCs: the noise-free fine-scale DoG response (the estimator of
    :func:`hdogreg.data.realism.dog_snr`) of the MC is made ``snr * bg_sd``. Contoured
    MCs: the noise-free peak contrast is made ``cnr`` times the pixel noise sd there. The
    response is linear in the amplitude (blur, DoG, resampling are linear; the tone curve
    is linearised at the local background).
    """
    factor = 0.14 / spacing
    n = int(round(factor)) if abs(factor - round(factor)) < 1e-6 else 1
    pad = int(np.ceil(3 * acq.mtf_sigma + 4 * factor)) + 2
    for mc in placed:
        rr, cc = mc["rr"], mc["cc"]
        box = _local_box(rr, cc, background.shape, pad, n)
        unit = np.zeros((box[0].stop - box[0].start, box[1].stop - box[1].start), np.float32)
        unit[rr - box[0].start, cc - box[1].start] = mc["profile"]
        blurred = ndi.gaussian_filter(unit, acq.mtf_sigma, truncate=3.0)
        centre = (int(np.rint(np.mean(mc["fr"]))), int(np.rint(np.mean(mc["fc"]))))
        bg = float(background[centre])
        v_lin = acq.offset + acq.gain * bg
        slope = float(acq.gain * tone_slope(np.float32(v_lin), acq))
        tf = model["type_factor"].get(mc["type"], 1.0) * mc["amp_factor"] * snr_scale
        peak_unit = float(blurred.max()) * slope
        d_unit = fine_scale_dog(resample_to(blurred * slope, spacing)[0])
        d_unit = ndi.maximum_filter(d_unit, size=3)
        ci = int(np.clip((centre[0] - box[0].start) / factor, 0, d_unit.shape[0] - 1))
        cj = int(np.clip((centre[1] - box[1].start) / factor, 0, d_unit.shape[1] - 1))
        dog_unit = max(float(d_unit[ci, cj]), 1e-6)
        if mc["point"]:
            med, sd = model["point_snr"]
            target = med * tf * float(np.exp(rng.normal(0, sd)))
            amp = target * bg_sd / dog_unit
        else:
            med, sd = model["contour_cnr"]
            cnr = med * tf * float(np.exp(rng.normal(0, sd)))
            pix_sd = float(noise_sd(bg, acq)) * slope
            amp = cnr * pix_sd / max(peak_unit, 1e-6)
        mc["amplitude"] = float(amp)
        mc["contrast"] = float(amp * peak_unit)
        mc["snr"] = float(amp * dog_unit / bg_sd)


def _render(placed, shape):
    layer = np.zeros(shape, np.float32)
    for mc in placed:
        layer[mc["rr"], mc["cc"]] = np.maximum(layer[mc["rr"], mc["cc"]], mc["amplitude"] * mc["profile"])
    return layer


def _table(placed, spacing, size_scale=1.0):
    rows = []
    for i, mc in enumerate(placed, start=1):
        ann = mc["annotation"]
        pr, pc = (ann.points[0] if ann.kind == "point" else (np.mean(mc["fr"]), np.mean(mc["fc"])))
        rows.append({"mc_id": i, "kind": ann.kind, "type": mc["type"], "cluster_id": mc["cluster_id"],
                     "row": float(pr), "col": float(pc), "x": float(pc), "y": float(pr),
                     "area_px": int(len(mc["fr"])),
                     "diameter_mm": float(2 * np.sqrt(len(mc["fr"]) / np.pi) * spacing / size_scale),
                     "amplitude": mc["amplitude"], "contrast": mc["contrast"], "snr": mc["snr"]})
    return pd.DataFrame(rows, columns=MC_TRUTH_COLUMNS)


def _acquire_with_mcs(att, placed, acq, rng, spacing, mask, *, snr_scale=1.0):
    """Background-only acquisition to measure the noise, then MCs calibrated on it."""
    noise = correlated_noise(att.shape, rng, acq.nps_sigma)
    grain_seed = int(rng.integers(2**31))
    bg_stored = acquire(att, acq, np.random.default_rng(grain_seed), noise=noise)
    try:  # the estimator's own breast region, as the real targets were measured
        bg_sd = dog_snr(bg_stored, spacing)["sd"]
    except ValueError:  # small test images: the whole given region
        bg_sd = dog_snr(bg_stored, spacing, mask=mask, erode_px=2)["sd"]
    background = ndi.gaussian_filter(att, acq.mtf_sigma, truncate=3.0)
    set_amplitudes(placed, background, acq, spacing, rng, bg_sd=bg_sd, snr_scale=snr_scale)
    stored = acquire(att + _render(placed, att.shape), acq, np.random.default_rng(grain_seed), noise=noise)
    return stored, bg_sd


def shape_at(shape, spacing):
    """Shape at `spacing` of an image of `shape` px at 0.07 mm (same physical size, >= 64 px).

    Examples
    --------
    >>> shape_at((1600, 1280), 0.14)
    (800, 640)
    """
    return tuple(max(64, int(round(n * SPACING / spacing))) for n in shape)


def synth_mammogram(rng, shape=(1000, 800), *, view="CC", laterality="L", vendor="siemens",
                    density=None, beta=None, spacing=SPACING, n_clusters=None, n_single=None,
                    n_benign=None, burn_ins=True, count_model="inbreast", detector_spacing=None):
    """Generate one full-field mammogram with known MCs.

    Parameters
    ----------
    rng : numpy.random.Generator or int
    shape : (rows, cols)
    view : {"CC", "MLO", "ML"}
    laterality : {"L", "R"}
    vendor : {"siemens", "hologic", "ge", "film"} or Vendor
    density : float in [0, 1], optional
        Fibroglandular density (ACR 1-4 ~ 0.15, 0.35, 0.6, 0.85); random by default.
    beta : float, optional
        Power-law exponent of the large-scale texture.
    spacing : float
        mm per pixel.
    detector_spacing : float, optional
        Pixel size (mm) of the detector that images the breast; default `spacing`. When it
        differs, the breast and its MCs are drawn at `spacing` exactly as without it (the
        same random stream: the same breast, MCs and amplitudes) and then imaged by a
        detector with this pixel size (:func:`reimage`). Used for paired spacing twins.
    n_clusters, n_single, n_benign : int, optional
        Numbers of MC clusters, isolated MCs and large benign calcifications; by default
        drawn from the count model.
    count_model : {"inbreast", "dense"}
        :data:`~.calcifications.COUNT_MODELS`: INbreast-like counts per image, or every
        image with a cluster (small test sets).
    burn_ins : bool
        Add a burnt-in label, markers and collimation bands outside the breast (at random).

    Returns
    -------
    SynthImage
        ``info`` holds the drawn anatomy and :class:`~.acquisition.Acquisition` values.
    """
    rng = np.random.default_rng(rng)
    # the acquisition draws from its own stream: one seed gives the same breast in every look
    acq = draw_acquisition(vendor, np.random.default_rng(int(rng.integers(2**63))))
    an = anatomy(shape, view, rng, laterality=laterality, density=density, beta=beta, spacing=spacing)
    counts = draw_counts(rng, COUNT_MODELS[count_model])
    if n_clusters is not None:
        counts["cluster_sizes"] = [int(rng.integers(5, 26)) for _ in range(n_clusters)]
    if n_single is not None:
        counts["n_single"] = int(n_single)
    if n_benign is not None:
        counts["n_benign"] = int(n_benign)
    edge = np.zeros(shape, bool)
    edge[:int(6 / spacing)] = edge[-int(6 / spacing):] = True  # room for collimation bands
    plan = plan_mcs(rng, an["inside"] & ~edge, an["gland"], counts, spacing, skin=an["skin"] & ~edge)
    placed, labels = place_mcs(rng, plan, shape, an["mask"] & ~edge, spacing)
    stored, bg_sd = _acquire_with_mcs(an["attenuation"], placed, acq, rng, spacing, an["mask"])
    breast = an["mask"]
    anns = [mc["annotation"] for mc in placed]
    table = _table(placed, spacing)
    if detector_spacing is not None and not is_native(detector_spacing, spacing):
        stored, labels, breast, anns, table = reimage(
            an["attenuation"] + _render(placed, shape), labels, breast, anns, table, acq,
            rng.spawn(1)[0], spacing, detector_spacing)
        spacing = detector_spacing
    added = {}
    if burn_ins:
        stored, added = burn_in(stored, rng, breast, spacing, label=f"{laterality}{view}")
        breast = breast & ~added["collimation"]
    raw = quantise(stored, acq.bits)
    info = {"density": an["density"], "beta": an["beta"], "vendor": acq.vendor, "view": view,
            "laterality": laterality, "acquisition": acq, "bg_sd": bg_sd,
            "fine_amp": an["fine_amp"], "fine_gamma": an["fine_gamma"],
            "burn_ins": {k: bool(v.any()) for k, v in added.items()}, "counts": counts}
    return SynthImage(raw=raw, bits=acq.bits, annotations=anns, labels=labels,
                      mcs=table, breast=breast, info=info)


def reimage(scene, labels, breast, annotations, mcs, acq, rng, spacing, detector_spacing):
    """Image a generated breast with a detector of another pixel size (a paired spacing twin).

    The noise-free projected attenuation (breast and MCs, before the detector's blur) is
    integrated onto the detector's grid (:func:`hdogreg.spacing.to_native`: the area mean
    over each detector pixel when it is coarser, cubic interpolation when it is finer), then
    the detector's own blur and noise are applied there (:func:`~.acquisition.acquire`, the
    same :class:`~.acquisition.Acquisition` in detector pixels). The dose is the same, so the
    quanta per pixel scale with the pixel area: at a fixed physical scale the noise is that of
    the original detector.

    Parameters
    ----------
    scene : (H, W) ndarray
        Attenuation of the breast with its MCs at `spacing` (noise-free, not blurred).
    labels : (H, W) ndarray of int
        Annotated MC pixels (label ``i + 1`` for MC ``i``).
    breast : (H, W) ndarray of bool
    annotations : list of Annotation
    mcs : pandas.DataFrame
        Ground-truth table (:data:`MC_TRUTH_COLUMNS`) at `spacing`.
    acq : Acquisition
    rng : numpy.random.Generator
        Draws the detector's noise.
    spacing, detector_spacing : float
        mm per pixel of the scene and of the detector.

    Returns
    -------
    stored : (h, w) ndarray of float32
        Not yet clipped or quantised; ``(h, w) = round((H, W) * spacing / detector_spacing)``.
    labels, breast : (h, w) ndarray
        On the detector's grid (:func:`hdogreg.spacing.labels_to_input`: every MC keeps a
        pixel where it can; :func:`hdogreg.spacing.nearest_resize`).
    annotations : list of Annotation
        Coordinates mapped onto the detector's grid (pixel centres, edges aligned).
    mcs : pandas.DataFrame
        ``row``, ``col``, ``x``, ``y`` mapped, ``area_px`` counted on the new labels;
        ``diameter_mm``, ``amplitude``, ``contrast`` and ``snr`` stay those of the original
        acquisition (the physical MC and its conspicuity there).
    """
    signal = to_native(np.asarray(scene, np.float32), spacing, native=detector_spacing)
    shape = signal.shape
    detector = replace(acq, quanta=acq.quanta * (detector_spacing / spacing) ** 2)
    stored = acquire(signal, detector, rng)
    labels = labels_to_input(labels, shape)
    anns = [replace(a, points=rescale_points(a.points, scene.shape, shape)) for a in annotations]
    mcs = mcs.copy()
    rc = rescale_points(mcs[["row", "col"]].to_numpy(float), scene.shape, shape)
    mcs["row"] = mcs["y"] = rc[:, 0]
    mcs["col"] = mcs["x"] = rc[:, 1]
    area = np.bincount(labels.ravel(), minlength=len(mcs) + 1)
    mcs["area_px"] = area[mcs["mc_id"].to_numpy(int)].astype(int)
    return stored, labels, nearest_resize(breast, shape), anns, mcs


# ----------------------------------------------------------------------------- magnification views
def synth_magnification(rng, shape=(400, 400), *, z=0.0, magnification=1.8, vendor="hologic",
                        spacing=SPACING):
    """Make a magnification-view image around a group of amorphous calcifications.

    Parameters
    ----------
    z : float
        Latent 'suspiciousness' of the group: larger ``z`` gives more MCs, more size and
        contrast heterogeneity, more pleomorphic members and more often a linear/segmental
        distribution. The benign/malignant label only shifts ``z`` (see
        :func:`~.benchmark.generate`), so morphology predicts the label only partly.

    Returns
    -------
    SynthImage
        ``info`` holds ``bbox`` = (x0, y0, x1, y1) half-open, x = column.
    """
    rng = np.random.default_rng(rng)
    acq = draw_acquisition(vendor, rng)
    H, W = shape
    sp = spacing / magnification
    f_cut = 2.5 * sp
    tex = powerlaw_field(shape, float(np.clip(rng.normal(2.7, 0.2), 2.2, 3.1)), rng, f_cut=f_cut)
    density = rng.uniform(0.2, 0.9)
    gland = expit((tex + 2.5 * density - 1.4) / 0.8).astype(np.float32)
    att = np.float32(rng.uniform(0.3, 0.38)) + np.float32(rng.uniform(0.14, 0.22)) * gland
    att += np.float32(0.006) * powerlaw_field(shape, 2.2, rng, f_cut=f_cut)
    theta = np.float32(rng.uniform(0, np.pi))
    att += (np.float32(rng.uniform(0.0025, 0.005)) * oriented_field(shape, 1.9, rng, theta)
            * (0.6 + 0.8 * gland))
    nipple = (rng.uniform(-H, 2 * H), rng.uniform(-W, 2 * W))
    att += curvilinear(shape, rng, np.ones(shape, bool), nipple, H * W * (sp / 10) ** 2, sp)
    att = att.astype(np.float32)
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
        pos = np.stack([along * np.sin(th) + across * np.cos(th),
                        along * np.cos(th) - across * np.sin(th)], 1)
        layout = "linear"
    else:
        pos = rng.normal(0, spread / 2.5, (n, 2))
        layout = "clustered"
    inside = np.zeros(shape, bool)
    inside[8:-8, 8:-8] = True
    # size and contrast heterogeneity: per-MC factors with log-sd `het`
    plan = [("pleomorphic" if rng.random() < p_pleo else "amorphous", (cr + p[0], cc + p[1]), 0,
             float(np.exp(rng.normal(0, het))), float(np.exp(rng.normal(0, het)))) for p in pos]
    placed, labels = place_mcs(rng, plan, shape, inside, sp)
    stored, _ = _acquire_with_mcs(att, placed, acq, rng, sp, np.ones(shape, bool), snr_scale=1.6)
    raw = quantise(stored, acq.bits)
    if placed:
        rr, cc_ = np.nonzero(labels)
        m0, m1 = rng.integers(10, 45, 2), rng.integers(10, 45, 2)
        x0, y0 = int(max(cc_.min() - m0[0], 0)), int(max(rr.min() - m0[1], 0))
        x1, y1 = int(min(cc_.max() + 1 + m1[0], W)), int(min(rr.max() + 1 + m1[1], H))
    else:
        x0, y0, x1, y1 = W // 4, H // 4, 3 * W // 4, 3 * H // 4
    return SynthImage(raw=raw, bits=acq.bits, annotations=[mc["annotation"] for mc in placed],
                      labels=labels, mcs=_table(placed, sp), breast=np.ones(shape, bool),
                      info={"bbox": (x0, y0, x1, y1), "n_mc": len(placed), "heterogeneity": het,
                            "layout": layout, "pixel_spacing": sp, "z": z, "acquisition": acq})


VENDOR_NAMES = tuple(VENDORS)
