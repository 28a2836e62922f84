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
# This page shows what that data looks like and how it measures: example views and vendor
# looks with the annotations overlaid, zoomed MC clusters, the power-law slope of the tissue
# texture against the value reported for mammograms, and the sizes and contrasts of the MCs.
#
# **Data:** `data_dir` (default `data/synth`, the synthetic benchmark). Point `data_dir` at a
# real INbreast folder and the same page describes INbreast instead (the parts that need the
# synthetic ground truth, the local set or the case-study cohort are then skipped).

# %% tags=["parameters"]
data_dir = "data/synth"     # INbreast-format folder (synthetic benchmark by default)
n_images = 12               # images used for the spectrum and MC statistics
patch = 256                 # patch side (px) for the power spectrum
f_range = [0.1, 0.6]        # spectrum fit range, cycles/mm
margin_mm = 5.0             # rim of the breast left out of the spectrum (skin, fall-off)
zoom = 160                  # side (px) of the zoomed cluster windows

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hdogreg.book import save_results
from hdogreg.breast import breast_mask
from hdogreg.data import InbreastDataset, LocalDataset, read_casestudy_cohort
from hdogreg.data.stats import (LITERATURE_BETA, breast_interior, fit_power_law, measure_mcs,
                                radial_power_spectrum, spectrum_summary)
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
# clinical images. The generator draws, per view:
#
# * a breast outline with skin line, compressed-thickness fall-off near the edge, a pectoral
#   muscle on MLO/ML views and dark background;
# * fibroglandular tissue as a $1/f^{\beta}$ random field ($\beta \approx 3$) passed through a
#   soft threshold, denser centrally, with density varying between cases; bright curvilinear
#   structures (ducts, vessels, trabeculae);
# * MCs in clusters (round, linear, segmental) and alone: punctate, faint amorphous,
#   pleomorphic and fine-linear/branching shapes of 0.1–1 mm, plus large benign calcifications
#   (coarse, vascular, rim); contrast relative to the local background;
# * detector blur, Poisson and electronic noise, and a vendor look: 14-bit linear
#   (Siemens-like, as INbreast) or 12-bit with a sigmoid tone curve (Hologic-like, as the
#   paper's local set).
#
# The annotations follow INbreast's convention — small MCs as single points, larger ones as
# contours — and the exact footprint of every MC is kept in `groundtruth/`. What the
# simulation does **not** capture: real anatomy and its variability, real lesions, the reader
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
    show_image(ax, mg.image, f"{mg.vendor}, {mg.view} {mg.laterality}, {int(mg.intensity_scale).bit_length()}-bit",
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
# ## Tissue texture: the power-law exponent
# Mammographic background follows a power law $P(f) \propto f^{-\beta}$; Burgess et al. (2001)
# reported $\beta \approx 2.8 \pm 0.4$ and $\beta \approx 3$ is the usual figure. We average the
# power spectra of Hann-windowed `patch`-pixel patches inside the breast (the outer `margin_mm`
# left out) and fit the exponent over `f_range` cycles/mm.

# %%
ids = dataset.file_ids()[:n_images]
spectra = pd.DataFrame([spectrum_summary(dataset.load(f), patch=patch, f_range=f_range, margin_mm=margin_mm)
                        for f in ids])
if local is not None:
    spectra = pd.concat([spectra, pd.DataFrame([
        spectrum_summary(local.load(f), patch=patch, f_range=f_range, margin_mm=margin_mm)
        for f in local.file_ids()[:max(n_images // 3, 1)]])], ignore_index=True)
print(spectra.groupby("vendor")["beta"].describe()[["count", "mean", "std", "min", "max"]].round(2).to_string())
print(f"literature value: beta = {LITERATURE_BETA}")

# %%
fitted = spectra[spectra["n_patches"] > 0]
fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
if len(fitted):
    row = fitted.iloc[0]
    mg = (dataset if row["file_id"] in set(dataset.file_ids()) else local).load(row["file_id"])
    interior = breast_interior(mg.image, mg.pixel_spacing, margin_mm)
    freq, power = radial_power_spectrum(mg.image, mg.pixel_spacing, mask=interior, patch=patch)
    beta, log_a = fit_power_law(freq, power, f_range)
    f_fit = np.array(f_range)
    axes[0].loglog(freq, power, ".", ms=3, color="0.3", label=f"{mg.file_id} ({mg.view})")
    axes[0].loglog(f_fit, np.exp(log_a) * f_fit ** -beta, "r-", lw=2, label=rf"fit $\beta$ = {beta:.2f}")
    axes[0].loglog(f_fit, np.exp(log_a) * f_fit[0] ** (LITERATURE_BETA - beta) * f_fit ** -LITERATURE_BETA,
                   "b--", lw=1.5, label=rf"slope $-{LITERATURE_BETA:g}$ (literature)")
    axes[0].legend()
else:
    print(f"no {patch}x{patch} patch fits inside the breast interior of these images")
axes[0].set_xlabel("spatial frequency (cycles/mm)")
axes[0].set_ylabel("power (a.u.)")
axes[1].hist(spectra["beta"].dropna(), bins=12, color="0.6")
axes[1].axvline(LITERATURE_BETA, color="b", ls="--", label="literature")
axes[1].set_xlabel(r"fitted $\beta$ per image")
axes[1].set_ylabel("images")
axes[1].legend()
plt.show()

# %% [markdown]
# Above `f_range` the spectrum flattens: quantum noise and the detector blur take over from the
# anatomy, as in real detectors.
#
# ## Sizes and contrasts of the MCs
# Measured on the images for every annotation of the first `n_images` images: equivalent
# diameter of the annotated region (single-pixel annotations count as one pixel) and contrast
# = peak minus the median of a ring 3–6 px around. For the synthetic set the generator's exact
# values are shown beside them (true footprints also for point-annotated MCs).

# %%
measured = []
for f in ids:
    mg = dataset.load(f)
    m = measure_mcs(mg.image, mg.mc_labels(), mg.pixel_spacing)
    m["file_id"] = f
    m["kind"] = [mg.annotations[i - 1].kind for i in m["mc_id"]]
    measured.append(m)
measured = pd.concat(measured, ignore_index=True)
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
axes[1].axvline(0.006 * 2, color="k", ls=":", label=r"$\approx$ 2 x DoG threshold")
for ax in axes:
    ax.set_ylabel("MCs")
    ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# For a Gaussian-shaped MC of amplitude $A$ the scale-normalised DoG peaks at about $A/2$, so the
# dotted line marks the contrast at which an MC reaches the paper's DoG threshold of 0.006:
# most MCs lie above it, a subtle minority below.

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
summary = spectra.assign(kind="spectrum")
save_results(summary, "data_overview")

# %% [markdown]
# ## Summary
# The data set is read through one INbreast reader (`hdogreg.data.InbreastDataset`), whether it
# is the synthetic benchmark or INbreast itself. The tables above give, as code output, the
# fitted power-law exponent of the tissue texture next to the literature value, and the sizes
# and contrasts of the annotated MCs. Everything in the book's default runs is simulated; set
# `data_dir` to an INbreast folder to describe the real data instead.
