"""Benchmark of the FPN encoders and decoder widths for a 2-core CPU: speed and validation quality.

A *variant* is ``ENCODER:INIT:PYRAMIDxSEGMENTATION``, e.g. ``tu-efficientnet_lite0:imagenet:128x64``
(an encoder of :data:`hdogreg.regression.ENCODERS`, ``imagenet`` or ``random`` start, FPN decoder
channels; ``256x128`` is smp's default used by the paper). Measures, for each variant:

* the time of one training step (Adam, soft Dice, batch 8) at crop 320 (the paper) and 256;
* the forward time per megapixel in evaluation mode (a 1024 x 1024 input, channels-last as in
  :func:`hdogreg.inference.predict_proximity`);

and, with one identical short training budget (:class:`hdogreg.training.TrainConfig` defaults
unless overridden) on the synthetic INbreast-format benchmark, the best validation IoU per patch
and the validation soft Dice loss (``--quality-variants``).

Run from the repository root::

    .venv/bin/python -m hdogreg.data synth --out /tmp/bench_synth --preset default
    .venv/bin/python benchmarks/bench_encoders.py --data /tmp/bench_synth

Without ``--data`` (or if it does not exist) a small built-in generator of noisy images with
bright Gaussian dots is used. The tables are printed as Markdown and written to
``--out`` (default ``benchmarks/results/bench_encoders.md``) with the raw rows as CSV next to it.
Timings are wall-clock medians on a shared machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Variant:
    """One model configuration of the benchmark."""

    encoder: str
    pretrained: bool
    decoder_channels: tuple

    @classmethod
    def parse(cls, text):
        """``ENCODER:imagenet|random[:PxS]`` (decoder channels default to the CPU default)."""
        from hdogreg.regression import DEFAULT_DECODER_CHANNELS

        parts = text.split(":")
        if len(parts) not in (2, 3) or parts[1] not in ("imagenet", "random"):
            raise argparse.ArgumentTypeError(f"variant must be ENCODER:imagenet|random[:PxS], got {text!r}")
        channels = DEFAULT_DECODER_CHANNELS
        if len(parts) == 3:
            try:
                channels = tuple(int(c) for c in parts[2].split("x"))
            except ValueError:
                raise argparse.ArgumentTypeError(f"decoder channels must be PxS, got {parts[2]!r}") from None
        return cls(parts[0], parts[1] == "imagenet", channels)

    @property
    def name(self):
        """``ENCODER:init:PxS``, the variant's name on the command line and in folder names."""
        start = "imagenet" if self.pretrained else "random"
        return f"{self.encoder}:{start}:{self.decoder_channels[0]}x{self.decoder_channels[1]}"

    def columns(self):
        """Return the variant as table columns ``encoder``, ``init`` and ``decoder``."""
        return {"encoder": self.encoder, "init": "imagenet" if self.pretrained else "random",
                "decoder": f"{self.decoder_channels[0]}x{self.decoder_channels[1]}"}


@dataclass
class _Dots:
    image: np.ndarray
    mask: np.ndarray
    file_id: str

    def mc_mask(self):
        return self.mask


