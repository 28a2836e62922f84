"""The training loop: :func:`train`, :func:`fine_tune` and the cached :func:`train_or_load`.

Adam on the soft Dice loss (:mod:`~hdogreg.training.losses`) over augmented patches
(:mod:`~hdogreg.training.patches`), keeping the epoch with the best validation IoU per patch;
runs resume from their last epoch and are cached by a hash of settings and data
(:mod:`~hdogreg.training.config`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .._utils import atomic_path, torch_save
from ..regression import (
    build_model,
    load_checkpoint,
    model_settings,
    save_checkpoint,
)
from .config import TrainResult, config_hash, data_hash, learning_rate, upgrade_settings
from .losses import iou_per_patch, soft_dice_loss
from .patches import Augment, PatchDataset

__all__ = ["train", "fine_tune", "train_or_load", "patch_datasets", "recalibrate_checkpoint"]


@contextlib.contextmanager
def _deterministic(num_threads):
    """Deterministic torch algorithms and a fixed thread count, restored afterwards."""
    import torch

    was_det = torch.are_deterministic_algorithms_enabled()
    was_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_det)
        torch.set_num_threads(was_threads)


def _epoch_seed(seed, epoch):
    """Return an independent seed per (seed, epoch) so that resuming at an epoch boundary is exact."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def _batches(dataset, batch_size, steps, generator):
    """Yield `steps` batches from reshuffled passes over `dataset` (None = one pass)."""
    from torch.utils.data import DataLoader

    drop_last = len(dataset) > batch_size
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0,
                        generator=generator, drop_last=drop_last)
    if steps is None:
        yield from loader
        return
    done = 0
    while done < steps:
        for batch in loader:
            yield batch
            done += 1
            if done >= steps:
                return


def _recalibrate_batchnorm(model, dataset, batch_size, n_batches, seed):
    """Recompute BatchNorm running statistics as plain averages over `n_batches` batches.

    Uses a forked, seeded torch RNG so that the training random stream is not perturbed.
    """
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or n_batches == 0 or len(dataset) == 0:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        for x, _ in _batches(dataset, batch_size, n_batches, gen):
            model(x)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)


def patch_datasets(config, train_images, val_images):
    """Cut the training and validation patch sets of a run as :func:`train` does.

    Parameters
    ----------
    config : TrainConfig
    train_images, val_images : sequence
        As for :func:`train` (`val_images` may be empty).

    Returns
    -------
    train_ds, val_ds : PatchDataset
        Augmented training patches (``config.augment``) and whole, unaugmented validation
        windows; both capped and sampled as `config` says, seeded by ``config.seed``.
    """
    augment = None
    if config.augment:
        augment = Augment(config.crop, config.xi, config.alpha, flip_p=config.flip_p,
                          scale=config.scale, translate=config.translate, contrast=config.contrast,
                          brightness=config.brightness, gamma=config.gamma,
                          photometric_p=config.photometric_p)
    train_ds = PatchDataset(train_images, config.xi, config.alpha, config.patch, config.stride,
                            augment=augment, negative_fraction=config.negative_fraction,
                            max_patches=config.max_patches, seed=config.seed,
                            normalize=config.normalize)
    val_ds = PatchDataset(val_images, config.xi, config.alpha, config.patch, config.stride,
                          max_patches=config.max_val_patches, seed=config.seed,
                          normalize=config.normalize)
    return train_ds, val_ds


