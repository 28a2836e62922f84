"""Benchmark: the CLI's faster inference stride (384) against the book's (256).

Does the faster stride change the results?

The book scores the validation split with the authors' 512-px windows at a 256-px stride and
chooses ``p_thr`` there (:func:`hdogreg.evaluation.validated_default_model`); ``hdogreg segment``
uses that ``p_thr`` with a 384-px stride (:data:`hdogreg.cli.DEFAULT_STRIDE`, 0.55 times the
windows). This script scores the same validation images with the same model at both strides and
prints, per stride, the FROC pAUC (0-1 FP/cm², bootstrap 95% interval), the TPR at 0.4 FP/cm²
and the segmentation metrics at the validation ``p_thr``. Timing is in ``bench_segment.py``.

Usage::

    .venv/bin/python benchmarks/bench_stride.py [--data data/synth] [--strides 256 384]

It uses the book's default model (trained and cached by ``make book``; trained here if absent)
and the synthetic data set. The table goes to ``--out`` (default
``benchmarks/results/bench_stride.md``); the last line printed is
``stride=<s> pauc=<p> miou=<m> ...`` for the CLI default stride beside the book's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hdogreg import evaluation as ev
from hdogreg.cli import DEFAULT_STRIDE
from hdogreg.inference import window_starts


def _windows(shape, window, stride):
    (rows, _), (cols, _) = (window_starts(n, window, stride) for n in shape)
    return len(rows) * len(cols)


def main(argv=None):
    """Run the benchmark from the command line (`argv` as in :data:`sys.argv` without the program)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/synth", help="INbreast-format folder (make data)")
    ap.add_argument("--strides", nargs="+", type=int, default=[256, DEFAULT_STRIDE])
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_stride.md"))
    args = ap.parse_args(argv)

    reference = args.strides[0]
    validated = ev.validated_default_model(args.data, window=args.window, stride=reference,
                                           n_boot=args.n_boot, progress=True)
    images = ev.load_split(args.data, "val")
    shape = "x".join(f"{v:.0f}" for v in np.median([m.image.shape for m in images], axis=0))
    print(f"model {validated.checkpoint}; {len(images)} validation images (median {shape} px); "
          f"p_thr = {validated.p_thr:.4g} (chosen at stride {reference})", flush=True)

    rows = []
    for stride in args.strides:
        params = validated.params.replace(stride=stride)
        scores = (validated.val_scores if stride == reference
                  else ev.score_split(validated.model, images, params, desc=f"stride {stride}"))
        det = ev.detection_summary(scores, n_boot=args.n_boot)
        seg = ev.segmentation_summary(scores, validated.p_thr).row()
        rows.append({"stride": stride,
                     "grid windows per image": np.mean([_windows(m.image.shape, args.window, stride)
                                                         for m in images]),
                     "pAUC": det.pauc, "pAUC 95% interval": f"[{det.pauc_lo:.3f}, {det.pauc_hi:.3f}]",
                     "TPR at 0.4 FP/cm²": det.tpr_at, "mIoU": seg["miou"], "MC IoU": seg["iou_mc"],
                     "IoU per object": seg["iou_object"]})
    table = pd.DataFrame(rows)
    text = table.to_markdown(index=False, floatfmt=".4g")
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Inference stride: CLI default vs the book's\n\n"
                   f"Validation split of `{args.data}` ({len(images)} synthetic images, "
                   f"median {shape} px), model "
                   f"`{Path(validated.checkpoint).name}`, window {args.window}, p_thr {validated.p_thr:.4g} "
                   f"chosen at stride {reference}. Written by `benchmarks/bench_stride.py`.\n\n{text}\n")
    last = rows[-1]
    print(f"stride={last['stride']} pauc={last['pAUC']:.4f} miou={last['mIoU']:.4f} "
          f"reference_stride={reference} reference_pauc={rows[0]['pAUC']:.4f} "
          f"reference_miou={rows[0]['mIoU']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