def builtin_data(n_train=12, n_val=4, shape=(512, 512), seed=0):
    """Noise + low-frequency background + clusters of bright dots (points as annotations)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_train + n_val):
        bg = ndi.gaussian_filter(rng.standard_normal(shape), 30) * 3 + 0.3
        image = bg + 0.01 * rng.standard_normal(shape)
        mask = np.zeros(shape, bool)
        rows, cols = np.mgrid[: shape[0], : shape[1]]
        for _ in range(3):
            cr, cc = rng.integers(40, shape[0] - 40, 2)
            for _ in range(rng.integers(3, 10)):
                r, c = np.clip([cr, cc] + rng.normal(0, 15, 2), 5, np.array(shape) - 6).astype(int)
                s = rng.uniform(0.8, 2.5)
                image += rng.uniform(0.03, 0.1) * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * s * s))
                mask[r, c] = True
        out.append(_Dots(np.clip(image, 0, 1).astype(np.float32), mask, f"dots{i}"))
    return out[:n_train], out[n_train:]


def synthetic_data(root, max_train=None, max_val=None):
    """Train / validation Mammograms of an INbreast-format folder (its splits.csv, else patient-wise)."""
    from hdogreg.data import InbreastDataset, make_splits

    ds = InbreastDataset(root)
    table = ds.table
    if "split" not in table or table["split"].isna().all():
        table = table.merge(make_splits(table, seed=0)[["file_id", "split"]], on="file_id",
                            suffixes=("_old", ""))
    splits = {s.lower(): s for s in table["split"].dropna().unique()}
    train_key = splits.get("train")
    val_key = splits.get("val", splits.get("validation"))
    if train_key is None or val_key is None:
        raise SystemExit(f"{root}: splits {sorted(splits)} lack train/val")
    ids_train = list(table.loc[table["split"] == train_key, "file_id"])[:max_train]
    ids_val = list(table.loc[table["split"] == val_key, "file_id"])[:max_val]
    return [ds.load(i) for i in ids_train], [ds.load(i) for i in ids_val]


def _median_time(fn, repeat, warmup=1):
    """Median wall-clock and process CPU seconds of `fn` (CPU time summed over threads)."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def speed(variants, crops, batch, repeat, threads, warmup=1):
    """Time one training step per crop size and one forward pass per megapixel for each variant."""
    import torch

    from hdogreg.regression import build_model
    from hdogreg.training import soft_dice_loss

    torch.set_num_threads(threads)
    rows = []
    seen = set()
    for v in variants:
        if (v.encoder, v.decoder_channels) in seen:  # the start does not change the time
            continue
        seen.add((v.encoder, v.decoder_channels))
        torch.manual_seed(0)
        model = build_model(v.encoder, pretrained=False, decoder_channels=v.decoder_channels)
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        row = {"encoder": v.encoder, "decoder": v.columns()["decoder"], "params_M": round(n_params, 2)}
        for crop in crops:
            x = torch.rand(batch, 1, crop, crop)
            y = (torch.rand(batch, 1, crop, crop) > 0.98).float()

            def step(model=model, opt=opt, x=x, y=y):
                opt.zero_grad(set_to_none=True)
                loss = soft_dice_loss(model(x), y)
                loss.backward()
                opt.step()

            model.train()
            wall, cpu = _median_time(step, repeat, warmup)
            row[f"step_wall_s_c{crop}"] = round(wall, 2)
            row[f"step_cpu_s_c{crop}"] = round(cpu, 2)
            print(f"  {v.encoder} {row['decoder']}: train step batch {batch} crop {crop}: "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        model.eval().to(memory_format=torch.channels_last)
        x = torch.rand(1, 1, 1024, 1024).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            wall, cpu = _median_time(lambda model=model, x=x: model(x), repeat, warmup)
        mp = 1024 * 1024 / 1e6
        row["forward_wall_s_per_MP"] = round(wall / mp, 2)
        row["forward_cpu_s_per_MP"] = round(cpu / mp, 2)
        print(f"  {v.encoder} {row['decoder']}: forward {wall / mp:.2f} s/MP wall, "
              f"{cpu / mp:.2f} s/MP CPU", flush=True)
        rows.append(row)
        del model, opt
    return pd.DataFrame(rows)


def quality(variants, train_images, val_images, config, work_dir):
    """Train each variant with `config` and return its validation IoU, losses and training time."""
    from hdogreg.training import train

    rows = []
    for v in variants:
        cfg = config.replace(encoder=v.encoder, pretrained=v.pretrained, decoder_channels=v.decoder_channels)
        t0, c0 = time.perf_counter(), time.process_time()
        res = train(cfg, train_images, val_images, Path(work_dir) / v.name.replace(":", "-"),
                    resume=False, progress=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        h = res.history
        best = h.loc[h.val_iou.idxmax()]
        rows.append({**v.columns(),
                     "best_val_iou": round(float(best.val_iou), 4), "best_epoch": int(best.epoch),
                     "final_val_iou": round(float(h.val_iou.iloc[-1]), 4),
                     "final_val_dice_loss": round(float(h.val_loss.iloc[-1]), 4),
                     "final_train_loss": round(float(h.train_loss.iloc[-1]), 4),
                     "train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
                     "n_train_patches": res.settings.get("n_train_patches"),
                     "n_val_patches": res.settings.get("n_val_patches")})
        print(h.to_string(index=False), flush=True)
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None):
    """Run the benchmark from the command line (`argv` as in :data:`sys.argv` without the program)."""
    from hdogreg.training import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="INbreast-format folder (python -m hdogreg.data synth)")
    ap.add_argument("--speed-variants", nargs="+", type=Variant.parse, default=[Variant.parse(v) for v in (
        "tu-efficientnet_lite0:random:128x64", "tu-efficientnet_lite0:random:256x128",
        "resnet18:random:128x64", "inceptionv4:random:256x128")], help="variants timed")
    ap.add_argument("--quality-variants", nargs="*", type=Variant.parse, default=[Variant.parse(v) for v in (
        "tu-efficientnet_lite0:imagenet:128x64", "tu-efficientnet_lite0:random:128x64",
        "tu-efficientnet_lite0:imagenet:256x128", "resnet18:random:128x64")],
        help="variants trained with the same budget (inceptionv4:random:256x128 = the paper's network)")
    ap.add_argument("--crops", nargs="+", type=int, default=[320, 256])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="override TrainConfig().epochs")
    ap.add_argument("--steps-per-epoch", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None, help="override TrainConfig().lr")
    ap.add_argument("--max-train", type=int, default=None, help="use at most this many training images")
    ap.add_argument("--max-val", type=int, default=None)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--work-dir", default="build/bench_encoders")
    ap.add_argument("--out", default="benchmarks/results/bench_encoders.md")
    args = ap.parse_args(argv)

    command = " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# FPN encoders and decoder widths on a 2-core CPU", "",
             f"Written by `benchmarks/bench_encoders.py {command}`.",
             f"python {platform.python_version()}, torch threads {args.threads}, "
             f"load average at start {os.getloadavg()[0]:.2f}, cores {os.cpu_count()}", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.skip_speed:
        print("speed ...", flush=True)
        sp = speed(args.speed_variants, args.crops, args.batch, args.repeat, args.threads, args.warmup)
        sp.to_csv(out.with_name(out.stem + "_speed.csv"), index=False)
        lines += [f"## Speed (random weights; medians of {args.repeat}; batch {args.batch}; "
                  "CPU = process time summed over threads)", "", sp.to_markdown(index=False), "",
                  f"load average after the speed runs {os.getloadavg()[0]:.2f}", ""]
        print(sp.to_markdown(index=False), flush=True)
    if not args.skip_quality and args.quality_variants:
        overrides = {k: v for k, v in (("epochs", args.epochs), ("steps_per_epoch", args.steps_per_epoch),
                                       ("lr", args.lr)) if v is not None}
        cfg = TrainConfig(num_threads=args.threads, **overrides)
        if args.data and Path(args.data).is_dir():
            train_images, val_images = synthetic_data(args.data, args.max_train, args.max_val)
            source = f"synthetic INbreast-format data {args.data}"
        else:
            train_images, val_images = builtin_data()
            source = "built-in noisy dot images"
        print(f"quality: {len(train_images)} train / {len(val_images)} val images from {source}", flush=True)
        q = quality(args.quality_variants, train_images, val_images, cfg, args.work_dir)
        q.to_csv(out.with_name(out.stem + "_quality.csv"), index=False)
        budget = {k: v for k, v in cfg.to_dict().items()
                  if k in ("epochs", "steps_per_epoch", "batch_size", "patch", "stride", "crop", "lr",
                           "max_val_patches", "bn_recalibration_batches", "xi", "alpha", "p_thr")}
        lines += ["## Validation quality after one identical short budget", "",
                  f"Data: {len(train_images)} training / {len(val_images)} validation images, {source}.",
                  f"Budget: {budget}.",
                  "IoU per patch: (prediction >= p_thr) vs (target > 0), best epoch; "
                  "soft Dice loss (Eq. 10) of the last epoch.", "", q.to_markdown(index=False), ""]
        print(q.to_markdown(index=False), flush=True)
    lines += [f"load average at end {os.getloadavg()[0]:.2f}", ""]
    out.write_text("\n".join(lines) + "\n")
    print(f"written {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