def recalibrate_checkpoint(checkpoint, config, train_images, val_images, n_batches, dest):
    """Recompute a checkpoint's BatchNorm statistics on many training batches; save at `dest`.

    During training (:func:`train`) the statistics are recomputed before each validation on
    ``config.bn_recalibration_batches`` batches: cheap enough for every epoch, but so few that
    the validation score of the same weights moves with the batches drawn (shipped model,
    validation pool: IoU range 0.026 over four seeds of 4 batches, 0.004 with 32 batches). This
    does it once, on `n_batches`, for the weights that are kept.

    Parameters
    ----------
    checkpoint : str or Path
        ``.pt`` of :func:`~hdogreg.regression.save_checkpoint` (e.g. ``TrainResult.best_checkpoint``);
        its settings are carried over (:func:`~hdogreg.training.config.upgrade_settings`).
    config : TrainConfig
        The run's settings (patches, batch size, seed, threads).
    train_images, val_images : sequence
        The run's images (:func:`patch_datasets`).
    n_batches : int
        Training batches averaged (> 0).
    dest : str or Path
        Output ``.pt``; its JSON holds the checkpoint's settings plus
        ``bn_recalibration = {"batches", "val_iou_before", "val_iou_after"}``.

    Returns
    -------
    dest : Path
    before, after : float
        Validation IoU per patch of the checkpoint as saved and after recalibration (NaN
        without validation images).
    """
    import torch

    if int(n_batches) < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    dest = Path(dest)
    model, settings = load_checkpoint(checkpoint)
    settings = upgrade_settings(settings)
    with _deterministic(config.num_threads):
        train_ds, val_ds = patch_datasets(config, train_images, val_images)
        torch.manual_seed(config.seed)
        before = _validate(model, val_ds, config)[1]
        _recalibrate_batchnorm(model, train_ds, config.batch_size, int(n_batches), config.seed)
        after = _validate(model, val_ds, config)[1]
    model.eval()
    save_checkpoint(dest, model, {**settings, "bn_recalibration": {
        "batches": int(n_batches), "val_iou_before": before, "val_iou_after": after}})
    return dest, before, after


def _validate(model, dataset, config):
    """Mean soft Dice loss and mean IoU per patch over the validation patches."""
    import torch
    from torch.utils.data import DataLoader

    if len(dataset) == 0:
        return float("nan"), float("nan")
    model.eval()
    losses, ious, sizes = [], [], []
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=0):
            p = model(x)
            losses.append(float(soft_dice_loss(p, y, config.loss_eps, reduction=config.loss_reduction)))
            sizes.append(len(x))
            ious.append(iou_per_patch(p, y, config.val_p_thr))
    model.train()
    return float(np.average(losses, weights=sizes)), float(np.concatenate(ious).mean())


_HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_iou", "steps", "seconds", "lr"]


def _history_frame(rows):
    return pd.DataFrame(rows, columns=_HISTORY_COLUMNS)


def _write_json(path, obj):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _same_run(a, b):
    """Return True if the settings differ at most in ``epochs`` (which a resumed run may extend).

    Under ``lr_schedule="cosine"`` the rate of every step depends on ``epochs``, so there the
    epochs must match too. A run written before ``normalize`` (``lr_schedule``) existed counts
    as ``normalize="none"`` (``"constant"``), and a setting saved under its old name
    (:data:`~hdogreg.training.config.RENAMED_SETTINGS`) as the new one. The starting
    checkpoint of a fine-tuning run is compared by its settings and data hashes, not by
    ``init_checkpoint`` (its folder and file name; once an absolute path).
    """
    def strip(s):
        s = {"normalize": "none", "lr_schedule": "constant", **upgrade_settings(s)}
        free = ("init_checkpoint",) if s["lr_schedule"] != "constant" else ("epochs", "init_checkpoint")
        return {k: v for k, v in s.items() if k not in free}

    return strip(a) == strip(b)


