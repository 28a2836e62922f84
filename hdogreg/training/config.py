"""Training settings (:class:`TrainConfig`), the result of a run, and the hashes that key the model cache."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import check_xi
from ..fusion import DEFAULT_P_THR
from ..regression import (
    DEFAULT_DECODER_CHANNELS,
    DEFAULT_ENCODER,
    ENCODERS,
    OUTPUT_STRIDE,
    PAPER_DECODER_CHANNELS,
    _check_decoder_channels,
    load_checkpoint,
)
from ..standardize import DEFAULT_METHOD

__all__ = ["LR_SCHEDULES", "RENAMED_SETTINGS", "TrainConfig", "TrainResult", "learning_rate", "data_hash",
           "config_hash", "upgrade_settings"]

#: Names accepted by ``TrainConfig.lr_schedule`` (:func:`learning_rate`).
LR_SCHEDULES = ("constant", "cosine")

#: Settings left out of :func:`config_hash` when they hold these values: the behaviour of runs
#: cached before the setting existed.
_OPTION_DEFAULTS = {"normalize": "none", "lr_schedule": "constant"}

#: Settings renamed since runs were first cached: new name -> the name hashed and once saved.
RENAMED_SETTINGS = {"val_p_thr": "p_thr"}


@dataclass
class TrainConfig:
    """Every setting of a training run (saved with each checkpoint).

    The defaults are a CPU budget for the book (2 cores, ~3 min per model): 16 epochs of 10
    steps at a learning rate of 1e-3 with the half-width decoder. The paper's rate, 1e-4, suits
    its 40 full epochs (thousands of steps); after the 120 steps measured here it left the
    validation IoU per patch at 0.06 against 0.43 with 1e-3 (synthetic benchmark, same seed).
    The paper's settings are :meth:`paper`. ``patch`` and ``crop`` must be multiples of 32.

    Attributes
    ----------
    encoder, pretrained, weights_path, decoder_dropout, decoder_channels
        Model (:func:`hdogreg.regression.build_model`; paper: inceptionv4, ImageNet, 0.2,
        (256, 128)).
    xi, alpha
        Proximity target (Eq. 8); the paper's best: 10, 1.
    epochs, batch_size, lr, betas, eps
        Adam and schedule (paper: 40, 8, 1e-4, (0.9, 0.999), 1e-8).
    lr_schedule
        ``"constant"`` (the paper's: ``lr`` throughout) or ``"cosine"``: ``lr`` decayed along
        a half cosine to 0 over all ``epochs * steps`` optimiser steps (:func:`learning_rate`),
        so that the last epochs take small steps and the validation score settles.
    loss_eps, loss_reduction
        Soft Dice (Eq. 10) smoothing (1) and reduction (see :func:`soft_dice_loss`).
    patch, stride, crop, negative_fraction
        Patches (paper: 512, 480, 320, 0).
    flip_p, scale, translate, contrast, brightness, gamma, photometric_p
        Augmentation (:class:`Augment`); ``augment=False`` turns it off (then no crop).
    val_p_thr
        Threshold of the validation IoU per patch (:func:`iou_per_patch`). Not the operating
        ``p_thr`` of a validated model, which its JSON records under that name (so a checkpoint
        holds both); cache keys hash it under its old name ``p_thr``.
    bn_recalibration_batches
        Before each validation, recompute the BatchNorm statistics as exact averages over this
        many training batches (0 = keep the running averages). Short CPU runs need it: after
        ``n`` steps the running variance still holds ``0.9**n`` of its initial value 1, far
        above the variance of low-contrast mammogram patches, and the model in evaluation mode
        then outputs ~0 everywhere. It changes only BatchNorm buffers, not the training path.
    normalize
        Intensity standardisation of every training and validation image, applied to the whole
        image before patches are cut (:class:`PatchDataset`): ``"noise"`` (default,
        :func:`hdogreg.standardize.standardize`) or ``"none"`` (the paper's raw scale).
        Recorded in the checkpoint JSON; segment with the same ``SegmentParams.normalize``
        (:func:`hdogreg.pipeline.check_checkpoint_normalize`).
    seed, num_threads
        Determinism (torch threads used during training).
    max_patches, max_val_patches, steps_per_epoch
        CPU budgets: caps on the training / validation patch pools (random, seeded) and on
        optimiser steps per epoch (None = one pass over the training patches).
    """

    encoder: str = DEFAULT_ENCODER
    pretrained: bool = True
    weights_path: str | None = None
    decoder_dropout: float = 0.2
    decoder_channels: tuple = DEFAULT_DECODER_CHANNELS
    xi: float = 10.0
    alpha: float = 1.0
    epochs: int = 16
    batch_size: int = 8
    lr: float = 1e-3
    lr_schedule: str = "constant"
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    loss_eps: float = 1.0
    loss_reduction: str = "batch"
    patch: int = 256
    stride: int = 224
    crop: int = 160
    negative_fraction: float = 0.0
    augment: bool = True
    flip_p: float = 0.5
    scale: tuple = (0.5, 1.5)
    translate: float = 0.1
    contrast: float = 0.3
    brightness: float = 0.2
    gamma: tuple = (0.8, 1.2)
    photometric_p: float = 0.9
    val_p_thr: float = DEFAULT_P_THR
    bn_recalibration_batches: int = 4
    normalize: str = DEFAULT_METHOD
    seed: int = 0
    num_threads: int = 2
    max_patches: int | None = None
    max_val_patches: int | None = 24
    steps_per_epoch: int | None = 10

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        self.scale = tuple(float(s) for s in self.scale)
        self.gamma = tuple(float(g) for g in self.gamma)
        self.decoder_channels = _check_decoder_channels(self.decoder_channels)
        if self.weights_path is not None:
            self.weights_path = str(self.weights_path)
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {sorted(ENCODERS)}, got {self.encoder!r}")
        for name in ("patch", "crop"):
            v = getattr(self, name)
            if int(v) != v or v < OUTPUT_STRIDE or v % OUTPUT_STRIDE:
                raise ValueError(f"{name} must be a positive multiple of {OUTPUT_STRIDE}, got {v}")
        if self.crop > self.patch:
            raise ValueError(f"crop must be <= patch ({self.patch}), got {self.crop}")
        for name in ("stride", "epochs", "batch_size", "num_threads"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        n_bn = self.bn_recalibration_batches
        if int(n_bn) != n_bn or n_bn < 0:
            raise ValueError(f"bn_recalibration_batches must be an integer >= 0, got {n_bn}")
        for name in ("max_patches", "max_val_patches", "steps_per_epoch"):
            v = getattr(self, name)
            if v is not None and (int(v) != v or v < 1):
                raise ValueError(f"{name} must be None or a positive integer, got {v}")
        check_xi(self.xi)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be an increasing pair of positive factors, got {self.scale}")
        from hdogreg.standardize import check_method

        check_method(self.normalize, "normalize")
        if self.loss_reduction not in ("batch", "sample"):
            raise ValueError(f"loss_reduction must be 'batch' or 'sample', got {self.loss_reduction!r}")

    @classmethod
    def paper(cls, weights_path=None, **overrides):
        """Return the paper's configuration: Inception-v4 FPN, 40 epochs, 512/480 patches, crop 320.

        ImageNet weights are used only if a local ``weights_path`` is given (no downloads), else
        the encoder starts from random initialisation.
        """
        settings = dict(encoder="inceptionv4", pretrained=weights_path is not None, weights_path=weights_path,
                        decoder_channels=PAPER_DECODER_CHANNELS, lr=1e-4, epochs=40, batch_size=8, patch=512,
                        stride=480, crop=320, max_patches=None, max_val_patches=None, steps_per_epoch=None,
                        bn_recalibration_batches=0)
        settings.update(overrides)
        return cls(**settings)

    def to_dict(self):
        """Return the settings as a JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        for k in ("betas", "scale", "gamma", "decoder_channels"):
            d[k] = list(d[k])
        return d

    def replace(self, **changes):
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    history : DataFrame
        One row per epoch: epoch, train_loss, val_loss, val_iou, steps, seconds, lr (the rate
        of the epoch's last step).
    best_checkpoint : Path
        ``out_dir/best.pt`` (+ ``.json``), the epoch with the highest validation IoU per patch.
    out_dir : Path
    settings : dict
        Contents of the best checkpoint's JSON.
    """

    history: pd.DataFrame
    best_checkpoint: Path
    out_dir: Path
    settings: dict = field(default_factory=dict)

    @property
    def best_epoch(self):
        """Epoch of the best checkpoint (as recorded in its settings)."""
        return self.settings.get("epoch")

    def load(self):
        """``(model, settings)`` of the best checkpoint (:func:`load_checkpoint`)."""
        return load_checkpoint(self.best_checkpoint)


def learning_rate(config, step, total_steps):
    """Learning rate of optimiser step `step` (0-based) of a run of `total_steps` steps.

    Parameters
    ----------
    config : TrainConfig
        Its ``lr`` and ``lr_schedule``.
    step, total_steps : int
        ``0 <= step < total_steps``.

    Returns
    -------
    lr : float
        ``"constant"``: ``config.lr``. ``"cosine"``: ``config.lr * (1 + cos(pi * step /
        total_steps)) / 2``, from ``lr`` at the first step to nearly 0 at the last (the
        annealing of Loshchilov & Hutter without restarts).

    References
    ----------
    .. [1] I. Loshchilov, F. Hutter, "SGDR: stochastic gradient descent with warm restarts",
       ICLR 2017.

    Examples
    --------
    >>> cfg = TrainConfig(lr=1e-3, lr_schedule="cosine")
    >>> [round(learning_rate(cfg, s, 4), 6) for s in range(4)]
    [0.001, 0.000854, 0.0005, 0.000146]
    """
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps}), got {step}")
    if config.lr_schedule == "constant":
        return float(config.lr)
    return float(config.lr * 0.5 * (1.0 + np.cos(np.pi * step / total_steps)))


# --------------------------------------------------------------------------- hashing


def data_hash(images):
    """Content hash of annotated images: ids, image bytes and MC masks, in order.

    Parameters
    ----------
    images : sequence of Mammogram-like objects

    Returns
    -------
    digest : str
        SHA-256 hex digest.
    """
    h = hashlib.sha256()
    for i, m in enumerate(images):
        image = np.ascontiguousarray(np.asarray(m.image, dtype=np.float32))
        mask = np.asarray(m.mc_mask(), dtype=bool)
        h.update(f"{i}|{getattr(m, 'file_id', '')}|{image.shape}|".encode())
        h.update(image.tobytes())
        h.update(np.packbits(mask).tobytes())
    return h.hexdigest()


def upgrade_settings(settings):
    """Return checkpoint `settings` with renamed training settings under their new names.

    A checkpoint saved before a rename (:data:`RENAMED_SETTINGS`) holds the old name; the
    entry is moved to the new one unless that is present already. Other keys are kept.

    Examples
    --------
    >>> upgrade_settings({"p_thr": 0.1, "xi": 10})
    {'xi': 10, 'val_p_thr': 0.1}
    """
    out = dict(settings)
    for new, old in RENAMED_SETTINGS.items():
        if new not in out and old in out:
            out[new] = out.pop(old)
    return out


def config_hash(config, *hashes):
    """SHA-256 of a config's settings (``epochs`` included) and the given data hashes.

    ``normalize="none"`` and ``lr_schedule="constant"`` are left out, and renamed settings
    are hashed under their old names (:data:`RENAMED_SETTINGS`), so that runs cached before
    these changes keep their hash.
    """
    settings = {RENAMED_SETTINGS.get(k, k): v for k, v in config.to_dict().items()}
    for key, old in _OPTION_DEFAULTS.items():
        if settings.get(key) == old:
            del settings[key]
    text = json.dumps({"config": settings, "data": list(hashes)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
