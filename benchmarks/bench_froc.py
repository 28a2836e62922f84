"""Benchmark: FROC counts + 100-sample bootstrap pAUC over a test-split-sized synthetic set.

Builds synthetic reference / prediction label images of mammogram size (about 20 images of
1000 x 800 px, ~40 MCs each, a dense candidate set of ~2000 scored objects per image as
HDoG produces), then times the whole evaluation: per-image one-pass FROC counts at every
distinct score (:func:`hdogreg.metrics.froc_counts`), the pooled curve, pAUC, TPR at
0.4 FP/cm^2 and the bootstrap (:func:`hdogreg.metrics.bootstrap_froc`).

Run: ``.venv/bin/python benchmarks/bench_froc.py [--images 20] [--bootstraps 100]``.
The last line is ``froc_bootstrap_s=<seconds> images=<n> bootstraps=<n>``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hdogreg import metrics as M


def synthetic_image(rng, shape=(1000, 800), n_ref=40, n_false=2000):
    """Return the reference labels, predicted labels and per-object scores of one synthetic image."""
    ref = np.zeros(shape, np.int32)
    centres = rng.integers(10, np.array(shape) - 10, (n_ref, 2))
    for i, (r, c) in enumerate(centres, 1):
        s = rng.integers(0, 4)  # 0 -> point annotation
        ref[r : r + max(s, 1), c : c + max(s, 1)] = i
    pred = np.zeros(shape, np.int32)
    scores = []
    lab = 0
    hit = centres[rng.random(n_ref) < 0.85]
    for r, c in hit + rng.integers(-2, 3, hit.shape):  # detections near true MCs
        lab += 1
        pred[r - 1 : r + 2, c - 1 : c + 2] = lab
        scores.append(rng.beta(5, 2))
    for r, c in rng.integers(2, np.array(shape) - 3, (n_false, 2)):  # false candidates
        lab += 1
        h, w = rng.integers(1, 4, 2)
        pred[r : r + h, c : c + w] = lab
        scores.append(rng.beta(2, 5))
    scores = np.round(np.array(scores), 4)
    # later objects overwrite earlier ones; the last label is drawn last, so pred.max() == lab
    # and len(scores) matches (fully covered labels are simply absent, which froc_counts allows)
    return ref, pred, scores


def main(argv=None):
    """Run the benchmark from the command line (`argv` as in :data:`sys.argv` without the program)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--bootstraps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    data = [synthetic_image(rng) for _ in range(args.images)]
    areas = rng.uniform(150, 350, args.images)  # cm^2 of breast per image
    print(f"synthetic data: {args.images} images in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    thresholds = M.score_thresholds(*(s for _, _, s in data))
    counts = [M.froc_counts(pred, s, ref, thresholds) for ref, pred, s in data]
    t_counts = time.perf_counter() - t0
    tp = np.stack([c.tp for c in counts])
    fp = np.stack([c.fp for c in counts])
    nref = np.array([c.n_ref for c in counts])
    fpc, tpr = M.froc_curve(tp, fp, nref, areas)
    pauc = M.partial_auc(fpc, tpr)
    sens = M.tpr_at(fpc, tpr, 0.4)
    t1 = time.perf_counter()
    boot = M.bootstrap_froc(tp, fp, nref, areas, n_boot=args.bootstraps, seed=0)
    t_boot = time.perf_counter() - t1
    total = time.perf_counter() - t0
    print(f"thresholds={thresholds.size} candidates/image={np.mean([p.max() for _, p, _ in data]):.0f} "
          f"refs/image={nref.mean():.1f}")
    print(f"froc_counts: {t_counts:.2f} s ({t_counts / args.images * 1000:.0f} ms/image); "
          f"bootstrap: {t_boot:.2f} s")
    print(f"pAUC={pauc:.3f} bootstrap mean={boot.mean:.3f} CI95=({boot.ci95[0]:.3f}, {boot.ci95[1]:.3f}) "
          f"TPR@0.4={sens:.3f}")
    print(f"froc_bootstrap_s={total:.2f} images={args.images} bootstraps={args.bootstraps}")


if __name__ == "__main__":
    main()