def train(config, train_images, val_images, out_dir, *, resume=True, progress=True, _init=None):
    """Train the regression FPN on proximity targets, keeping the best epoch by validation IoU.

    Parameters
    ----------
    config : TrainConfig
        Every setting; the paper's is ``TrainConfig.paper()``.
    train_images, val_images : sequence
        Mammogram-like objects (``.image`` float32 in [0, 1], ``.mc_mask()``). Training patches
        are augmented crops; validation patches are whole ``config.patch`` windows, unaugmented.
        Without validation images (``None`` or empty) the epoch with the lowest training loss
        is kept.
    out_dir : str or Path
        Receives ``best.pt``/``best.json`` (the best epoch, :func:`save_checkpoint` format),
        ``last.pt``/``last.json`` (model + optimiser state and history, for resuming) and
        ``history.csv``.
    resume : bool, optional
        Continue from ``out_dir/last.pt`` if it exists and was written with the same settings
        and data (the number of epochs may grow). Resuming at an epoch boundary gives the same
        weights as an uninterrupted run. ``resume=False`` starts afresh.
    progress : bool, optional
        A tqdm bar per epoch showing the running loss and, at its end, the validation IoU.

    Returns
    -------
    TrainResult

    Notes
    -----
    Deterministic on the CPU: the model is initialised after ``torch.manual_seed(seed)``; each
    epoch reseeds torch (dropout, augmentation) and the shuffling generator from
    ``(seed, epoch)``; ``torch.use_deterministic_algorithms(True)`` and ``num_threads`` are set
    for the duration of the call and restored afterwards; data loading is in-process.
    """
    import torch
    from tqdm import tqdm

    out_dir = Path(out_dir)
    val_images = [] if val_images is None else val_images
    train_hash, val_hash = data_hash(train_images), data_hash(val_images)
    settings = config.to_dict()
    settings.update(train_data_hash=train_hash, val_data_hash=val_hash,
                    data_hash=hashlib.sha256((train_hash + val_hash).encode()).hexdigest())
    if _init is not None:
        init = Path(_init["path"])   # by folder and name: checkpoint JSONs hold no absolute paths
        settings.update(init_checkpoint=f"{init.parent.name}/{init.name}",
                        init_data_hash=_init["settings"].get("data_hash"),
                        init_settings_hash=_init["settings_hash"])

    with _deterministic(config.num_threads):
        train_ds, val_ds = patch_datasets(config, train_images, val_images)
        if len(train_ds) == 0:
            raise ValueError("no training patches: no image holds an annotated MC")
        settings.update(n_train_patches=len(train_ds), n_val_patches=len(val_ds))

        torch.manual_seed(config.seed)
        if _init is not None:
            model = build_model(pretrained=False, **model_settings(config.to_dict()))
            model.load_state_dict(_init["state"], strict=True)
        else:
            model = build_model(pretrained=config.pretrained, weights_path=config.weights_path,
                                **model_settings(config.to_dict()))
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps)

        last_pt, last_json = out_dir / "last.pt", out_dir / "last.json"
        best_pt = out_dir / "best.pt"
        history, start, best_iou = [], 0, -np.inf
        if resume and last_pt.is_file() and last_json.is_file():
            state = json.loads(last_json.read_text())
            if not _same_run(state["settings"], settings):
                raise ValueError(f"{last_json}: written by a run with other settings or data; "
                                 "use another out_dir or resume=False")
            ckpt = torch.load(last_pt, map_location="cpu", weights_only=True)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            history, start = state["history"], int(ckpt["epoch"])
            best_iou = state["best_val_iou"] if state["best_val_iou"] is not None else -np.inf

        for epoch in range(start, config.epochs):
            t0 = time.perf_counter()
            seed = _epoch_seed(config.seed, epoch)
            torch.manual_seed(seed)
            gen = torch.Generator().manual_seed(seed)
            steps = config.steps_per_epoch
            total = steps if steps is not None else len(train_ds) // config.batch_size or 1
            bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress or None,
                       leave=True)
            loss_sum, n = 0.0, 0
            for x, y in _batches(train_ds, config.batch_size, steps, gen):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(config, min(epoch * total + n, config.epochs * total - 1),
                                                config.epochs * total)
                optimizer.zero_grad(set_to_none=True)
                loss = soft_dice_loss(model(x), y, config.loss_eps, reduction=config.loss_reduction)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach())
                n += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / n:.4f}")
            _recalibrate_batchnorm(model, train_ds, config.batch_size, config.bn_recalibration_batches,
                                   seed + 1)
            val_loss, val_iou = _validate(model, val_ds, config)
            bar.set_postfix(loss=f"{loss_sum / n:.4f}", val_iou=f"{val_iou:.4f}")
            bar.close()
            row = dict(epoch=epoch + 1, train_loss=loss_sum / n, val_loss=val_loss, val_iou=val_iou, steps=n,
                       seconds=time.perf_counter() - t0, lr=optimizer.param_groups[0]["lr"])
            history.append(row)
            score = val_iou if np.isfinite(val_iou) else -row["train_loss"]  # no validation: lowest loss
            if score > best_iou or not best_pt.is_file():
                best_iou = score
                save_checkpoint(best_pt, model, {**settings, "epoch": epoch + 1, "metrics": row})
            torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "epoch": epoch + 1}, last_pt)
            _write_json(last_json, {"settings": settings, "history": history, "epoch": epoch + 1,
                                    "best_val_iou": float(best_iou), "finished": epoch + 1 >= config.epochs})
            with atomic_path(out_dir / "history.csv") as tmp:
                _history_frame(history).to_csv(tmp, index=False)

    best_settings = json.loads(best_pt.with_suffix(".json").read_text())
    return TrainResult(_history_frame(history), best_pt, out_dir, best_settings)


