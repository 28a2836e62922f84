"""Does the method find the same MCs when the detector's pixels are larger? Spacing twins.

Each image of a split (0.07 mm, INbreast's spacing) is also presented at coarser spacings
as its *twin*: the same breast integrated over larger pixels (area-averaged with
:func:`hdogreg.spacing.to_native`), with the reference labels mapped onto the coarser grid
(:func:`hdogreg.spacing.labels_to_input`). :func:`hdogreg.pipeline.segment_mammogram`
resamples each twin back to 0.07 mm, segments it and maps its objects back; detections are
matched on the twin's own grid with the localisation rule scaled to millimetres (0.35 mm,
5 px at 0.07 mm). Prints the pooled FROC's TPR at 0.4 FP/cm² per spacing and the FP/cm² at
the checkpoint's validated ``p_thr``.

Run from the repository root (after ``make book``, which trains ``build/models/default.pt``)::

    .venv/bin/python benchmarks/bench_spacing.py --spacings 0.1 0.14

The last line is machine-readable::

    spacing tpr04_0.07=... tpr04_0.1=... ... max_abs_diff=...
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main(argv=None):
    """Run the benchmark; print the table and the machine-readable line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/synth", help="INbreast-format folder with splits")
    p.add_argument("--model", default="build/models/default.pt", help="checkpoint (.pt with .json)")
    p.add_argument("--split", default="test")
    p.add_argument("--spacings", type=float, nargs="+", default=[0.1, 0.14], help="twin spacings (mm)")
    p.add_argument("--images", type=int, default=None, help="at most this many images")
    p.add_argument("--stride", type=int, default=256)
    args = p.parse_args(argv)

    import torch
    from tqdm import tqdm

    from hdogreg.data import InbreastDataset
    from hdogreg.metrics import froc_counts, froc_curve, score_thresholds, tpr_at
    from hdogreg.pipeline import SegmentParams, segment_mammogram
    from hdogreg.regression import load_checkpoint
    from hdogreg.spacing import NATIVE_SPACING, labels_to_input, to_native

    torch.set_num_threads(2)
    model, settings = load_checkpoint(args.model)
    p_thr = float(settings.get("p_thr", np.nan))
    params = SegmentParams(window=512, stride=args.stride)
    ds = InbreastDataset(args.data)
    ids = ds.file_ids(args.split)[: args.images]
    spacings = [NATIVE_SPACING, *args.spacings]
    runs = {s: [] for s in spacings}
    t0 = time.perf_counter()
    for fid in tqdm(ids, desc="images"):
        mg = ds.load(fid)
        ref07 = mg.mc_labels()
        for s in spacings:
            if s == NATIVE_SPACING:
                img, ref = mg.image, ref07
            else:
                img = to_native(mg.image, NATIVE_SPACING, native=s)
                ref = labels_to_input(ref07, img.shape)
            res = segment_mammogram(img, model, params, pixel_spacing=s, progress=False)
            cand = res.candidates()
            area = float(res.breast.sum()) * s**2 / 100.0
            runs[s].append((cand.labels, np.asarray(cand.scores, float), ref, area))
    elapsed = time.perf_counter() - t0

    print(f"{len(ids)} {args.split} images of {args.data}; model {args.model} (p_thr {p_thr:.3g}); "
          f"{elapsed:.0f} s")
    print(f"{'spacing':>8} {'MCs':>5} {'TPR@0.4':>8} {'FP/cm2 at p_thr':>16} {'TPR at p_thr':>13}")
    tprs = {}
    for s in spacings:
        thr = score_thresholds(*(r[1] for r in runs[s]))
        md = 0.35 / s
        counts = [froc_counts(lab, sc, ref, thr, max_distance=md) for lab, sc, ref, _ in runs[s]]
        tp = np.array([c.tp for c in counts])
        fp = np.array([c.fp for c in counts])
        n_ref = np.array([c.n_ref for c in counts])
        fp_cm2, tpr = froc_curve(tp, fp, n_ref, [r[3] for r in runs[s]])
        tprs[s] = tpr_at(fp_cm2, tpr, 0.4)
        k = int(np.searchsorted(thr, p_thr, side="left")) if np.isfinite(p_thr) else -1
        print(f"{s:>8.3g} {n_ref.sum():>5d} {tprs[s]:>8.3f} {fp_cm2[k]:>16.3f} {tpr[k]:>13.3f}")
    diff = max(abs(tprs[s] - tprs[NATIVE_SPACING]) for s in spacings)
    print("spacing " + " ".join(f"tpr04_{s:g}={tprs[s]:.3f}" for s in spacings) + f" max_abs_diff={diff:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
