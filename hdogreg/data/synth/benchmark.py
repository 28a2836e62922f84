"""The benchmark: INbreast-format folders of synthetic mammograms, a local set, a case-study cohort.

See :func:`generate` for the layout. Presets size it: ``tiny`` (tests), ``default`` (the
book: breast-sized images within a 2-core CPU budget), ``full`` (INbreast-sized images).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..._utils import file_sha256, parallel_map
from ..splits import LOCAL_PROPORTIONS, PAPER_PROPORTIONS, make_splits
from .acquisition import VENDORS
from .mammogram import MC_TRUTH_COLUMNS, SPACING, synth_magnification, synth_mammogram
from .writers import cluster_rois, write_dicom, write_inbreast_xml, write_png

__all__ = ["Preset", "PRESETS", "generate", "read_manifest", "spacing_twin"]


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
    count_model: str = "inbreast"      # calcifications per image (``"dense"``: tests)


PRESETS = {
    "tiny": Preset("tiny", n_cases=6, shape=(320, 256), n_local_cases=3,
                   n_case_patients=10, n_case_rois=12, case_shape=(288, 288), count_model="dense"),
    # 1600 x 1280 px at 0.07 mm = 11.2 x 9.0 cm: breasts of 9-11 cm along the chest wall
    "default": Preset("default", n_cases=48, shape=(1600, 1280), n_local_cases=20,
                      n_case_patients=150, n_case_rois=180),
    "full": Preset("full", n_cases=86, shape=(4084, 3328), n_local_cases=79, local_shape=(3328, 2560),
                   n_case_patients=248, n_case_rois=300, case_shape=(512, 512)),
}


def _hex_id(rng):
    return f"{int(rng.integers(0, 2**62)):016x}"



def _cases(rng, n):
    """Patient ids, ages, densities and laterality per case."""
    cases = []
    used = set()
    for _ in range(n):
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


def _synth_inbreast(seed, case, view, file_id, shape, detector_spacing=None):
    """Generate INbreast-like image `file_id` (Siemens look), imaged at `detector_spacing` mm."""
    rng = np.random.default_rng([seed, 1, int(file_id)])
    return synth_mammogram(rng, shape, view=view, laterality=case["laterality"], vendor="siemens",
                           density=case["density"], count_model=case["count_model"],
                           detector_spacing=detector_spacing)


def _inbreast_plan(rng, seed, preset):
    """Cases and ``(seed, case, view, file_id, shape)`` of the INbreast-like set (draws from `rng`)."""
    cases = _cases(rng, preset.n_cases)
    file_ids = 20_000_000 + rng.choice(40_000_000, size=preset.n_cases * len(preset.views),
                                       replace=False)
    items, k = [], 0
    for case in cases:
        for view in preset.views:
            items.append((seed, dict(case, count_model=preset.count_model), view, str(int(file_ids[k])),
                          preset.shape))
            k += 1
    return cases, items


def _gen_inbreast_image(args):
    seed, case, view, file_id, shape, out = args
    sim = _synth_inbreast(seed, case, view, file_id, shape)
    name = f"{file_id}_{case['patient_id']}_MG_{case['laterality']}_{view}_ANON.dcm"
    write_dicom(out / "AllDICOMs" / name, sim.raw, bits=sim.bits, pixel_spacing=SPACING,
                patient_id=case["patient_id"], laterality=case["laterality"], view=view,
                manufacturer=VENDORS["siemens"].manufacturer, uid_seed=(seed, file_id), date=case["date"])
    write_inbreast_xml(out / "AllXML" / f"{file_id}.xml", sim.annotations, others=cluster_rois(sim),
                       raw=sim.raw, stats_seed=[seed, 4, int(file_id)])
    write_png(out / "groundtruth" / "labels" / f"{file_id}.png", sim.labels.astype(np.uint16))
    write_png(out / "groundtruth" / "breast" / f"{file_id}.png", sim.breast.astype(np.uint8) * 255)
    mcs = sim.mcs.assign(file_id=str(file_id))
    info = {"file_id": str(file_id), "patient_id": case["patient_id"], "laterality": case["laterality"],
            "view": view, "vendor": "siemens", "dicom": f"AllDICOMs/{name}", "density": sim.info["density"],
            "beta": sim.info["beta"], "n_mc": len(mcs), "birads": _birads(sim.mcs),
            **_acq_columns(sim)}
    return info, mcs


def _gen_local_image(args):
    seed, case, view, image_id, shape, out = args
    rng = np.random.default_rng([seed, 2, int(image_id[1:])])
    sim = synth_mammogram(rng, shape, view=view, laterality=case["laterality"], vendor="hologic",
                          density=case["density"], count_model=case["count_model"])
    write_dicom(out / "local" / "images" / f"{image_id}.dcm", sim.raw, bits=sim.bits, pixel_spacing=SPACING,
                patient_id=case["patient_id"], laterality=case["laterality"], view=view,
                manufacturer=VENDORS["hologic"].manufacturer, uid_seed=(seed, image_id), date=case["date"])
    write_png(out / "local" / "groundtruth" / "labels" / f"{image_id}.png", sim.labels.astype(np.uint16))
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
    write_png(out / "casestudy" / "groundtruth" / f"{roi_id}.png", sim.labels.astype(np.uint16))
    x0, y0, x1, y1 = sim.info["bbox"]
    row = {"roi_id": roi_id, "patient_id": patient["patient_id"], "image": f"images/{roi_id}.dcm",
           "x0": x0, "y0": y0, "x1": x1, "y1": y1, "label": patient["label"], "pixel_spacing": round(sp, 6),
           "n_mc": sim.info["n_mc"], "layout": sim.info["layout"]}
    return row, sim.mcs.assign(roi_id=roi_id)


def _acq_columns(sim):
    acq = sim.info["acquisition"]
    return {"quanta": acq.quanta, "mtf_sigma": acq.mtf_sigma, "gain": acq.gain,
            "bg_sd": sim.info["bg_sd"], **{f"has_{k}": v for k, v in sim.info["burn_ins"].items()}}


_ACQ_COLUMNS = ["quanta", "mtf_sigma", "gain", "bg_sd", "has_label", "has_marker", "has_collimation"]
_IMAGE_COLUMNS = ["file_id", "patient_id", "laterality", "view", "vendor", "dicom", "density", "beta",
                  "n_mc", "birads", *_ACQ_COLUMNS]
_LOCAL_COLUMNS = ["image", "patient_id", "laterality", "view", "vendor", "density", "n_mc"]
_COHORT_COLUMNS = ["roi_id", "patient_id", "image", "x0", "y0", "x1", "y1", "label", "pixel_spacing",
                   "n_mc", "layout"]


def _concat(frames, columns):
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _write_csv(path, frame, **kw):
    from ..._utils import atomic_path

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
        from . import GENERATOR_VERSION

        manifest = {"generator": "hdogreg.data.synth", "version": GENERATOR_VERSION, "seed": int(seed),
                    "preset": asdict(preset),
                    "files": {str(p.relative_to(tmp)): file_sha256(p)
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
    cases, plan = _inbreast_plan(rng, seed, preset)
    items = [(*item, out) for item in plan]
    res = parallel_map(_gen_inbreast_image, items, jobs, "synthetic INbreast", progress)
    images = pd.DataFrame([r[0] for r in res], columns=_IMAGE_COLUMNS)
    mcs = _concat([r[1] for r in res], ["file_id", *MC_TRUTH_COLUMNS])
    meta = pd.DataFrame({
        "Patient ID": images["patient_id"], "Patient age": [c["age"] for c in cases for _ in preset.views],
        "Laterality": images["laterality"], "View": images["view"],
        "Acquisition date": [c["date"] for c in cases for _ in preset.views],
        "File Name": images["file_id"], "ACR": [c["acr"] for c in cases for _ in preset.views],
        "Bi-Rads": images["birads"]})
    _write_csv(out / "INbreast.csv", meta, sep=";")
    _write_csv(out / "splits.csv", make_splits(images, PAPER_PROPORTIONS, seed))
    _write_csv(out / "groundtruth" / "images.csv", images)
    first = ["file_id", *MC_TRUTH_COLUMNS]
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
            items.append((seed, dict(case, count_model=preset.count_model), str(view), f"L{k:04d}",
                          lshape, out))
    res = parallel_map(_gen_local_image, items, jobs, "synthetic local set", progress)
    limages = pd.DataFrame([r[0] for r in res], columns=_LOCAL_COLUMNS)
    lmcs = _concat([r[1] for r in res], ["image", *MC_TRUTH_COLUMNS, "annotated"])
    points = pd.DataFrame([p for r in res for p in r[2]], columns=["x", "y", "image"])
    _write_csv(out / "local" / "annotations.csv", points)
    _write_csv(out / "local" / "images.csv", limages)
    lsplit = make_splits(limages.rename(columns={"image": "file_id"}), LOCAL_PROPORTIONS, seed)
    _write_csv(out / "local" / "splits.csv", lsplit.rename(columns={"file_id": "image"}))
    _write_csv(out / "local" / "groundtruth" / "mcs.csv",
               lmcs[["image", *first[1:], "annotated"]])
    # --- case-study cohort (magnification views of amorphous groups)
    patients = []
    for _ in range(preset.n_case_patients):
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
    res = parallel_map(_gen_case_roi, items, jobs, "case-study cohort", progress)
    _write_csv(out / "casestudy" / "cohort.csv", pd.DataFrame([r[0] for r in res], columns=_COHORT_COLUMNS))
    cmcs = _concat([r[1] for r in res], ["roi_id", *MC_TRUTH_COLUMNS])
    _write_csv(out / "casestudy" / "groundtruth" / "mcs.csv", cmcs[["roi_id", *first[1:]]])


def read_manifest(data_dir):
    """Seed and :class:`Preset` of a generated benchmark folder (its ``manifest.json``).

    Parameters
    ----------
    data_dir : str or Path

    Returns
    -------
    seed : int
    preset : Preset

    Raises
    ------
    FileNotFoundError
        If the folder holds no ``manifest.json`` (not generated by :func:`generate`).
    ValueError
        If the manifest is malformed or from another generator version.
    """
    from . import GENERATOR_VERSION

    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; {data_dir} is not a generated benchmark")
    try:
        manifest = json.loads(path.read_text())
        seed = int(manifest["seed"])
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in manifest["preset"].items()}
        preset = Preset(**fields)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed manifest ({exc})") from exc
    if manifest.get("version") != GENERATOR_VERSION:
        raise ValueError(f"{path}: generator version {manifest.get('version')!r}, this package "
                         f"generates {GENERATOR_VERSION!r}; regenerate the benchmark")
    return seed, preset


def spacing_twin(data_dir, file_id, spacing):
    """Image the breast of benchmark image `file_id` with a detector of another pixel spacing.

    A paired twin: the same breast, the same MCs (positions, sizes, amplitudes) and the same
    acquisition settings as the benchmark image, drawn from the same seed, seen by a detector
    whose pixels are `spacing` mm (``round(n * 0.07 / spacing)`` px per side). The noise-free
    attenuation is integrated onto that grid and the detector adds its own blur and noise at
    the same dose (:func:`~hdogreg.data.synth.mammogram.reimage`), so the twin is not a
    resampled copy of the stored image: its noise is drawn on its own grid, and a coarser
    detector loses detail that the pipeline's resampling cannot bring back. A difference
    between twin and original is therefore the pixel size's doing, not a different breast's.
    At 0.07 mm it *is* the benchmark image.

    Parameters
    ----------
    data_dir : str or Path
        Folder written by :func:`generate` (its ``manifest.json`` gives seed and preset).
    file_id : str or int
        An image of its INbreast-like set.
    spacing : float
        mm per pixel (plausible: :func:`hdogreg.spacing.check_pixel_spacing`).

    Returns
    -------
    hdogreg.data.synth.pool.PoolImage
        The stored image (``raw / (2**bits - 1)``) and exact labels on the twin's grid,
        ``pixel_spacing = source_spacing = spacing``.

    Raises
    ------
    KeyError
        If `file_id` is not an image of the benchmark.
    """
    from hdogreg.spacing import check_pixel_spacing

    from .pool import PoolImage

    spacing = check_pixel_spacing(spacing)
    seed, preset = read_manifest(data_dir)
    _, plan = _inbreast_plan(np.random.default_rng([seed, 0]), seed, preset)
    found = [item for item in plan if item[3] == str(file_id)]
    if not found:
        raise KeyError(f"{file_id}: not an image of the benchmark in {data_dir}")
    _, case, view, fid, shape = found[0]
    sim = _synth_inbreast(seed, case, view, fid, shape, detector_spacing=spacing)
    image = (sim.raw / float(2**sim.bits - 1)).astype(np.float32)
    return PoolImage(image=image, labels=np.asarray(sim.labels, np.int32), pixel_spacing=spacing,
                     file_id=f"{fid}@{spacing:g}mm", patient_id=case["patient_id"], vendor="siemens",
                     source_spacing=spacing, look=False)
