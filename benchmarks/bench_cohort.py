"""Benchmark: cohort throughput (images per minute) with 1 and 2 Dask workers, and their memory.

Generates ``--n-images`` synthetic full-field DICOM mammograms (INbreast size, 4084 x 3328 by
default, :func:`hdogreg.data.synth.synth_mammogram`) and segments them with
:func:`hdogreg.cohort.run_cohort` (the shipped model unless ``--model``, the command line's
settings) on a local Dask cluster of 1 and then 2 single-threaded worker processes, each
with ``cores // workers`` torch threads. Each cluster is started before its clock starts; the
time includes loading the model once per worker, reading, both branches, the fusion and
writing the outputs (mask, overlay, MC table, DICOM-SEG, record) of every image.

Usage::

    .venv/bin/python benchmarks/bench_cohort.py [--n-images 4] [--rows 4084 --cols 3328]

The last line printed is ``cohort ipm_1=<images/min> ipm_2=<images/min> peak_mb=<MB>``:
``peak_mb`` is the largest peak resident memory of a worker process (``ru_maxrss``) over both
runs, the figure :data:`hdogreg.cohort.run.WORKER_MEMORY` must exceed. Wall times depend on
what else runs on the machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def _torch_threads(n):
    import torch

    torch.set_num_threads(n)


def make_images(folder, n, rows, cols):
    """Write `n` synthetic full-field DICOM mammograms into `folder`; return their paths."""
    from hdogreg.data.synth import synth_mammogram, write_dicom

    paths = []
    for k in range(n):
        synth = synth_mammogram(k, shape=(rows, cols))
        paths.append(write_dicom(Path(folder) / f"mg{k:03d}.dcm", synth.raw, bits=synth.bits,
                                 pixel_spacing=0.07, patient_id=f"p{k}", uid_seed=(k,)))
    return paths


def run(inputs, out, model_path, params, workers, memory_limit):
    """(seconds, peak worker MB, cohort table) of one run on a fresh local cluster."""
    import logging

    from distributed import Client, LocalCluster

    from hdogreg.cohort import run_cohort

    cores = os.cpu_count() or 1
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      memory_limit=memory_limit, dashboard_address=None,
                      silence_logs=logging.ERROR, preload=["hdogreg.cohort._worker"]) as cluster, \
            Client(cluster) as client:
        client.run(_torch_threads, max(1, cores // workers))
        t0 = time.perf_counter()
        result = run_cohort(inputs, out, model_path, params, scheduler=client, progress=False)
        seconds = time.perf_counter() - t0
        peak = max(client.run(_peak_rss_mb).values())
    return seconds, peak, result.table


def main(argv=None):
    """Run the benchmark and print ``cohort ipm_1=... ipm_2=... peak_mb=...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=4)
    parser.add_argument("--rows", type=int, default=4084)
    parser.add_argument("--cols", type=int, default=3328)
    parser.add_argument("--model", help="checkpoint (default: the shipped model)")
    parser.add_argument("--memory-gb", type=float, default=None,
                        help="memory limit per worker (default hdogreg.cohort.run.WORKER_MEMORY)")
    args = parser.parse_args(argv)

    from hdogreg.cohort import collect_inputs
    from hdogreg.cohort.run import WORKER_MEMORY
    from hdogreg.fusion import DEFAULT_P_THR
    from hdogreg.inference import FAST_STRIDE
    from hdogreg.pipeline import SegmentParams
    from hdogreg.store import default_model_path, load_model

    model_path = Path(args.model) if args.model else default_model_path()
    settings = load_model(model_path)[1]
    params = SegmentParams(p_thr=float(settings.get("p_thr", DEFAULT_P_THR)), stride=FAST_STRIDE,
                           normalize=settings.get("normalize", "none"))
    memory = int(args.memory_gb * 2**30) if args.memory_gb else WORKER_MEMORY
    with tempfile.TemporaryDirectory(prefix="bench_cohort_") as tmp:
        tmp = Path(tmp)
        (tmp / "scans").mkdir()
        t0 = time.perf_counter()
        make_images(tmp / "scans", args.n_images, args.rows, args.cols)
        print(f"generated {args.n_images} images of {args.rows}x{args.cols} in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        inputs = collect_inputs([tmp / "scans"])
        ipm, peaks = {}, []
        for workers in (1, 2):
            seconds, peak, table = run(inputs, tmp / f"out{workers}", model_path, params, workers,
                                       memory)
            bad = table[table["status"] != "ok"]
            if len(bad):
                raise SystemExit(f"{len(bad)} images failed: {bad['error'].tolist()}")
            ipm[workers] = 60 * len(inputs) / seconds
            peaks.append(peak)
            print(f"{workers} worker(s): {seconds:.1f} s for {len(inputs)} images, "
                  f"{ipm[workers]:.2f} images/min, peak worker memory {peak:.0f} MB "
                  f"(limit {memory / 2**20:.0f} MB), MCs per image "
                  f"{table['n_mcs'].tolist()}", flush=True)
    print(f"cohort ipm_1={ipm[1]:.2f} ipm_2={ipm[2]:.2f} peak_mb={max(peaks):.0f}")


if __name__ == "__main__":
    main()
