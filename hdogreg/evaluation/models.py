"""The book's trained models, cached by settings and data, and the splits they train on.

Models are trained once per settings and data under :func:`hdogreg.paths.models_dir`;
:func:`publish_default_model` installs one as the default checkpoint of ``hdogreg segment``
(:func:`hdogreg.store.install_model`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from .._utils import atomic_path
from ..paths import models_dir
from .budgets import BUDGETS, default_train_config, wang_yang_settings

__all__ = ["load_split", "publish_default_model", "default_model", "fine_tuned_model", "wang_yang_model"]


@functools.lru_cache(maxsize=8)
def _load_split_cached(root, split, source):
    from ..data import InbreastDataset, LocalDataset

    if source == "inbreast":
        ds = InbreastDataset(root)
    elif source == "local":
        ds = LocalDataset(Path(root) / "local")
    else:
        raise ValueError(f"source must be 'inbreast' or 'local', got {source!r}")
    return tuple(ds.load(fid) for fid in ds.file_ids(split))


def load_split(data_dir, split, *, source="inbreast"):
    """Images of one split of a data set (loaded once per process).

    Parameters
    ----------
    data_dir : str or Path
        INbreast-format folder with ``splits.csv`` (the synthetic benchmark by default); the
        12-bit "local" set is read from ``data_dir/local``.
    split : {"train", "val", "test"}
    source : {"inbreast", "local"}, optional

    Returns
    -------
    images : list of Mammogram
        In the order of the data set's table.
    """
    images = list(_load_split_cached(str(Path(data_dir).resolve()), split, source))
    if not images:
        raise ValueError(f"{data_dir}: no {source} images in split {split!r}")
    return images


def publish_default_model(checkpoint, dest=None, **settings):
    """Install a checkpoint as ``<models_dir>/default.pt`` (+ ``.json``), the CLI's default.

    `settings` are added to the JSON (e.g. ``p_thr`` chosen on validation). A ``p_thr``
    already recorded for the same checkpoint is kept unless a new one is given.
    """
    from ..store import install_model

    dest = Path(dest) if dest is not None else models_dir() / "default.pt"
    meta = dest.with_suffix(".json")
    if meta.is_file() and "p_thr" not in settings:
        try:
            old = json.loads(meta.read_text())
        except json.JSONDecodeError:
            old = {}
        same = old.get("installed_from") == f"{Path(checkpoint).parent.name}/{Path(checkpoint).name}"
        if same and "p_thr" in old:
            settings["p_thr"] = old["p_thr"]
    return install_model(checkpoint, dest, **settings)


def default_model(data_dir="data/synth", budget="cpu", *, progress=True, publish=True, **overrides):
    """Return the book's regression network: trained once per settings and data, then loaded.

    Every notebook that needs "our model" calls this function, so the model is trained once
    per book build (:func:`hdogreg.training.train_or_load` caches it under
    :func:`hdogreg.paths.models_dir` by a hash of the settings and the data).

    Parameters
    ----------
    data_dir : str or Path, optional
        INbreast-format folder with ``splits.csv``; trains on ``train``, keeps the epoch with
        the best IoU per patch on ``val``.
    budget : {"cpu", "paper"}, optional
        See :func:`default_train_config` (xi = 10, alpha = 1, the paper's choice).
    progress : bool, optional
        Training progress bars.
    publish : bool, optional
        Also install the checkpoint as ``<models_dir>/default.pt`` (``hdogreg segment``).
    **overrides
        :class:`~hdogreg.training.TrainConfig` fields.

    Returns
    -------
    model : torch.nn.Module
        In evaluation mode.
    settings : dict
        The checkpoint's settings (``epoch``, ``metrics``, data hashes, ...).
    checkpoint : Path
        The cached ``best.pt``.
    """
    from ..training.loop import train_or_load

    config = default_train_config(budget, **overrides)
    run = train_or_load(config, load_split(data_dir, "train"), load_split(data_dir, "val"),
                        cache_dir=models_dir(), progress=progress)
    model, settings = run.load()
    if publish:
        publish_default_model(run.best_checkpoint)
    return model, settings, Path(run.best_checkpoint)


def fine_tuned_model(data_dir="data/synth", budget="cpu", *, base_checkpoint=None, progress=True,
                     **overrides):
    """Return the default model fine-tuned on INbreast-like + 12-bit local training images (Fig. 6).

    As in the paper, training continues from the INbreast model on the union of the INbreast
    training images and the local training images; the best epoch is chosen on the INbreast
    validation images. Cached under ``<models_dir>/ft-<hash>/``.

    Parameters
    ----------
    data_dir : str or Path, optional
    budget : {"cpu", "paper"}, optional
        ``"cpu"``: the CPU budget with :data:`BUDGETS` ``["fine_tune"]``; ``"paper"``:
        another 40 epochs.
    base_checkpoint : str or Path, optional
        Starting point; default :func:`default_model` of the same budget.
    **overrides
        :class:`~hdogreg.training.TrainConfig` fields.

    Returns
    -------
    model, settings, checkpoint
        As :func:`default_model`.
    """
    from ..training.config import config_hash, data_hash
    from ..training.loop import fine_tune

    if base_checkpoint is None:
        _, _, base_checkpoint = default_model(data_dir, budget, progress=progress, publish=False)
    base_checkpoint = Path(base_checkpoint)
    base = BUDGETS["fine_tune"] if budget == "cpu" else {}
    config = default_train_config(budget, **{**base, **overrides})
    images = load_split(data_dir, "train") + load_split(data_dir, "train", source="local")
    val = load_split(data_dir, "val")
    digest = hashlib.sha256(base_checkpoint.read_bytes()).hexdigest()
    key = config_hash(config, digest, data_hash(images), data_hash(val))[:16]
    run = fine_tune(base_checkpoint, config, images, val, models_dir() / f"ft-{key}", progress=progress)
    model, settings = run.load()
    return model, settings, Path(run.best_checkpoint)


def wang_yang_model(data_dir="data/synth", budget="cpu", *, progress=True, **overrides):
    """Return the Wang & Yang context network trained on the training split (cached).

    Parameters
    ----------
    data_dir : str or Path, optional
    budget : {"cpu", "paper"}, optional
        See :func:`wang_yang_settings`.
    **overrides
        Keyword arguments of :func:`~hdogreg.baselines.wang_yang.train_wang_yang`.

    Returns
    -------
    model : ContextNet
    info : dict
        The training settings plus ``n_patches``, ``n_positive``, ``steps``, ``seconds`` of
        the run that produced the cached model.
    """
    from ..baselines.wang_yang import load_context_net, save_context_net, train_wang_yang
    from ..training.config import data_hash

    settings = wang_yang_settings(budget, **overrides)
    images = load_split(data_dir, "train")
    text = json.dumps({"settings": settings, "data": data_hash(images)}, sort_keys=True, default=str)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = models_dir() / f"wang_yang-{key}" / "context_net.pt"
    info_path = path.with_name("history.json")
    if path.is_file() and info_path.is_file():
        return load_context_net(path), json.loads(info_path.read_text())
    model, history = train_wang_yang(images, progress=progress, **settings)
    save_context_net(path, model)
    info = {**settings, **{k: v for k, v in history.items() if k != "loss"},
            "final_loss": float(np.mean(history["loss"][-10:])) if history["loss"] else None}
    with atomic_path(info_path) as tmp:
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    return model, info
