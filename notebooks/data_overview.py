# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The data: a synthetic INbreast-format benchmark
#
# The paper trains and tests on **INbreast** (Siemens, 14-bit, 0.07 mm/pixel, MCs annotated as
# single points or contours), tests the domain shift on a **local Hologic set** (12-bit,
# single-pixel annotations) and runs a case study on **magnification views** of amorphous
# calcifications. None of these can be downloaded where this book is built, so by default every
# page runs on a synthetic benchmark written by `python -m hdogreg.data synth` in the same
# on-disk format as INbreast (`AllDICOMs/`, `AllXML/`, `INbreast.csv`).
#
# This page shows what that data looks like and **how close it is to real mammograms**: the
# generator is calibrated to statistics measured on real images (INbreast FFDMs and digitised
# films; `hdogreg.data.real_targets`), and the same estimators (`hdogreg.data.realism`) are
# run here on the generated images: the power spectrum inside the breast, how far MCs stand
# above the fine-scale background, intensity levels, counts and sizes of the calcifications.
#
# **Data:** `data_dir` (default `data/synth`, the synthetic benchmark). Point `data_dir` at a
# real INbreast folder and the same page describes INbreast instead (the parts that need the
# synthetic ground truth, the local set or the case-study cohort are then skipped).

# %% tags=["parameters"]
data_dir = "data/synth"     # INbreast-format folder (synthetic benchmark by default)
n_images = 16               # images used for the realism statistics
square_mm = 25.6            # side of the spectrum squares (the real estimator: 25.6 mm)
look_shape = [1600, 1280]   # size (px) of the four-vendor-looks example
look_seed = 3               # seed of that example
zoom = 160                  # side (px) of the zoomed windows

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import norm

from hdogreg.book import save_results, shown_path
from hdogreg.breast import breast_mask
from hdogreg.data import InbreastDataset, LocalDataset, read_casestudy_cohort, real_targets
from hdogreg.data.realism import annotation_summary, mean_spectrum, realism_summary, target_spectrum
from hdogreg.data.stats import measure_mcs
from hdogreg.data.synth import VENDORS, synth_mammogram
from hdogreg.pipeline import SegmentParams
from hdogreg.viz import mc_window, overlay_outline, show_image

root = Path(data_dir)
dataset = InbreastDataset(root)
manifest_path = root / "manifest.json"
synthetic = manifest_path.is_file()
manifest = json.loads(manifest_path.read_text()) if synthetic else None
local_dir, case_dir, gt_dir = root / "local", root / "casestudy", root / "groundtruth"
print(dataset)
print(dataset.table.groupby(["view", "laterality"]).size().rename("images").to_string())
if synthetic:
    print(f"synthetic benchmark: generator {manifest['version']}, preset {manifest['preset']['name']}, "
          f"seed {manifest['seed']}")
if "split" in dataset.table:
    print(dataset.table.drop_duplicates("patient_id")["split"].value_counts().rename("patients").to_string())

# %% [markdown]
# ## What is synthetic
#
# When `data_dir` holds a `manifest.json` (written by the generator), **every image on this
# page and in the book's default runs is simulated**: no patient data is involved, and results
# on it say how the method behaves on this simulation, not how it performs on INbreast or on
# clinical images. The generator (`hdogreg.data.synth`, one module per stage) draws, per view:
#
# * **anatomy**: a breast outline with skin line and skin texture, compressed-thickness
#   fall-off, a pectoral muscle with fibres along its edge on MLO/ML views; fibroglandular
#   tissue as a thresholded $1/f^{\beta}$ field; fine fibrous strands converging on the
#   nipple with a band-pass spectrum peaking near 2 cycles/mm (`anatomy.STRAND_PEAK_MM`);
#   Cooper's ligaments; ducts and vessels of five width classes; axillary lymph nodes with a
#   fatty hilum;
# * **calcifications** with INbreast-like counts per image (a quarter of the images have
#   none, a few benign images many), about three quarters small enough to be annotated by a
#   point and the rest contoured with INbreast's contour areas; punctate, faint amorphous,
#   pleomorphic and fine-linear shapes in clusters and alone, plus benign coarse, vascular,
#   rim and dermal calcifications; each MC's contrast is set from a drawn conspicuity
#   relative to this image's own fine-scale background;
# * **acquisition**: detector MTF, Poisson-Gaussian noise whose variance grows with the
#   signal, a noise power spectrum of the detector's correlation length, a vendor look
#   (Siemens-like 14-bit raw-like at INbreast's raw levels, Hologic-like 12-bit processed,
#   GE-like 14-bit processed, digitised film), each parameter drawn per image from a range;
#   burnt-in labels, markers and collimation bands outside the breast.
#
# The annotations follow INbreast's files: small MCs as single points (Type 19), larger ones
# as open contours of 4–39 points (Type 15), ROI areas in cm², raw statistics in about half of
# the ROIs; the exact footprint of every MC is kept in `groundtruth/`. What the simulation
# does **not** capture: real anatomy and its variability, real lesions, the reader
# variability of real annotations, and a real benign/malignant biology in the case study (its
# labels are drawn from a model in which morphology predicts malignancy only in part).

