"""Train the model shipped with the package: ``python -m hdogreg.train default --out DIR``.

The book trains its models on the INbreast-like benchmark folder (one vendor, 0.07 mm). The
shipped model is meant for anyone's mammograms, so its recipe (:data:`RECIPES`) trains on
domain-randomised pools (:func:`hdogreg.data.synth.pool.randomized_pool`): the generator's
four vendor looks, doses, detector blurs and noise correlations, pixel spacings of
0.05-0.14 mm resampled to 0.07 mm, random windows, tone curves and bit depths down to 8 bits;
every image is standardised as inference does (``normalize="noise_psd"``,
:mod:`hdogreg.standardize`: the package's ``"noise"`` with the noise of an image resampled from
another pixel size corrected for what resampling does to it; on a 0.07 mm image the two are
identical). Half the patches hold no MC (vessels, ligaments, skin, noise peaks: hard negatives).
Adam at 1e-3 is annealed along a cosine to 0 over the run's 50 x 75 steps
(``lr_schedule="cosine"``, :func:`hdogreg.training.learning_rate`): at a constant rate the
validation IoU of the last ten of 40 epochs still swung between 0.31 and 0.45. The kept
epoch's BatchNorm statistics are then recomputed once on ``export_bn_batches`` training
batches (:func:`hdogreg.training.loop.recalibrate_checkpoint`; during training, 4 per epoch).

After training (best epoch by validation IoU per patch, :func:`hdogreg.training.train`) the
whole pipeline is run on the validation pool at each DoG threshold of :data:`DOG_THRESHOLDS`
and the operating point is chosen there (:func:`validate_operating_point`): a DoG threshold
whose FROC curve runs well past :data:`TARGET_FP`, and ``p_thr`` giving :data:`TARGET_FP`
FP/cm^2 on it (:func:`hdogreg.evaluation.threshold_at_fp`). ``--recalibrate`` redoes only this
step on the weights already in ``--out``. Written to ``--out``:

``default.pt``
    fp16 ``state_dict`` (:func:`hdogreg.regression.load_checkpoint` reads it into float32).
``default.json``
    Settings (architecture, ``normalize``, training configuration, data hashes), the
    operating point (``dog_threshold``, ``p_thr``, ``o_thr``, ``stride``; read by
    :meth:`hdogreg.pipeline.SegmentParams.from_checkpoint`) and the validation numbers of every
    DoG threshold tried, the command and the package versions.
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

__all__ = ["RECIPES", "TARGET_FP", "DOG_THRESHOLDS", "REACH", "recipe", "recipe_pools", "export_fp16",
           "choose_dog_threshold", "validate_operating_point", "train_recipe", "recalibrate", "main"]

#: FP/cm^2 of the operating point chosen on the validation pool (the paper's reporting point).
TARGET_FP = 0.4

#: DoG thresholds (on the standardised scale) tried on the validation pool, largest first
#: (:func:`validate_operating_point`); 0.006 is the paper's T_DoG.
DOG_THRESHOLDS = (0.006, 0.0045, 0.0035, 0.0028)

#: A DoG threshold qualifies only if its FROC curve on the validation pool reaches this many
#: times :data:`TARGET_FP`: the operating ``p_thr`` is then a threshold on the network's map,
#: not the end of the candidate list, so the FP rate of the operating point does not simply
#: follow the number of HDoG candidates of an image.
REACH = 2.0

#: Training recipes: pool sizes and seeds, pool options, :class:`~hdogreg.training.TrainConfig`
#: overrides. ``"default"`` is the shipped model; ``"smoke"`` is a minute-long run for tests.
RECIPES = {
    "default": {
        "n_train": 160, "n_val": 32, "train_seed": 101, "val_seed": 202,
        "pool": {"shape": (1280, 1024), "look_p": 0.5},
        "train_count_model": "dense",
        "config": {"epochs": 50, "steps_per_epoch": 75, "batch_size": 8, "lr": 1e-3,
                   "lr_schedule": "cosine", "negative_fraction": 0.5, "max_patches": 3000,
                   "max_val_patches": 160,
                   "normalize": "noise_psd", "seed": 0},
        "export_bn_batches": 32,
    },
    "smoke": {
        "n_train": 4, "n_val": 2, "train_seed": 101, "val_seed": 202,
        "pool": {"shape": (384, 320), "look_p": 0.5},
        "train_count_model": "dense",
        "config": {"epochs": 2, "steps_per_epoch": 2, "batch_size": 2, "patch": 128, "stride": 96,
                   "crop": 96, "negative_fraction": 0.5, "max_patches": 32, "max_val_patches": 8,
                   "lr_schedule": "cosine", "normalize": DEFAULT_METHOD, "seed": 0},
        "export_bn_batches": 2,
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
        Added to the JSON (after the checkpoint's own, whose renamed training settings are
        upgraded first, :func:`hdogreg.training.config.upgrade_settings`: an operating point
        ``p_thr`` never overwrites the training's ``val_p_thr``).

    Returns
    -------
    dest : Path
    """
    import torch

    from ._utils import atomic_path, torch_save
    from .training.config import upgrade_settings

    checkpoint, dest = Path(checkpoint), Path(dest)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    meta = {**upgrade_settings(json.loads(checkpoint.with_suffix(".json").read_text())), **settings,
            "weights_dtype": "float16"}
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch_save(half, dest)
    with atomic_path(dest.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return dest


def recipe_pools(r, *, jobs=2, progress=True, train=True):
    """Generate the training and validation pools of recipe `r` (:func:`recipe`).

    Returns ``(train_pool, val_pool)``; ``train_pool`` is None if not `train`. The validation
    pool counts MCs as INbreast does (``count_model="inbreast"``); the training pool as the
    recipe says.
    """
    from .data.synth.pool import randomized_pool

    train_pool = (randomized_pool(r["n_train"], r["train_seed"], jobs=jobs, progress=progress,
                                  count_model=r["train_count_model"], **r["pool"]) if train else None)
    val_pool = randomized_pool(r["n_val"], r["val_seed"], jobs=jobs, progress=progress,
                               count_model="inbreast", **r["pool"])
    return train_pool, val_pool


def choose_dog_threshold(rows, target_fp=TARGET_FP, reach=REACH):
    """Pick the DoG threshold of the operating point from per-threshold validation rows.

    Parameters
    ----------
    rows : list of dict
        One per DoG threshold: ``dog_threshold``, ``tpr_at_0.4`` (TPR at `target_fp`) and
        ``fp_end`` (the largest FP/cm^2 of the FROC curve: every candidate kept).
    target_fp, reach : float, optional
        A threshold qualifies if ``fp_end >= reach * target_fp``.

    Returns
    -------
    dict
        The chosen row: among the qualifying ones the largest TPR at `target_fp` (ties: the
        largest DoG threshold, fewer candidates); if none qualifies, the smallest threshold
        (the longest curve).

    Examples
    --------
    >>> rows = [{"dog_threshold": 0.006, "tpr_at_0.4": 0.70, "fp_end": 0.41},
    ...         {"dog_threshold": 0.004, "tpr_at_0.4": 0.72, "fp_end": 0.95},
    ...         {"dog_threshold": 0.003, "tpr_at_0.4": 0.72, "fp_end": 2.10}]
    >>> choose_dog_threshold(rows)["dog_threshold"]
    0.004
    """
    rows = sorted(rows, key=lambda row: -row["dog_threshold"])
    ok = [row for row in rows if row["fp_end"] >= reach * target_fp]
    if not ok:
        return rows[-1]
    best = max(row["tpr_at_0.4"] for row in ok)
    return next(row for row in ok if row["tpr_at_0.4"] >= best - 1e-12)


def validate_operating_point(model, val_pool, normalize, *, dog_thresholds=DOG_THRESHOLDS,
                             target_fp=TARGET_FP, reach=REACH, n_boot=100, progress=True, log=print):
    """Choose a network's operating point (``dog_threshold``, ``p_thr``) on a validation pool.

    For each DoG threshold the whole pipeline (:class:`~hdogreg.pipeline.SegmentParams` with
    the network's `normalize`, stride :data:`hdogreg.inference.FAST_STRIDE`) runs on the pool
    and gives a FROC curve over ``p_thr`` (:func:`hdogreg.evaluation.detection_summary`,
    bootstrap over images); :func:`choose_dog_threshold` picks one, and ``p_thr`` is set to
    give `target_fp` FP/cm^2 on its curve (:func:`hdogreg.evaluation.threshold_at_fp`). The
    proximity maps do not depend on the DoG threshold: they are computed once.

    Parameters
    ----------
    model : torch.nn.Module
    val_pool : sequence of Mammogram-like images (:func:`recipe_pools`)
    normalize : str
        The network's standardisation.
    dog_thresholds : sequence of float, optional
    target_fp, reach : float, optional
    n_boot : int, optional
        Bootstrap samples of the pAUC band.
    progress : bool, optional
    log : callable, optional
        Receives one line per DoG threshold and one for the choice.

    Returns
    -------
    dict
        The chosen point's validation numbers (``dog_threshold``, ``p_thr``, ``pauc`` with its
        band, ``tpr_at_0.4``, ``fp_per_cm2_at_p_thr``, ``tpr_at_p_thr``, ``fp_end``,
        ``n_candidates``, ``n_images``, ``n_ref``) and ``"calibration"``: the rows of every
        threshold tried.
    """
    import tempfile

    from .evaluation.detection import detection_summary, operating_point, threshold_at_fp
    from .evaluation.scoring import score_split
    from .inference import FAST_STRIDE
    from .pipeline import SegmentParams

    rows = []
    with tempfile.TemporaryDirectory(prefix="hdogreg-pmaps-") as cache:
        for t in sorted((float(t) for t in dog_thresholds), reverse=True):
            params = SegmentParams(stride=FAST_STRIDE, normalize=normalize, dog_threshold=t)
            scores = score_split(model, val_pool, params, cache=cache, progress=progress,
                                 desc=f"validation pool, T_DoG {t:g}")
            summary = detection_summary(scores, n_boot=n_boot, groups="image", fp_at=target_fp)
            p_thr = float(threshold_at_fp(summary, target_fp))
            fp_op, tpr_op = operating_point(summary, p_thr)
            row = {"dog_threshold": t, "p_thr": p_thr, "pauc": float(summary.pauc),
                   "pauc_lo": float(summary.pauc_lo), "pauc_hi": float(summary.pauc_hi),
                   "tpr_at_0.4": float(summary.tpr_at),
                   "fp_per_cm2_at_p_thr": fp_op, "tpr_at_p_thr": tpr_op,
                   "fp_end": float(np.max(summary.fp_per_cm2)),
                   "n_candidates": int(sum(len(s.scores) for s in scores)),
                   "n_images": int(summary.n_images), "n_ref": int(summary.n_ref)}
            rows.append(row)
            log(f"validation pool, T_DoG {t:g}: " + _fmt(row))
    chosen = choose_dog_threshold(rows, target_fp, reach)
    log(f"operating point: T_DoG {chosen['dog_threshold']:g}, p_thr {chosen['p_thr']:.4g} "
        f"(curve reaches {chosen['fp_end']:.2f} FP/cm2; rule: reach >= {reach:g} x {target_fp:g})")
    return {**chosen, "calibration": rows}


def _validate_export(dest, val_pool, *, progress, log, val_iou_per_patch=None, **extra):
    """Validate the exported model at `dest` and write its operating point into its JSON."""
    from ._utils import atomic_path
    from .store import load_model

    model, settings = load_model(dest)
    val = validate_operating_point(model, val_pool, settings.get("normalize", "none"),
                                   progress=progress, log=log)
    if val_iou_per_patch is not None:
        val["val_iou_per_patch"] = val_iou_per_patch
    settings = {**settings, **_operating_settings(val), "validation": val, **extra}
    with atomic_path(Path(dest).with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(settings, indent=2, sort_keys=True, default=str) + "\n")
    return val


class _Log:
    """A log callable that also keeps its lines (for the log file written beside the model)."""

    def __init__(self, log):
        self.lines, self._log = [], log

    def __call__(self, text):
        self.lines.append(text)
        self._log(text)


def _fmt(row):
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())


