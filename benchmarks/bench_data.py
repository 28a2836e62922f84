"""Timing and calibration of the synthetic benchmark (prints figures; not a test).

    .venv/bin/python benchmarks/bench_data.py [--preset default] [--jobs 1] [--skip-full]

Prints: wall time of generating a preset, of one INbreast-sized (3328 x 4084) image, the
share of MCs that ``skimage.feature.blob_dog`` finds at the paper's DoG settings with the
number of false candidates per image, and the cross-validated ROC AUC of a classifier on
the case-study cohort's true MC features (how far morphology predicts the label).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi


def blob_calibration(root, n_images=6):
    """Per image: how many ground-truth MCs a ``blob_dog`` blob lands near, and how many blobs do not."""
    from skimage.feature import blob_dog

    from hdogreg.data import InbreastDataset

    ds = InbreastDataset(root)
    rows = []
    for fid in ds.file_ids()[:n_images]:
        truth_path = Path(root) / "groundtruth" / "labels" / f"{fid}.png"
        import imageio.v3 as iio

        truth = iio.imread(truth_path).astype(np.int32)
        img = ds.load(fid).image
        b = blob_dog(img, min_sigma=1.18, max_sigma=3.1, sigma_ratio=1.6, threshold=0.006)
        near = ndi.grey_dilation(truth, size=7)
        lab = near[b[:, 0].astype(int), b[:, 1].astype(int)]
        n_mc = int(truth.max())
        rows.append({"file_id": fid, "mcs": n_mc, "found": len(set(lab[lab > 0])),
                     "blobs": len(b), "false": int((lab == 0).sum()),
                     "megapixels": img.size / 1e6})
    return pd.DataFrame(rows)


def casestudy_auc(root):
    """Return the cross-validated AUC of a logistic regression on ground-truth cluster statistics.

    Also returns the numbers of ROIs and patients and the fraction of ROIs with label 1.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    c = pd.read_csv(Path(root) / "casestudy" / "cohort.csv")
    m = pd.read_csv(Path(root) / "casestudy" / "groundtruth" / "mcs.csv")
    g = m.groupby("roi_id").agg(n=("mc_id", "size"), a_mean=("area_px", "mean"), a_std=("area_px", "std"),
                                c_mean=("contrast", "mean"), c_std=("contrast", "std"))
    d = c.merge(g, left_on="roi_id", right_index=True, how="left").fillna(0)
    X = np.c_[np.log1p(d.n), d.a_std / d.a_mean.clip(1), (d.layout == "linear"),
              d.c_std / d.c_mean.clip(1e-3), np.log(d.a_mean.clip(1))].astype(float)
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    p = cross_val_predict(LogisticRegression(max_iter=1000), X, d.label, groups=d.patient_id,
                          cv=GroupKFold(5), method="predict_proba")[:, 1]
    return roc_auc_score(d.label, p), len(d), d.patient_id.nunique(), d.label.mean()


def main():
    """Run the benchmark from the command line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="default")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--out", default=None, help="keep the generated folder here")
    args = ap.parse_args()

    from hdogreg.data.synth import SPACING, generate, synth_mammogram, write_dicom

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "synth"
        t0, c0 = time.perf_counter(), time.process_time()
        generate(out, seed=0, preset=args.preset, jobs=args.jobs, progress=False, overwrite=True)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        n_files = sum(1 for p in out.rglob("*.dcm"))
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        print(f"generate preset={args.preset} jobs={args.jobs}: {dt:.1f} s wall, "
              f"{dc:.1f} s CPU of this process, {n_files} DICOM files, {size:.0f} MB")

        cal = blob_calibration(out)
        print("blob_dog(min_sigma=1.18, max_sigma=3.1, sigma_ratio=1.6, threshold=0.006) "
              "on INbreast-like images:")
        print(cal.to_string(index=False))
        print(f"  MCs found: {cal.found.sum() / cal.mcs.sum():.1%}; false candidates per image: "
              f"{cal.false.mean():.0f} ({cal.false.sum() / cal.megapixels.sum():.0f} per megapixel)")
        auc, n, npat, prev = casestudy_auc(out)
        print(f"case study: {n} ROIs, {npat} patients, {prev:.0%} malignant; CV ROC AUC of a logistic model "
              f"on true MC features: {auc:.3f}")

    if not args.skip_full:
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            sim = synth_mammogram(np.random.default_rng(0), (4084, 3328), view="MLO")
            t1, c1 = time.perf_counter(), time.process_time()
            write_dicom(Path(tmp) / "full.dcm", sim.raw, bits=sim.bits, pixel_spacing=SPACING, patient_id="x")
            t2 = time.perf_counter()
            print(f"one full-size image 4084x3328: synthesis {t1 - t0:.1f} s wall ({c1 - c0:.1f} s CPU), "
                  f"DICOM write {t2 - t1:.2f} s, {len(sim.mcs)} MCs")


if __name__ == "__main__":
    main()
