"""Reference values of the intensity standardisation, and what it does to the DoG candidates.

1. Measures the reference level and noise of :mod:`hdogreg.standardize` on the training images of
   an INbreast-format folder (the Siemens-like 14-bit synthetic benchmark ``data/synth``): the
   median over images of the breast median and of :func:`hdogreg.standardize.fine_scale_noise`
   (breast = :func:`hdogreg.standardize.standardize_breast_mask`). These are the constants
   ``REFERENCE_LEVEL`` and ``REFERENCE_NOISE``.
2. For a few validation images, counts the DoG candidates of the paper
   (``dog_peaks(img, 1.18, 3.1, 1.6, 0.006)``) under intensity perturbations - ``0.25 img``,
   ``4 img``, ``img + 0.05``, gamma 0.7 and 1.4, 12-bit and 8-bit quantisation - without
   standardisation (``none``, the paper's raw scale) and with it (``noise``).

Run from the repository root::

    .venv/bin/python benchmarks/bench_standardize.py --data data/synth

The last line is machine-readable::

    standardize candidates_spread_none=... candidates_spread_noise=...

the max/min ratio of the candidate counts over the original and the perturbed images (a count
of 0 counts as 1), median over the validation images; 1 means the count does not move.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PERTURBATIONS = {
    "orig": lambda x: x,
    "x0.25": lambda x: 0.25 * x,
    "x4": lambda x: 4 * x,
    "+0.05": lambda x: x + 0.05,
    "gamma0.7": lambda x: np.clip(x, 0, None) ** 0.7,
    "gamma1.4": lambda x: np.clip(x, 0, None) ** 1.4,
    "12bit": lambda x: np.round(np.clip(x, 0, 1) * 4095) / 4095,
    "8bit": lambda x: np.round(np.clip(x, 0, 1) * 255) / 255,
}


def reference_values(ds, file_ids):
    """Return (level, noise): medians over `file_ids` of the breast median and fine-scale noise."""
    from hdogreg.standardize import fine_scale_noise, standardize_breast_mask

    levels, noises = [], []
    for fid in file_ids:
        img = ds.load(fid).image
        breast = standardize_breast_mask(img)
        levels.append(float(np.median(img[breast])))
        noises.append(fine_scale_noise(img, breast))
    return float(np.median(levels)), float(np.median(noises)), np.asarray(levels), np.asarray(noises)


def candidate_counts(image):
    """DoG candidate counts per perturbation, without (``none``) and with (``noise``) standardisation."""
    from hdogreg.scale_space import dog_peaks
    from hdogreg.standardize import standardize

    counts = {"none": {}, "noise": {}}
    for name, f in PERTURBATIONS.items():
        x = np.asarray(f(image.astype(np.float64)), dtype=np.float32)
        for method in counts:
            counts[method][name] = len(dog_peaks(standardize(x, method=method), 1.18, 3.1, 1.6, 0.006))
    return counts


def spread(counts):
    """max/min ratio of the counts (0 counted as 1)."""
    v = np.maximum(np.asarray(list(counts.values()), float), 1)
    return float(v.max() / v.min())


def main(argv=None):
    """Run the benchmark from the command line (`argv` as in :data:`sys.argv` without the program)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synth", help="INbreast-format folder")
    p.add_argument("--images", type=int, default=6, help="validation images for the candidate counts")
    args = p.parse_args(argv)

    from hdogreg.data import InbreastDataset
    from hdogreg.standardize import REFERENCE_LEVEL, REFERENCE_NOISE

    t0 = time.perf_counter()
    ds = InbreastDataset(args.data)
    train_ids = ds.file_ids("train")
    level, noise, levels, noises = reference_values(ds, train_ids)
    print(f"reference values over {len(train_ids)} training images of {args.data}:")
    print(f"  breast median: median {level:.6g} (p10 {np.percentile(levels, 10):.4g}, "
          f"p90 {np.percentile(levels, 90):.4g}); REFERENCE_LEVEL = {REFERENCE_LEVEL}")
    print(f"  fine-scale noise: median {noise:.6g} (p10 {np.percentile(noises, 10):.4g}, "
          f"p90 {np.percentile(noises, 90):.4g}); REFERENCE_NOISE = {REFERENCE_NOISE}")

    names = list(PERTURBATIONS)
    print("\nDoG candidates (dog_peaks 1.18, 3.1, 1.6, 0.006) per perturbation:")
    print(f"{'image':<28} {'method':<6} " + " ".join(f"{n:>8}" for n in names) + "   spread")
    spreads = {"none": [], "noise": []}
    for fid in ds.file_ids("val")[: args.images]:
        counts = candidate_counts(ds.load(fid).image)
        for method, c in counts.items():
            spreads[method].append(spread(c))
            print(f"{fid:<28} {method:<6} " + " ".join(f"{c[n]:>8d}" for n in names)
                  + f"   {spreads[method][-1]:.3g}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    print(f"standardize candidates_spread_none={np.median(spreads['none']):.3g} "
          f"candidates_spread_noise={np.median(spreads['noise']):.3g}")


if __name__ == "__main__":
    main()
