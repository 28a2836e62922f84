"""Benchmark of the Hessian-DoG stage (``hdog_segment``) on a synthetic full-field mammogram.

Prints the wall time and the peak memory of ``hdog_segment`` and the time of a straightforward
reference: ``skimage.feature.blob_dog`` + the Eq. 6 masks of every DoG layer + one flood fill
(``skimage.segmentation.flood``) of the mask per blob. The per-blob loop of the reference is
timed on the first ``--ref-blobs`` blobs and extrapolated linearly to all of them (a flood fill
costs the same for every blob: it allocates and scans whole-image arrays), unless
``--full-reference`` is given.

Run from the repository root::

    .venv/bin/python benchmarks/bench_hdog.py                 # synthetic INbreast-size image
    .venv/bin/python benchmarks/bench_hdog.py --image phantom --shape 2000 1600

The last line is machine-readable::

    hdog_s=<seconds> reference_s=<seconds> speedup=<x> peak_mb=<MB> shape=<rows>x<cols>

Peak memory is the largest amount of memory allocated through NumPy/Python during the call
(``tracemalloc``; the input image is not counted), measured in a separate run so that tracing
does not slow the timed runs. Timings are wall-clock minima over ``--repeat`` runs; on a shared
machine they vary with the load, which is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np


def full_field_image(kind, shape, seed):
    """Return a float32 image in [0, 1]: the synthetic mammogram generator, or a NumPy phantom."""
    if kind == "synth":
        try:
            from hdogreg.data.synth import synth_mammogram
        except ImportError:  # generator not available: fall back
            kind = "phantom"
        else:
            s = synth_mammogram(seed, tuple(shape))
            return (s.raw / np.float32(2**s.bits - 1)).astype(np.float32), "synth_mammogram"
    from hdogreg.hdog import phantom

    rng = np.random.default_rng(seed)
    n_rows, n_cols = shape
    n = 3000
    blobs = np.column_stack([rng.uniform(0, n_rows, n), rng.uniform(0, n_cols, n),
                             rng.uniform(0.8, 3.5, n), rng.uniform(0.005, 0.15, n)])
    starts = np.column_stack([rng.uniform(0, n_rows, 300), rng.uniform(0, n_cols, 300)])
    ends = starts + rng.normal(0, 60, starts.shape)
    lines = np.column_stack([starts, ends, rng.uniform(0.7, 2.0, 300), rng.uniform(0.01, 0.08, 300)])
    img = phantom(shape, blobs=blobs, lines=lines, background=0.35, texture=0.03,
                  texture_sigma=12, noise=0.002, seed=seed)
    return img, "phantom"


def reference(image, params, ref_blobs, full):
    """blob_dog + per-blob flood fill of the Eq. 6 mask; returns (seconds, n_blobs, extrapolated)."""
    from skimage.feature import blob_dog
    from skimage.segmentation import flood

    from hdogreg.hessian import hessian_mask
    from hdogreg.scale_space import dog_scale_space

    t0 = time.perf_counter()
    blobs = blob_dog(image, params["sigma_min"], params["sigma_max"], params["k"],
                     params["dog_threshold"], params["overlap"])
    dog, sigmas = dog_scale_space(image, params["sigma_min"], params["sigma_max"], params["k"])
    masks = hessian_mask(dog, params["h_thr"])
    del dog
    t_setup = time.perf_counter() - t0
    out = np.zeros(image.shape, bool)
    todo = blobs if full else blobs[:ref_blobs]
    t0 = time.perf_counter()
    for r, c, s in todo:
        n = int(np.argmin(np.abs(sigmas - s)))
        if masks[n, int(r), int(c)]:
            out |= flood(masks[n], (int(r), int(c)), connectivity=1)
    t_loop = time.perf_counter() - t0
    per_blob = t_loop / max(len(todo), 1)
    return t_setup + per_blob * len(blobs), len(blobs), len(todo) < len(blobs), t_setup, per_blob


def main(argv=None):
    """Run the benchmark from the command line (`argv` as in :data:`sys.argv` without the program)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", choices=["synth", "phantom"], default="synth")
    ap.add_argument("--shape", type=int, nargs=2, default=[4084, 3328], metavar=("ROWS", "COLS"),
                    help="default: INbreast full field (4084 rows x 3328 columns)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--ref-blobs", type=int, default=40)
    ap.add_argument("--full-reference", action="store_true")
    args = ap.parse_args(argv)

    from hdogreg.hdog import hdog_segment

    params = dict(sigma_min=1.18, sigma_max=3.1, k=1.6, dog_threshold=0.006, overlap=1.0, h_thr=1.4)
    t0 = time.perf_counter()
    image, source = full_field_image(args.image, args.shape, args.seed)
    print(f"image: {source} {image.shape[0]}x{image.shape[1]} {image.dtype} "
          f"(built in {time.perf_counter() - t0:.1f} s)", flush=True)

    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = hdog_segment(image, **params, workers=args.workers)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    hdog_s = min(times)
    print(f"hdog_segment: {len(res.blobs)} blobs, {res.n_objects} objects, "
          f"mask {100 * res.mask.mean():.1f}% of the image; wall "
          + ", ".join(f"{t:.2f}" for t in times) + " s; CPU (all threads) "
          + ", ".join(f"{t:.2f}" for t in cpu) + " s", flush=True)
    del res

    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    hdog_segment(image, **params, workers=args.workers)
    peak_mb = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()

    ref_s, n_blobs, extrapolated, t_setup, per_blob = reference(image, params, args.ref_blobs,
                                                                args.full_reference)
    print(f"reference: blob_dog + Hessian masks {t_setup:.2f} s, flood fill {per_blob * 1e3:.1f} ms "
          f"per blob x {n_blobs} blobs"
          + (f" (extrapolated from {args.ref_blobs} blobs)" if extrapolated else ""), flush=True)
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    print(f"cpus: {os.cpu_count()}, load average: {load}")
    print(f"hdog_s={hdog_s:.3f} reference_s={ref_s:.3f} speedup={ref_s / hdog_s:.1f} "
          f"peak_mb={peak_mb:.0f} shape={image.shape[0]}x{image.shape[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
