"""How real does the synthetic benchmark look? The estimators of real mammograms, side by side.

Generates a few images of a preset through the real on-disk path (DICOM + XML written by
:func:`hdogreg.data.synth.generate`, read back by :class:`hdogreg.data.InbreastDataset`),
or reads an existing INbreast-format folder (``--data``), and measures them with the
estimators of :mod:`hdogreg.data.realism` - the same estimators with which the targets in
:mod:`hdogreg.data.real_targets` were measured on real mammograms.

Run from the repository root::

    .venv/bin/python benchmarks/bench_realism.py                      # default preset, 16 images
    .venv/bin/python benchmarks/bench_realism.py --preset full --images 4
    .venv/bin/python benchmarks/bench_realism.py --data data/synth --images 16

The last line is machine-readable::

    realism beta=... beta_hi=... excess=... snr_p10=... snr_p50=... snr_p90=... bg_tail=... level14=...

``beta``, ``beta_hi``, ``excess``, ``bg_tail``: median over images; ``snr_p*``: percentiles of
the DoG-SNR pooled over all annotated calcifications; ``level14``: median breast level of the
14-bit images on the raw / 16383 scale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def measure(data_dir, n_images, seed=0):
    """Return the realism statistics of the first `n_images` images of an INbreast-format folder."""
    from hdogreg.data import InbreastDataset
    from hdogreg.data.realism import realism_summary

    ds = InbreastDataset(data_dir)
    ids = ds.file_ids()[:n_images]
    return realism_summary((ds.load(f) for f in ids), seed=seed)


def main(argv=None):
    """Run the benchmark from the command line (`argv` as in :data:`sys.argv` without the program)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default", choices=["tiny", "default", "full"])
    p.add_argument("--images", type=int, default=16, help="number of images measured")
    p.add_argument("--seed", type=int, default=0, help="generator seed")
    p.add_argument("--data", default=None, help="measure this INbreast-format folder instead")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)

    from hdogreg.data.real_targets import DOG_SNR, SOURCE, SPECTRUM, TARGETS
    from hdogreg.data.synth import PRESETS, generate

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.data is None:
            preset = replace(PRESETS[args.preset], n_cases=max((args.images + 1) // 2, 1), n_local_cases=1,
                             n_case_patients=1, n_case_rois=1)
            data = generate(Path(tmp) / "synth", seed=args.seed, preset=preset, jobs=args.jobs,
                            progress=False)
            what = f"generated preset {args.preset!r}, seed {args.seed}, shape {preset.shape}"
        else:
            data, what = Path(args.data), f"folder {args.data}"
        per_image, snr = measure(data, args.images)
    elapsed = time.perf_counter() - t0
    med = per_image.median(numeric_only=True)
    pct = np.percentile(snr, [10, 25, 50, 75, 90]) if len(snr) else np.full(5, np.nan)
    fourteen = per_image[per_image.bits == 14]
    level14 = float(fourteen["level"].median()) if len(fourteen) else float("nan")

    real = SPECTRUM["inbreast"]
    print(f"{what}: {len(per_image)} images, {len(snr)} annotated calcifications ({elapsed:.0f} s)")
    print(f"real targets: {SOURCE}")
    print()
    print(f"{'statistic':<12}{'synthetic':>12}   {'real INbreast (range)':<26}{'accepted':<14}")

    def row(name, value, real_txt):
        lo, hi = TARGETS.get(name, (None, None))
        acc = f"{'' if lo is None else lo}..{'' if hi is None else hi}" if name in TARGETS else ""
        ok = "" if name not in TARGETS else (
            "ok" if (lo is None or value >= lo) and (hi is None or value <= hi) else "OUT")
        print(f"{name:<12}{value:>12.2f}   {real_txt:<26}{acc:<10}{ok}")

    for key in ("beta", "beta_hi", "excess"):
        m, lo, hi = real[key]
        row(key, med[key], f"{m:.2f} ({lo:.2f}-{hi:.2f})")
    for q, v in zip((10, 25, 50, 75, 90), pct):
        row(f"snr_p{q}", v, f"{DOG_SNR['percentiles'][q]:.1f}")
    row("bg_tail", med["bg_tail"], "3.7-3.8")
    row("level14", level14, "0.08-0.16 (tissue)")
    print()
    print(f"per image: n_mcs median {per_image.n_mcs.median():.0f}, "
          f"p25/p75 {per_image.n_mcs.quantile(0.25):.0f}/{per_image.n_mcs.quantile(0.75):.0f}; "
          f"squares per image median {med['n_squares']:.0f}")
    print(f"realism beta={med['beta']:.2f} beta_hi={med['beta_hi']:.2f} excess={med['excess']:.2f} "
          f"snr_p10={pct[0]:.2f} snr_p50={pct[2]:.2f} snr_p90={pct[4]:.2f} bg_tail={med['bg_tail']:.2f} "
          f"level14={level14:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