def _operating_settings(val):
    """Checkpoint settings of a validated operating point (:meth:`SegmentParams.from_checkpoint`)."""
    from .inference import FAST_STRIDE
    from .pipeline import SegmentParams

    return {"dog_threshold": val["dog_threshold"], "p_thr": val["p_thr"],
            "o_thr": SegmentParams.o_thr, "stride": FAST_STRIDE,
            "operating_point": f"{TARGET_FP} FP/cm2 on the validation pool"}


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
    from .evaluation.budgets import default_train_config
    from .paths import build_dir
    from .training.loop import recalibrate_checkpoint, train

    r = recipe(name, **overrides)
    out = Path(out)
    work = Path(work) if work is not None else build_dir() / f"train-{name}"
    say = _Log(log)

    t0 = time.perf_counter()
    say(f"recipe {name}: {json.dumps(r, default=str)}")
    train_pool, val_pool = recipe_pools(r, jobs=jobs, progress=progress)
    say(f"pools: {len(train_pool)} training, {len(val_pool)} validation images "
        f"({time.perf_counter() - t0:.0f} s)")
    config = default_train_config("cpu", **r["config"])
    run = train(config, train_pool, val_pool, work, progress=progress)
    for row in run.history.itertuples():
        say(f"epoch {row.epoch:3d}  train_loss {row.train_loss:.4f}  val_loss {row.val_loss:.4f}  "
            f"val_iou {row.val_iou:.4f}  ({row.seconds:.0f} s)")
    say(f"best epoch {run.best_epoch} (val IoU per patch {run.settings['metrics']['val_iou']:.4f}); "
        f"the {len(run.history)} epochs took {run.history.seconds.sum():.0f} s; this call so far "
        f"{time.perf_counter() - t0:.0f} s (less when a finished run in {work.name} was reused)")
    best, val_iou = run.best_checkpoint, run.settings["metrics"]["val_iou"]
    n_bn = int(r.get("export_bn_batches", 0))
    if n_bn:
        best, before, val_iou = recalibrate_checkpoint(best, config, train_pool, val_pool, n_bn,
                                                       work / f"best-bn{n_bn}.pt")
        say(f"BatchNorm statistics of epoch {run.best_epoch} recomputed on {n_bn} training batches: "
            f"val IoU per patch {before:.4f} -> {val_iou:.4f}")
    dest = export_fp16(best, out / "default.pt", recipe=name, recipe_settings=r,
                       command=command, versions=_versions(),
                       installed_from=f"{work.name}/{best.name}")
    # The operating point is validated on the fp16 weights that are shipped, not on the
    # float32 checkpoint: the two maps differ slightly and so would p_thr.
    val = _validate_export(dest, val_pool, progress=progress, log=say, val_iou_per_patch=val_iou)
    run.history.to_csv(out / "default-history.csv", index=False)
    size = dest.stat().st_size / 2**20
    say(f"wrote {dest.name} ({size:.2f} MiB), {dest.with_suffix('.json').name}; "
        f"total {time.perf_counter() - t0:.0f} s")
    (out / "default-train.log").write_text("\n".join(say.lines) + "\n")
    return val


