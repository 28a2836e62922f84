"""Train the model shipped with the package: ``python -m hdogreg.train default --out DIR``.

The book trains its models on the INbreast-like benchmark folder (one vendor, 0.07 mm). The
shipped model is meant for anyone's mammograms, so its recipe (:data:`RECIPES`) trains on
domain-randomised pools (:func:`hdogreg.data.synth.pool.randomized_pool`): the generator's
four vendor looks, doses, detector blurs and noise correlations, pixel spacings of
0.05-0.14 mm resampled to 0.07 mm, random windows, tone curves and bit depths down to 8 bits;
every image is standardised (``normalize="noise"``, :mod:`hdogreg.standardize`) as inference
does. Half the patches hold no MC (vessels, ligaments, skin, noise peaks: hard negatives).

After training (best epoch by validation IoU per patch, :func:`hdogreg.training.train`) the
whole pipeline is run on the validation pool and the operating threshold ``p_thr`` is set to
give :data:`TARGET_FP` FP/cm^2 there (:func:`hdogreg.evaluation.threshold_at_fp`). Written to
``--out``:

``default.pt``
    fp16 ``state_dict`` (:func:`hdogreg.regression.load_checkpoint` reads it into float32).
``default.json``
    Settings (architecture, ``normalize``, training configuration, data hashes), the
    operating point (``p_thr``, ``o_thr``, ``stride``) and the validation numbers, the command
    and the package versions.
``default-history.csv``, ``default-train.log``
    Per-epoch history and a readable log of the run.

Seeded and deterministic on the CPU: the same command gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .standardize import DEFAULT_METHOD

__all__ = ["RECIPES", "TARGET_FP", "recipe", "export_fp16", "train_recipe", "main"]

#: FP/cm^2 of the operating point chosen on the validation pool (the paper's reporting point).
TARGET_FP = 0.4

#: Training recipes: pool sizes and seeds, pool options, :class:`~hdogreg.training.TrainConfig`
#: overrides. ``"default"`` is the shipped model; ``"smoke"`` is a minute-long run for tests.
RECIPES = {
    "default": {
        "n_train": 160, "n_val": 32, "train_seed": 101, "val_seed": 202,
        "pool": {"shape": (1280, 1024), "look_p": 0.5},
        "train_count_model": "dense",
        "config": {"epochs": 40, "steps_per_epoch": 75, "batch_size": 8, "lr": 1e-3,
                   "negative_fraction": 0.5, "max_patches": 3000, "max_val_patches": 96,
                   "normalize": DEFAULT_METHOD, "seed": 0},
    },
    "smoke": {
        "n_train": 4, "n_val": 2, "train_seed": 101, "val_seed": 202,
        "pool": {"shape": (384, 320), "look_p": 0.5},
        "train_count_model": "dense",
        "config": {"epochs": 2, "steps_per_epoch": 2, "batch_size": 2, "patch": 128, "stride": 96,
                   "crop": 96, "negative_fraction": 0.5, "max_patches": 32, "max_val_patches": 8,
                   "normalize": DEFAULT_METHOD, "seed": 0},
    },
}


def recipe(name, **overrides):
    """Return a copy of recipe `name` with top-level entries or ``config`` fields replaced.

    Keys of :class:`~hdogreg.training.TrainConfig` go to ``config``; the others (``n_train``,
    ``n_val``, seeds) replace recipe entries.

    Examples
    --------
    >>> recipe("default", epochs=2)["config"]["epochs"]
    2
    """
    import copy
    import dataclasses

    from .training.config import TrainConfig

    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {sorted(RECIPES)}")
    r = copy.deepcopy(RECIPES[name])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for k, v in overrides.items():
        if v is None:
            continue
        if k in fields:
            r["config"][k] = v
        elif k in r:
            r[k] = v
        else:
            raise ValueError(f"unknown recipe setting {k!r}")
    return r


def export_fp16(checkpoint, dest, **settings):
    """Write a checkpoint's weights as an fp16 ``state_dict`` at `dest`, its JSON beside it.

    Parameters
    ----------
    checkpoint : str or Path
        ``.pt`` of :func:`hdogreg.regression.save_checkpoint` (its ``.json`` beside it).
    dest : str or Path
        Output ``.pt``.
    **settings
        Added to the JSON.

    Returns
    -------
    dest : Path
    """
    import torch

    from ._utils import atomic_path

    checkpoint, dest = Path(checkpoint), Path(dest)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    meta = {**json.loads(checkpoint.with_suffix(".json").read_text()), **settings,
            "weights_dtype": "float16"}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        torch.save(half, tmp)
    with atomic_path(dest.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return dest


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("hdogreg", "torch", "segmentation-models-pytorch", "timm", "numpy", "scipy",
                "scikit-image"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def train_recipe(name, out, *, work=None, jobs=2, progress=True, command=None, log=print, **overrides):
    """Run a recipe end to end: pools, training, validation operating point, fp16 export.

    Parameters
    ----------
    name : str
        Key of :data:`RECIPES`.
    out : str or Path
        Folder receiving ``default.pt``, ``default.json``, ``default-history.csv`` and
        ``default-train.log``.
    work : str or Path, optional
        Training folder (checkpoints for resuming); default ``<build>/train-<name>``.
    jobs : int
        Processes generating the pools.
    progress : bool
        Progress bars.
    command : str, optional
        The command line, recorded in the JSON and the log.
    log : callable
        Receives each log line (also written to the log file).
    **overrides
        :func:`recipe` overrides (e.g. ``epochs``, ``n_train``).

    Returns
    -------
    dict
        The validation numbers (also in the JSON).
    """
    from .data.synth.pool import randomized_pool
    from .evaluation.budgets import default_train_config
    from .evaluation.detection import detection_summary, threshold_at_fp
    from .evaluation.scoring import score_split
    from .inference import FAST_STRIDE
    from .paths import build_dir
    from .pipeline import SegmentParams
    from .training.loop import train

    r = recipe(name, **overrides)
    out = Path(out)
    work = Path(work) if work is not None else build_dir() / f"train-{name}"
    lines = []

    def say(text):
        lines.append(text)
        log(text)

    t0 = time.perf_counter()
    say(f"recipe {name}: {json.dumps(r, default=str)}")
    train_pool = randomized_pool(r["n_train"], r["train_seed"], jobs=jobs, progress=progress,
                                 count_model=r["train_count_model"], **r["pool"])
    val_pool = randomized_pool(r["n_val"], r["val_seed"], jobs=jobs, progress=progress,
                               count_model="inbreast", **r["pool"])
    say(f"pools: {len(train_pool)} training, {len(val_pool)} validation images "
        f"({time.perf_counter() - t0:.0f} s)")
    config = default_train_config("cpu", **r["config"])
    run = train(config, train_pool, val_pool, work, progress=progress)
    for row in run.history.itertuples():
        say(f"epoch {row.epoch:3d}  train_loss {row.train_loss:.4f}  val_loss {row.val_loss:.4f}  "
            f"val_iou {row.val_iou:.4f}  ({row.seconds:.0f} s)")
    say(f"best epoch {run.best_epoch} (val IoU per patch {run.settings['metrics']['val_iou']:.4f}); "
        f"training {time.perf_counter() - t0:.0f} s")
    model, _ = run.load()
    params = SegmentParams(stride=FAST_STRIDE, normalize=config.normalize)
    scores = score_split(model, val_pool, params, cache=False, progress=progress, desc="validation pool")
    summary = detection_summary(scores, n_boot=100, groups="image", fp_at=TARGET_FP)
    p_thr = threshold_at_fp(summary, TARGET_FP)
    i = int(np.searchsorted(summary.thresholds, p_thr))
    val = {"pauc": summary.pauc, "pauc_lo": summary.pauc_lo, "pauc_hi": summary.pauc_hi,
           "tpr_at_0.4": summary.tpr_at, "p_thr": p_thr, "fp_per_cm2_at_p_thr": float(summary.fp_per_cm2[i]),
           "tpr_at_p_thr": float(summary.tpr[i]), "n_images": summary.n_images, "n_ref": summary.n_ref,
           "val_iou_per_patch": run.settings["metrics"]["val_iou"]}
    say("validation pool: " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                        for k, v in val.items()))
    dest = export_fp16(run.best_checkpoint, out / "default.pt", p_thr=p_thr, o_thr=params.o_thr,
                       stride=params.stride, recipe=name, recipe_settings=r, validation=val,
                       command=command, versions=_versions(), operating_point=f"{TARGET_FP} FP/cm2 "
                       "on the validation pool", installed_from=f"{work.name}/{run.best_checkpoint.name}")
    run.history.to_csv(out / "default-history.csv", index=False)
    size = dest.stat().st_size / 2**20
    say(f"wrote {dest.name} ({size:.2f} MiB), {dest.with_suffix('.json').name}; "
        f"total {time.perf_counter() - t0:.0f} s")
    (out / "default-train.log").write_text("\n".join(lines) + "\n")
    return val


def _portable(arg):
    """Record a command-line argument portably: absolute paths relative to the working folder.

    The JSON and the log shipped with the model must not hold this machine's paths
    (``/home/...``); a path outside the working folder is recorded by its name only.
    """
    if not os.path.isabs(arg):
        return arg
    try:
        return os.path.relpath(arg) if not os.path.relpath(arg).startswith("..") else Path(arg).name
    except ValueError:  # another drive (Windows)
        return Path(arg).name


def main(argv=None):
    """Entry point: ``python -m hdogreg.train RECIPE --out DIR [overrides]``."""
    p = argparse.ArgumentParser(prog="python -m hdogreg.train", description=__doc__.splitlines()[0])
    p.add_argument("recipe", choices=sorted(RECIPES))
    p.add_argument("--out", required=True, help="output folder (e.g. hdogreg/weights)")
    p.add_argument("--work", help="training folder for checkpoints (default build/train-RECIPE)")
    p.add_argument("--jobs", type=int, default=2, help="processes generating the pools")
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int, dest="steps_per_epoch")
    p.add_argument("--n-train", type=int, dest="n_train")
    p.add_argument("--n-val", type=int, dest="n_val")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    command = "python -m hdogreg.train " + " ".join(
        _portable(a) for a in (sys.argv[1:] if argv is None else argv))
    train_recipe(args.recipe, args.out, work=args.work, jobs=args.jobs, progress=not args.quiet,
                 command=command, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                 n_train=args.n_train, n_val=args.n_val)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
