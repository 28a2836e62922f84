"""Reference values of the intensity standardisation, and what it does to the DoG candidates.

1. Measures the reference level and noise of :mod:`hdogreg.standardize` on the training images of
   an INbreast-format folder (the Siemens-like 14-bit synthetic benchmark ``data/synth``): the
   median over images of the breast median and of :func:`hdogreg.standardize.fine_scale_noise`
   (breast = :func:`hdogreg.standardize.standardize_breast_mask`). These are the constants
   ``REFERENCE_LEVEL`` and ``REFERENCE_NOISE``.
2. For a few validation images, segments the HDoG candidates of the paper (``hdog_segment``
   with ``SegmentParams()``'s Eq. 1-6 settings, ``T_DoG = 0.006``) under every perturbation of
   :data:`hdogreg.perturb.PERTURBATIONS` (``x0.25``, ``x4``, an offset, gamma 0.7 and 1.4,
   12-bit and 8-bit) for each standardisation of :data:`hdogreg.standardize.METHODS`: ``none``
   (the paper's raw scale), ``noise`` (level and global fine-scale noise) and ``equalize``
   (the noise-equalising grey-level map), and counts the candidates and the annotated MCs
   that a candidate touches.

Run from the repository root::

    .venv/bin/python benchmarks/bench_standardize.py --data data/synth

The last line is machine-readable::

    standardize candidates_spread_none=... candidates_spread_noise=... candidates_spread_equalize=...

the max/min ratio of the candidate counts over the original and the perturbed images (a count
of 0 counts as 1), median over the validation images; 1 means the count does not move. The
line before gives, per method, the candidates and MCs hit summed over images and
perturbations (``hits_<method>=<MCs hit>/<MCs>``): a standardisation that steadies the count
by dropping MCs would show there.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


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


def candidate_counts(mammogram):
    """HDoG candidates and MCs hit per standardisation and perturbation of one mammogram.

    Returns ``{method: {perturbation: (n_candidates, n_mcs_hit)}}`` and the number of MCs.
    """
    from hdogreg.hdog import hdog_segment
    from hdogreg.perturb import PERTURBATIONS, perturb
    from hdogreg.pipeline import SegmentParams
    from hdogreg.standardize import METHODS, standardize

    kwargs = SegmentParams().hdog_kwargs()
    ref = mammogram.mc_labels()
    counts = {method: {} for method in METHODS}
    for name in PERTURBATIONS:
        x = perturb(mammogram.image, name)
        for method in METHODS:
            labels = hdog_segment(standardize(x, method=method), **kwargs).labels
            hit = np.unique(ref[(labels > 0) & (ref > 0)]).size
            counts[method][name] = (int(labels.max()), int(hit))
    return counts, int(ref.max())


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

    from hdogreg.perturb import PERTURBATIONS
    from hdogreg.standardize import METHODS

    names = list(PERTURBATIONS)
    print("\nHDoG candidates (SegmentParams() Eq. 1-6 settings) per perturbation, MCs hit in ():")
    print(f"{'image':<28} {'method':<8} " + " ".join(f"{n:>11}" for n in names) + "   spread")
    spreads = {m: [] for m in METHODS}
    totals = {m: [0, 0, 0] for m in METHODS}
    for fid in ds.file_ids("val")[: args.images]:
        counts, n_mcs = candidate_counts(ds.load(fid))
        for method, c in counts.items():
            spreads[method].append(spread({k: v[0] for k, v in c.items()}))
            totals[method][0] += sum(v[0] for v in c.values())
            totals[method][1] += sum(v[1] for v in c.values())
            totals[method][2] += n_mcs * len(c)
            print(f"{fid:<28} {method:<8} " + " ".join(f"{c[n][0]:>6d} ({c[n][1]:>2d})" for n in names)
                  + f"   {spreads[method][-1]:.3g}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    print("standardize " + " ".join(f"candidates_{m}={t[0]} hits_{m}={t[1]}/{t[2]}"
                                    for m, t in totals.items()))
    print("standardize " + " ".join(f"candidates_spread_{m}={np.median(spreads[m]):.3g}"
                                    for m in METHODS))

if __name__ == "__main__":
    main()