def fine_tune(checkpoint, config, images, val_images, out_dir, *, resume=True, progress=True):
    """Continue training a checkpoint on a second data source (the paper's local-data step).

    Parameters
    ----------
    checkpoint : str or Path
        A :func:`save_checkpoint` file (e.g. ``TrainResult.best_checkpoint``).
    config : TrainConfig
        Settings of the new run (the paper: another 40 epochs); its model settings
        (``encoder``, ``decoder_dropout``, ``decoder_channels``) are taken from the checkpoint
        and a fresh Adam is used.
    images : sequence
        Training images of the new run; the paper combined INbreast and local patches, i.e.
        pass ``list(inbreast_train) + list(local_train)``.
    val_images : sequence
        Validation images for choosing the best epoch.
    out_dir : str or Path
        As in :func:`train`; the settings record ``init_checkpoint`` (``"<folder>/<file>"``,
        not an absolute path), its data hash and its settings hash.

    Returns
    -------
    TrainResult
    """
    import torch

    checkpoint = Path(checkpoint)
    _, ck_settings = load_checkpoint(checkpoint)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    config = config.replace(**model_settings(ck_settings), pretrained=False, weights_path=None)
    settings_hash = hashlib.sha256(json.dumps(ck_settings, sort_keys=True).encode()).hexdigest()
    init = {"path": checkpoint, "settings": ck_settings, "state": state, "settings_hash": settings_hash}
    return train(config, images, val_images, out_dir, resume=resume, progress=progress, _init=init)


def train_or_load(config, train_images, val_images, cache_dir="build/models", *, progress=True):
    """Train once per (settings, data) and reuse the finished result afterwards.

    Parameters
    ----------
    config : TrainConfig
    train_images, val_images : sequence
        Mammogram-like objects.
    cache_dir : str or Path, optional
        Runs live in ``cache_dir/<hash>/`` where ``<hash>`` (16 hex digits) is
        :func:`config_hash` of the settings and the data hashes. An interrupted run resumes.
    progress : bool, optional

    Returns
    -------
    TrainResult
        Of the finished run (``result.load()`` gives the model).
    """
    key = config_hash(config, data_hash(train_images), data_hash(val_images))[:16]
    out_dir = Path(cache_dir) / key
    last_json, best_pt = out_dir / "last.json", out_dir / "best.pt"
    if last_json.is_file() and best_pt.is_file() and best_pt.with_suffix(".json").is_file():
        state = json.loads(last_json.read_text())
        if state.get("finished"):
            settings = json.loads(best_pt.with_suffix(".json").read_text())
            return TrainResult(_history_frame(state["history"]), best_pt, out_dir, settings)
    return train(config, train_images, val_images, out_dir, resume=True, progress=progress)
