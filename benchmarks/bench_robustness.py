"""Robustness of the TPR at 0.4 FP/cm^2 to intensity, tone, bit depth and pixel size (issue 13).

Scores the test split of a generated benchmark under every condition of
:func:`hdogreg.robustness.study_conditions` - intensity x0.25 / x4, offset +0.05, gamma 0.7 /
1.4, 12-bit, 8-bit windowed export, and the cases generated at 0.05 / 0.1 / 0.14 mm - with

* ``shipped``: our method with the shipped model (standardised, its own ``p_thr``), and
* ``book_raw``: our method without standardisation (the paper's raw scale), with the book's
  model trained on the benchmark's training split with ``normalize="none"`` (cached under
  ``build/models``; trained on first use, a few minutes), its ``p_thr`` chosen at 0.4 FP/cm^2
  on the validation split,

and optionally the comparison methods and the unlearned reference ranking ``local_contrast``
(DoG blobs ranked by local contrast, :mod:`hdogreg.baselines.local_contrast`) (``--methods``).
Run from the repository root::

    .venv/bin/python benchmarks/bench_robustness.py --data data/synth

Pixel size alone (the original images and their spacing twins)::

    .venv/bin/python benchmarks/bench_robustness.py --methods shipped --perturbations original \
        --spacings 0.05 0.1 0.14

Per method it prints the TPR at 0.4 FP/cm^2 and the FP/cm^2 of the operating point per
condition, then machine-readable lines; the first is the standardised method's::

    robust tpr04_min=... tpr04_max=... spread=... fp_op_min=... fp_op_max=...
    robust_raw tpr04_min=... tpr04_max=... spread=... fp_op_min=... fp_op_max=...

Goal: ``spread <= 0.05`` with standardisation, and the operating point near 0.4 FP/cm^2 in
every condition.
"""

from __future__ import annotations

import argparse
import time

LINE_NAMES = {"shipped": "robust", "book_raw": "robust_raw", "book": "robust_book",
              "ciecholewski": "robust_ciecholewski", "wang_yang": "robust_wang_yang",
              "local_contrast": "robust_local_contrast"}


def main(argv=None):
    """Run the study and print its table and summary lines."""
    from hdogreg import evaluation as ev
    from hdogreg import robustness as rb

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synth", help="generated benchmark folder")
    p.add_argument("--n-images", type=int, default=None, help="test images (default: all)")
    p.add_argument("--n-val", type=int, default=None, help="validation images (default: all)")
    p.add_argument("--methods", default="shipped,book_raw",
                   help=f"comma-separated keys of {list(rb.STUDY_METHODS)}")
    p.add_argument("--perturbations", default=",".join(rb.PERTURBATIONS),
                   help="comma-separated keys of hdogreg.perturb.PERTURBATIONS ('original' included)")
    p.add_argument("--spacings", type=float, nargs="*", default=list(rb.SPACINGS),
                   help="pixel spacings (mm) of the spacing twins (none: no twins)")
    p.add_argument("--stride", type=int, default=None, help="inference stride (default FAST_STRIDE)")
    p.add_argument("--n-boot", type=int, default=20)
    p.add_argument("--curves", default=None,
                   help="write the FROC curves (method, condition, threshold, fp_per_cm2, tpr) to this CSV")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    test = ev.load_split(args.data, "test")[: args.n_images]
    val = ev.load_split(args.data, "val")[: args.n_val]
    keys = [k.strip() for k in args.methods.split(",") if k.strip()]
    methods = rb.study_methods(args.data, val, keys, stride=args.stride)
    for key, m in zip(keys, methods):
        print(f"{key}: {m.describe()}")
    perturbations = [k.strip() for k in args.perturbations.split(",") if k.strip()]
    conditions = rb.study_conditions(args.data, test, perturbations, args.spacings)
    table, curves = rb.robustness_table(methods, conditions, n_boot=args.n_boot)
    if args.curves:
        rb.curves_frame(curves).to_csv(args.curves, index=False)
    print(f"{len(test)} test images, {len(conditions)} conditions, {time.perf_counter() - t0:.0f} s")
    print(table.pivot(index="condition", columns="method", values=["tpr04", "fp_op"])
          .loc[[c[0] for c in conditions]].round(3).to_string())
    summary = rb.spread_summary(table)
    for key, m in zip(keys, methods):
        s = summary.loc[m.name]
        print(f"{LINE_NAMES[key]} tpr04_min={s.tpr04_min:.3f} tpr04_max={s.tpr04_max:.3f} "
              f"spread={s.spread:.3f} fp_op_min={s.fp_op_min:.3f} fp_op_max={s.fp_op_max:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