def recalibrate(name, out, *, jobs=2, progress=True, command=None, log=print):
    """Choose the operating point of an exported model again, without retraining.

    Loads ``out/default.pt``, regenerates recipe `name`'s validation pool, runs
    :func:`validate_operating_point` and rewrites the operating point and validation numbers of
    ``default.json``; the lines are appended to ``default-train.log``.

    Returns
    -------
    dict
        The new validation numbers.
    """
    from ._utils import atomic_path
    from .store import load_model

    out = Path(out)
    dest = out / "default.pt"
    _, settings = load_model(dest)
    r = settings.get("recipe_settings") or recipe(name)
    say = _Log(log)

    t0 = time.perf_counter()
    say(f"recalibration: {command or 'recalibrate'}")
    _, val_pool = recipe_pools(r, jobs=jobs, progress=progress, train=False)
    val = _validate_export(dest, val_pool, progress=progress, log=say,
                           val_iou_per_patch=settings.get("validation", {}).get("val_iou_per_patch"),
                           recalibration_command=command)
    say(f"rewrote {dest.with_suffix('.json').name}; recalibration {time.perf_counter() - t0:.0f} s")
    log_path = out / "default-train.log"
    previous = log_path.read_text() if log_path.exists() else ""
    with atomic_path(log_path) as tmp:
        tmp.write_text(previous + "\n".join(say.lines) + "\n")
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
    p.add_argument("--recalibrate", action="store_true",
                   help="keep the weights in --out and only choose the operating point again "
                        "(DoG threshold and p_thr on the validation pool)")
    args = p.parse_args(argv)
    command = "python -m hdogreg.train " + " ".join(
        _portable(a) for a in (sys.argv[1:] if argv is None else argv))
    if args.recalibrate:
        recalibrate(args.recipe, args.out, jobs=args.jobs, progress=not args.quiet, command=command)
        return 0
    train_recipe(args.recipe, args.out, work=args.work, jobs=args.jobs, progress=not args.quiet,
                 command=command, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                 n_train=args.n_train, n_val=args.n_val)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