# %% [markdown]
# ## Views and vendor looks
# One CC and one MLO view of the INbreast-format set, and (if present) one image of the local
# Hologic-like set, with the annotated MCs outlined (points as circles).

# %%
examples = [dataset.load(dataset.table.loc[dataset.table.view == v, "file_id"].iloc[0])
            for v in ("CC", "MLO") if (dataset.table.view == v).any()]
local = LocalDataset(local_dir) if (local_dir / "images").is_dir() else None
if local is not None:
    examples.append(local.load(local.file_ids()[0]))
fig, axes = plt.subplots(1, len(examples), figsize=(4.2 * len(examples), 5.2), constrained_layout=True)
for ax, mg in zip(np.atleast_1d(axes), examples):
    show_image(ax, mg.image, f"{mg.vendor}, {mg.view} {mg.laterality}, {mg.bits}-bit",
               mask=breast_mask(mg.image), scalebar_mm=10, pixel_spacing=mg.pixel_spacing)
    overlay_outline(ax, mg.mc_mask(), color="red", linewidth=0.6)
plt.show()

# %% [markdown]
# ## Zoomed clusters
# The `zoom`-pixel window holding the most annotated MCs (counted by their centres) of each
# example, without and with the annotations.

# %%
fig, axes = plt.subplots(2, len(examples), figsize=(3.6 * len(examples), 7.2), constrained_layout=True)
axes = np.asarray(axes).reshape(2, -1)
for j, mg in enumerate(examples):
    win = mc_window(mg, zoom)
    show_image(axes[0, j], mg.image[win], f"{mg.file_id}: rows {win[0].start}-{win[0].stop}",
               scalebar_mm=2, pixel_spacing=mg.pixel_spacing)
    show_image(axes[1, j], mg.image[win], "annotations")
    overlay_outline(axes[1, j], mg.mc_mask()[win], color="red", linewidth=0.8)
plt.show()

# %% [markdown]
# ## The same breast in four vendor looks
# One seed, one anatomy, four acquisitions (`look_shape` pixels at 0.07 mm): the same
# window of each, displayed between its own 0.5 and 99.8 percentiles. The stored values
# differ completely between looks (bit depth, tone curve, noise texture); the method
# sees them as they are stored.

# %%
looks = {name: synth_mammogram(look_seed, tuple(look_shape), view="CC", vendor=name, burn_ins=False)
         for name in VENDORS}
