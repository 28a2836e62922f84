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
# # Apply the method to your own images and cohorts
#
# `hdogreg segment` runs the shipped model (`hdogreg/weights/default.pt`, its validated
# operating point in `default.json`) on DICOM, PNG or TIFF mammograms:
#
# ```bash
# hdogreg segment scan.dcm --out results                      # one image
# hdogreg segment scans/ --out results                        # a folder, searched recursively
# hdogreg segment "scans/**/*.dcm" cohort.csv --out results   # a glob and a manifest
# hdogreg segment scans/ --out results --workers 2            # two local Dask workers
# hdogreg segment scans/ --out results --scheduler tcp://head:8786   # an existing Dask cluster
# ```
#
# A manifest (`.csv` or `.parquet`) has a `path` column (relative to the manifest's folder) and
# optionally `patient_id`, `study_id`, `pixel_spacing` (mm), `laterality`, `view`. PNG/TIFF
# need `--pixel-spacing MM` (or the manifest's column), and `--intensity-scale 4095` for 12-bit
# data stored in 16-bit files. DICOM is read at full bit depth without VOI LUT or window,
# MONOCHROME1 inverted; `PresentationIntentType` is recorded, and pixel values above
# `BitsStored` are an error rather than silently wrapped.
#
# Every image gets a folder `results/images/<name>/` — `mask.png`, `overlay.png`, `mcs.csv` (one
# row per microcalcification), `seg.dcm` (a DICOM Segmentation referencing the source image,
# for DICOM inputs) and `outputs.json` — committed whole, so an interrupted run leaves complete
# folders only. `results/cohort.parquet` and `cohort.csv` hold one row per image. A rerun skips
# the images already done with the same model and settings (`--force` redoes them): after a
# Ctrl-C, run the same command again.
#
# **Data:** this page runs on a few generated mammograms (`hdogreg.data.synth`), **not real
# images**; the commands are the ones you run on yours.

# %% tags=["parameters"]
n_images = 3                # generated example mammograms
shape = [800, 640]          # their rows and columns (0.07 mm pixels)
workers = 1                 # --workers of the example run (1: in this process)
stride = None               # --stride (None: the command's default)

# %%
import os
import shutil
from pathlib import Path

import imageio.v3 as iio
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pydicom
from IPython.display import display

from hdogreg import cli
from hdogreg.book import build_dir
from hdogreg.data.synth import synth_mammogram, write_dicom

work = build_dir() / "apply_to_your_data"
shutil.rmtree(work, ignore_errors=True)
(work / "scans" / "site_a").mkdir(parents=True)
(work / "scans" / "site_b").mkdir(parents=True)
os.chdir(work)          # the commands below use paths relative to this folder

# %% [markdown]
# ## An example cohort
#
# Generated DICOM mammograms in two site folders; two of them share the file name `img.dcm`
# (their outputs must not collide), and one file is corrupt (it must fail alone).

# %%
for k in range(n_images):
    synth = synth_mammogram(k, shape=tuple(shape), count_model="dense")
    site = "site_a" if k % 2 == 0 else "site_b"
    name = "img.dcm" if k < 2 else f"img{k}.dcm"
    write_dicom(f"scans/{site}/{name}", synth.raw, bits=synth.bits, pixel_spacing=0.07,
                patient_id=f"P{k:03d}", laterality="LR"[k % 2], view="CC", uid_seed=(k,))
with open("scans/site_a/corrupt.dcm", "wb") as fh:
    fh.write(b"not a DICOM file" * 8)
sorted(str(p) for p in Path("scans").rglob("*") if p.is_file())

# %% [markdown]
# ## Segment the folder

# %%
argv = ["segment", "scans", "--out", "results", "--workers", str(workers), "--quiet"]
if stride is not None:
    argv += ["--stride", str(stride)]
print("hdogreg", " ".join(argv))
status = cli.main(argv)
print("exit status", status, "(1: some image failed)")

# %% [markdown]
# ## The cohort table
#
# One row per image: status and error, the number of MCs, their total and largest area,
# clusters (at least 3 MCs chained by centroid distances under 5 mm), the pixel spacing and
# where it came from, the DICOM presentation intent, the time, the model digest and the
# settings (JSON).

# %%
table = pd.read_parquet("results/cohort.parquet")
display(table[["name", "status", "n_mcs", "mc_area_mm2_total", "n_clusters", "pixel_spacing",
               "presentation_intent", "seconds"]])
print("\n".join(table.loc[table["status"] == "failed", "error"]))

# %% [markdown]
# The folder names are the inputs' paths below `scans/`, percent-encoded (`/` is `%2F`):
# unique, and `hdogreg.cohort.decode_name` gives the path back.

# %%
from hdogreg.cohort import decode_name

{p.name: decode_name(p.name) for p in sorted(Path("results/images").iterdir())}

# %% [markdown]
# ## One image's outputs

# %%
first = table[table["status"] == "ok"].iloc[0]
folder = Path("results") / first["outputs"]
overlay = iio.imread(folder / "overlay.png")
mcs = pd.read_csv(folder / "mcs.csv")
fig, ax = plt.subplots(figsize=(5, 6))
ax.imshow(overlay)
ax.set_title(f"{decode_name(first['name'])}: {len(mcs)} MCs (outlined in red)")
ax.axis("off")
plt.show()
mcs.head()

# %% [markdown]
# ## The DICOM Segmentation
#
# `seg.dcm` is a binary DICOM Segmentation (highdicom) with one segment, *microcalcification*,
# that references the source image by its SOP Instance UID. A mammogram has no Frame of
# Reference, so the SEG is tied to it by pixel indices (same rows and columns). Any DICOM
# toolkit reads it; with pydicom:

# %%
seg = pydicom.dcmread(folder / "seg.dcm")
source = pydicom.dcmread(first["path"])
ref = seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
mask = iio.imread(folder / "mask.png") > 0
print("SOP class:", seg.SOPClassUID.name, "| segment:", seg.SegmentSequence[0].SegmentLabel)
print("references the source image:", ref.ReferencedSOPInstanceUID == source.SOPInstanceUID)
print("same pixels as mask.png:", bool(np.array_equal(seg.pixel_array.astype(bool), mask)))

# %% [markdown]
# ## Rerun: completed images are skipped
#
# The same command again redoes nothing but the failed file (it is tried again and fails
# again); other settings (e.g. `--o-thr`), another model or `--force` redo the images.

# %%
cli.main(argv)
display(pd.read_csv("results/cohort.csv")[["name", "status"]])

# %% [markdown]
# ## From Python
#
# The command is a thin layer over `hdogreg.cohort`: `collect_inputs` finds the images and
# names their outputs, `run_cohort` segments them (in this process, on a local Dask cluster with
# `workers=N`, or on `scheduler=ADDRESS`) and returns the cohort table.
#
# ```python
# from hdogreg.cohort import collect_inputs, run_cohort
# from hdogreg.pipeline import SegmentParams
# from hdogreg.store import default_model_path, load_model
#
# model, settings = load_model(default_model_path())
# params = SegmentParams.from_checkpoint(settings, stride=384)  # its normalize, T_DoG, p_thr, o_thr
# result = run_cohort(collect_inputs(["scans"], exclude="results"), "results", model, params,
#                     workers=2)
# result.table
# ```