first = next(iter(looks.values()))
centre = (first.mcs[["row", "col"]].median().to_numpy(int) if len(first.mcs)
          else np.array(first.raw.shape) // 2)
r0 = int(np.clip(centre[0] - zoom, 0, first.raw.shape[0] - 2 * zoom))
c0 = int(np.clip(centre[1] - zoom, 0, first.raw.shape[1] - 2 * zoom))
win = (slice(r0, r0 + 2 * zoom), slice(c0, c0 + 2 * zoom))
fig, axes = plt.subplots(2, len(looks), figsize=(3.6 * len(looks), 7.4), constrained_layout=True)
for j, (name, sim) in enumerate(looks.items()):
    img = sim.raw / (2**sim.bits - 1)
    show_image(axes[0, j], img, f"{name}: {sim.bits}-bit, {VENDORS[name].tone} tone", mask=sim.breast)
    axes[0, j].add_patch(plt.Rectangle((c0, r0), 2 * zoom, 2 * zoom, fill=False, color="yellow"))
    show_image(axes[1, j], img[win], f"breast median {np.median(img[sim.breast]):.3f} of full scale",
               scalebar_mm=2, pixel_spacing=0.07)
plt.show()

# %% [markdown]
# ## Realism against real mammograms
# The targets below were **measured on real mammograms** (INbreast FFDMs, digitised films and
# INbreast annotation files; the counts are printed below, from `hdogreg.data.real_targets`)
# with the estimators of `hdogreg.data.realism`; this page runs the same estimators on the
# first `n_images` images of `data_dir`:
#
# * the breast-interior power spectrum at 0.14 mm in up to six random `square_mm` squares:
#   slope `beta` over 0.15–1.0 cycles/mm, slope `beta_hi` over 1.5–3.4 cycles/mm, and
#   `excess`, how far (dex) the 1.5–3.4 cycles/mm power lies above the low-frequency power law
#   extrapolated there - the band where MCs live;
# * the DoG-SNR of annotated MCs: the fine-scale DoG $G(0.6) - G(0.96)$ (px at 0.14 mm) at the
#   annotated centroid over its robust background sd, and the background's tail (its
#   99.9th percentile in the same units; for Gaussian noise the normal quantile, the
#   "Gaussian" line of the plot);
# * the median breast level of 14-bit images on the raw/16383 scale.

# %%
ids = dataset.file_ids()[:n_images]
mammograms = [dataset.load(f) for f in ids]
per_image, snr = realism_summary(mammograms)
real = real_targets.SPECTRUM["inbreast"]
med = per_image.median(numeric_only=True)
snr_pct = np.percentile(snr, [10, 25, 50, 75, 90]) if len(snr) else np.full(5, np.nan)
fourteen = per_image[per_image.bits == 14]
comparison = pd.DataFrame([
    *[{"statistic": k, "this data (median)": med[k], "real INbreast (median)": real[k][0],
       "real range": f"{real[k][1]:.2f} to {real[k][2]:.2f}"} for k in ("beta", "beta_hi", "excess")],
    *[{"statistic": f"MC DoG-SNR p{q}", "this data (median)": v,
       "real INbreast (median)": real_targets.DOG_SNR["percentiles"][q], "real range": ""}
      for q, v in zip((10, 25, 50, 75, 90), snr_pct)],
    {"statistic": "background tail (sd)", "this data (median)": med["bg_tail"],
     "real INbreast (median)": real_targets.BG_TAIL[0],
     "real range": f"{real_targets.BG_TAIL[1]} to {real_targets.BG_TAIL[2]}"},
    {"statistic": "breast level, 14-bit (raw/16383)",
     "this data (median)": fourteen["level"].median() if len(fourteen) else np.nan,
     "real INbreast (median)": np.nan,
     "real range": "{} to {} (tissue)".format(*real_targets.RAW_LEVELS["tissue_range_01"])},
])
print(f"targets measured on {real_targets.SPECTRUM['inbreast']['n_images']} INbreast FFDMs, "
      f"{real_targets.SPECTRUM['film']['n_images']} digitised films, "
      f"{real_targets.INBREAST_ANNOTATIONS['n_files']} INbreast annotation files; "
      f"Gaussian background tail: {norm.ppf(0.999):.2f} sd")
print(f"{len(per_image)} images, {len(snr)} annotated calcifications; "
      f"spectrum squares per image: median {per_image.n_squares.median():.0f}")
comparison.round(3)

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
ax = axes[0]
shown = 0
for mg in mammograms:
    freq, power = mean_spectrum(mg.image, mg.pixel_spacing, square_mm=square_mm)
    if len(freq) == 0:
        continue
    ref = np.interp(0.5, freq, power)
    ax.loglog(freq, power / ref, color="0.55", lw=0.7, alpha=0.7, label="this data" if shown == 0 else None)
    shown += 1
if shown:
    f = np.geomspace(0.15, 3.5, 200)
    ax.loglog(f, target_spectrum(f, real["beta"][0], real["beta_hi"][0], real["excess"][0]), "r-", lw=2,
              label="real INbreast (medians)")
    ax.loglog(f, (f / 0.5) ** -real["beta"][0], "r:", lw=1, label="low-frequency law, extrapolated")
    ax.axvspan(1.5, 3.4, color="orange", alpha=0.15, label="1.5-3.4 cycles/mm")
    ax.legend(fontsize=7)
else:
    ax.text(0.5, 0.5, f"no {square_mm} mm square fits\ninside these breasts", ha="center",
            transform=ax.transAxes)
ax.set_xlabel("spatial frequency (cycles/mm)")
ax.set_ylabel("power / power at 0.5 cycles/mm")
ax.set_title("breast-interior power spectra")
ax = axes[1]
if len(snr):
    ax.hist(snr, bins=np.geomspace(0.5, 100, 30), color="0.6", label=f"this data ({len(snr)} MCs)")
    ax.set_xscale("log")
for q, v in real_targets.DOG_SNR["percentiles"].items():
    ax.axvline(v, color="r", ls="--" if q == 50 else ":", lw=1.5 if q == 50 else 1)
ax.plot([], [], "r--", label="real INbreast p10-p90 (p50 dashed)")
ax.set_xlabel("MC DoG-SNR (background sd)")
ax.set_ylabel("MCs")
ax.legend(fontsize=7)
ax.set_title("how far MCs stand above the background")
ax = axes[2]
ax.hist(per_image["bg_tail"], bins=12, color="0.6", label="this data")
ax.axvspan(real_targets.BG_TAIL[1], real_targets.BG_TAIL[2], color="r", alpha=0.4, label="real INbreast")
ax.axvline(norm.ppf(0.999), color="k", ls=":", label="Gaussian")
ax.set_xlabel("p99.9 of the fine-scale DoG (sd)")
ax.set_ylabel("images")
ax.legend(fontsize=7)
ax.set_title("background tail")
plt.show()

# %% [markdown]
# ## Calcification counts and contour sizes against INbreast
# Counts per image and the longest bounding-box side / area of contoured calcifications, as
# annotated in the files (INbreast's own values: measured on its 61 annotation files).

# %%
counts, n_points, ann = annotation_summary(mammograms)
facts = real_targets.INBREAST_ANNOTATIONS
qs = [5, 25, 50, 75, 95]
count_table = pd.DataFrame({
    "statistic": ["calcifications per image"] * 4 + ["contour longest side (px)"] * 5 + ["contour area (mm²)"] * 5,
    "percentile": [25, 50, 75, 95] + qs + qs,
    "this data": [*np.percentile(counts, [25, 50, 75, 95]),
                  *(np.percentile(ann.longest_side_px, qs) if len(ann) else [np.nan] * 5),
                  *(np.percentile(ann.area_mm2, qs) if len(ann) else [np.nan] * 5)],
    "INbreast": [*facts["per_image_percentiles"].values(), *facts["contour_longest_side_px"].values(),
                 *facts["contour_area_mm2"].values()],
})
print(f"{counts.size} images: {np.mean(counts == 0):.0%} without calcifications "
      f"(INbreast {facts['images_without'][0]}/{facts['images_without'][1]}); "
      f"{n_points / max(counts.sum(), 1):.0%} of annotations are single points "
      f"(INbreast {facts['n_points'] / facts['n_calcifications']:.0%}); contours have "
      f"{ann.n_points.min() if len(ann) else 0}-{ann.n_points.max() if len(ann) else 0} points")
count_table.round(3)

# %% [markdown]
# ## Sizes and contrasts of the MCs
# Measured on the images for every annotation of the first `n_images` images: equivalent
# diameter of the annotated region (single-pixel annotations count as one pixel) and contrast
# = peak minus the median of a ring 3–6 px around. For the synthetic set the generator's exact
# values are shown beside them (true footprints also for point-annotated MCs).

# %%
measured = []
for f, mg in zip(ids, mammograms):
    m = measure_mcs(mg.image, mg.mc_labels(), mg.pixel_spacing)
    m["file_id"] = f
    m["kind"] = [mg.annotations[i - 1].kind for i in m["mc_id"]]
    measured.append(m)
measured = pd.concat(measured, ignore_index=True) if measured else pd.DataFrame(
    columns=["mc_id", "area_px", "diameter_mm", "contrast", "file_id", "kind"])
truth = pd.read_csv(gt_dir / "mcs.csv", dtype={"file_id": str}) if (gt_dir / "mcs.csv").is_file() else None
print(measured.groupby("kind")[["area_px", "diameter_mm", "contrast"]].median().round(4).to_string())
print(f"{len(measured)} annotations in {len(ids)} images; "
      f"{(measured['kind'] == 'point').mean():.0%} are single points")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
if truth is not None:
    t = truth[truth.file_id.isin(ids)]
    for typ, grp in t.groupby("type"):
        axes[0].hist(grp["diameter_mm"], bins=np.linspace(0, 3, 31), histtype="step", lw=1.5, label=typ)
        axes[1].hist(grp["contrast"], bins=np.geomspace(0.003, 0.5, 30), histtype="step", lw=1.5, label=typ)
    axes[0].set_title("true MC diameter by type")
    axes[1].set_title("true MC contrast by type")
else:
    axes[0].hist(measured["diameter_mm"], bins=30, color="0.6")
    axes[1].hist(measured["contrast"].dropna().clip(1e-3), bins=np.geomspace(1e-3, 0.5, 30), color="0.6")
    axes[0].set_title("annotated region diameter")
    axes[1].set_title("measured MC contrast")
axes[0].set_xlabel("equivalent diameter (mm)")
axes[1].set_xscale("log")
axes[1].set_xlabel("contrast ([0, 1] units)")
dog_threshold = SegmentParams().dog_threshold
axes[1].axvline(2 * dog_threshold, color="k", ls=":", label=r"$\approx$ 2 x DoG threshold")
for ax in axes:
    ax.set_ylabel("MCs")
    ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# For a Gaussian-shaped MC of amplitude $A$ the scale-normalised DoG peaks at about $A/2$, so the
# dotted line marks the contrast at which an MC reaches the DoG threshold of the pipeline
# (`SegmentParams().dog_threshold`, the paper's $T_\mathrm{DoG}$) on the [0, 1] scale. The share
# of MCs above it:

# %%
contrast_src = truth[truth.file_id.isin(ids)] if truth is not None else measured
above = (contrast_src["contrast"] > 2 * dog_threshold).mean() if len(contrast_src) else np.nan
print(f"{above:.0%} of {len(contrast_src)} MCs have a {'true' if truth is not None else 'measured'} "
      f"contrast above 2 x {dog_threshold:g} on the [0, 1] scale")

# %%
if truth is not None:
    both = measured.merge(truth, on=["file_id", "mc_id"], suffixes=("_measured", "_true"))
    fig, ax = plt.subplots(figsize=(4.5, 4), constrained_layout=True)
    ax.loglog(both["contrast_true"], both["contrast_measured"].clip(1e-3), ".", ms=3, alpha=0.6)
    ax.plot([1e-3, 0.5], [1e-3, 0.5], "k--", lw=1)
    ax.set_xlabel("true contrast")
    ax.set_ylabel("measured contrast")
    plt.show()
    print(both.groupby("type_true" if "type_true" in both else "type")[["contrast_true", "contrast_measured"]]
          .median().round(4).to_string())

# %% [markdown]
# ## The case-study cohort
# Magnification views of amorphous calcification groups with a bounding-box ROI and a
# benign/malignant label per patient (present in the synthetic benchmark only).

# %%
if (case_dir / "cohort.csv").is_file():
    from hdogreg.data import read_image

    cohort = read_casestudy_cohort(case_dir)
    print(f"{len(cohort)} ROIs from {cohort.patient_id.nunique()} patients; "
          f"{cohort.label.mean():.0%} malignant; pixel spacing {cohort.pixel_spacing.iloc[0]:.4f} mm")
    picks = pd.concat([cohort[cohort.label == 0].head(2), cohort[cohort.label == 1].head(2)])
    fig, axes = plt.subplots(1, len(picks), figsize=(3.6 * len(picks), 3.8), constrained_layout=True)
    for ax, r in zip(np.atleast_1d(axes), picks.itertuples()):
        img, meta = read_image(r.image)
        show_image(ax, img, f"{r.roi_id}: {'malignant' if r.label else 'benign'}", scalebar_mm=2,
                   pixel_spacing=meta["pixel_spacing"])
        ax.add_patch(plt.Rectangle((r.x0 - 0.5, r.y0 - 0.5), r.x1 - r.x0, r.y1 - r.y0, fill=False, color="yellow"))
    plt.show()
    if "n_mc" in cohort:
        print(cohort.groupby("label")["n_mc"].describe()[["mean", "25%", "50%", "75%"]].round(1).to_string())

# %%
saved = save_results(pd.concat([comparison.assign(kind="realism"), per_image.assign(kind="per_image"),
                                count_table.assign(kind="counts")], ignore_index=True), "data_overview")
print(f"numbers saved to {shown_path(saved)}")

# %% [markdown]
# ## Summary
# The data set is read through one INbreast reader (`hdogreg.data.InbreastDataset`), whether it
# is the synthetic benchmark or INbreast itself. The realism table compares, as computed in
# this run, the spectrum, the MC conspicuity, the background tail and the intensity level of
# these images with the values measured on real mammograms; the count table does the same for
# the annotations. `benchmarks/bench_realism.py` runs the same estimators from the command
# line. Everything in the book's default runs is simulated; set `data_dir` to an INbreast
# folder to describe the real data instead.
