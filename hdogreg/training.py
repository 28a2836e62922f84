"""Training the proximity regression FPN: patches, augmentation, soft Dice (Eq. 10), the loop.

The paper trains the FPN of :mod:`hdogreg.regression` on 512-pixel patches (stride 480) that
contain annotated MCs, augmented (horizontal flip, magnification, translation, random crop to
320, contrast, brightness, gamma), against proximity-map targets (Eq. 7-9, :mod:`hdogreg.proximity`)
with the soft Dice loss of Eq. 10, Adam (lr 1e-4, betas 0.9/0.999, eps 1e-8), batch 8, 40 epochs,
keeping the epoch with the best validation IoU per patch; it then fine-tunes for another 40
epochs on INbreast + local patches. :meth:`TrainConfig.paper` is that configuration;
:class:`TrainConfig` defaults are a small CPU budget for the book.

Images enter at full bit depth as float32 in [0, 1]; nothing is quantised to 8 bits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from ._utils import atomic_path, check_image, default_rng
from .proximity import proximity_function
from .regression import (
    DEFAULT_DECODER_CHANNELS,
    DEFAULT_ENCODER,
    ENCODERS,
    OUTPUT_STRIDE,
    PAPER_DECODER_CHANNELS,
    _check_decoder_channels,
    build_model,
    load_checkpoint,
    model_settings,
    save_checkpoint,
)

__all__ = [
    "soft_dice_loss",
    "iou_per_patch",
    "Patches",
    "extract_patches",
    "Augment",
    "PatchDataset",
    "TrainConfig",
    "TrainResult",
    "data_hash",
    "config_hash",
    "train",
    "fine_tune",
    "train_or_load",
]

#: Default validation threshold: the edge of the proximity support used by the authors'
#: pipeline (10**-3.5), so that a perfect regressor scores IoU ~1 against ``target > 0``.
P_THR_VALIDATION = 10**-3.5


# --------------------------------------------------------------------------- loss and metric


def soft_dice_loss(pred, target, eps=1.0, *, reduction="batch"):
    r"""Soft Dice loss between predicted and target proximity maps (Eq. 10).

    Parameters
    ----------
    pred, target : torch.Tensor
        Same shape ``(N, ...)``, values in [0, 1] (``pred`` after the sigmoid).
    eps : float, optional
        Smoothing term :math:`\epsilon` of Eq. 10 (the paper: 1).
    reduction : {"batch", "sample"}, optional
        ``"batch"`` (default): the sums of Eq. 10 run over every pixel of every patch in the
        batch, giving one ratio per batch. This is what the authors' code computed
        (``smp.utils.losses.DiceLoss``, eps 1). ``"sample"``: Eq. 10 per patch, then the mean.

    Returns
    -------
    loss : torch.Tensor
        Scalar in [0, 1).

    Notes
    -----
    .. math::

        L_{DICE}(\hat P, P) = 1 - \frac{2 \sum_{x,y} P(x,y) \hat P(x,y) + \epsilon}
                               {\sum_{x,y} (P(x,y) + \hat P(x,y)) + \epsilon}

    A perfect prediction of a non-empty target gives a loss near 0 (exactly 0 for binary
    targets); disjoint supports give ``1 - eps / (sum + eps)``, near 1. With ``eps = 1`` an empty
    target predicted as all zeros gives 0.

    References
    ----------
    .. [1] Marasinou C. et al. (2023), Eq. 10.
    .. [2] Milletari F., Navab N., Ahmadi S.-A. (2016), "V-Net", 3DV.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[1.0, 0.0]]); t = torch.tensor([[1.0, 0.0]])
    >>> float(soft_dice_loss(p, t))        # 1 - (2 + 1) / (2 + 1)
    0.0
    >>> round(float(soft_dice_loss(p, 1 - t)), 4)   # 1 - 1 / (2 + 1)
    0.6667
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    target = target.to(pred.dtype)
    if reduction == "batch":
        inter = (pred * target).sum()
        total = (pred + target).sum()
        return 1.0 - (2.0 * inter + eps) / (total + eps)
    if reduction == "sample":
        dims = tuple(range(1, pred.ndim))
        inter = (pred * target).sum(dim=dims)
        total = (pred + target).sum(dim=dims)
        return (1.0 - (2.0 * inter + eps) / (total + eps)).mean()
    raise ValueError(f"reduction must be 'batch' or 'sample', got {reduction!r}")


def iou_per_patch(pred, target, p_thr=P_THR_VALIDATION):
    """IoU per patch of the thresholded prediction against the proximity support.

    Parameters
    ----------
    pred, target : torch.Tensor or ndarray
        ``(N, ...)`` predicted and target proximity maps.
    p_thr : float, optional
        The prediction is binarised as ``pred >= p_thr``; the reference is ``target > 0`` (the
        region within ``xi`` of an annotated MC).

    Returns
    -------
    iou : ndarray of float64, shape (N,)
        ``|A & B| / |A | B|`` per patch; 1 when both are empty.

    Notes
    -----
    This is the model-selection metric ("average IoU per patch", the paper's Training section).
    The authors' code thresholded the prediction at 0.5 against the continuous target; with the
    support ``target > 0`` as reference a perfect regressor only scores ~1 for a threshold at
    the support's edge, hence the default ``p_thr = 10**-3.5`` (their fusion threshold).
    """
    pred = np.asarray(pred.detach().cpu() if hasattr(pred, "detach") else pred)
    target = np.asarray(target.detach().cpu() if hasattr(target, "detach") else target)
    n = pred.shape[0]
    a = (pred >= p_thr).reshape(n, -1)
    b = (target > 0).reshape(n, -1)
    inter = (a & b).sum(axis=1)
    union = (a | b).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


# --------------------------------------------------------------------------- patches


@dataclass
class Patches:
    """Patches of an image and a per-pixel map (see :func:`extract_patches`).

    Attributes
    ----------
    image, target : ndarray of float32, shape (n, size, size)
    origin : ndarray of int64, shape (n, 2)
        Top-left (row, col) of each patch in the (padded) image.
    positive : ndarray of bool, shape (n,)
        Whether the patch contains an MC.
    """

    image: np.ndarray
    target: np.ndarray
    origin: np.ndarray
    positive: np.ndarray

    def __len__(self):
        return len(self.origin)


def _starts(length, size, stride):
    """Window starts 0, stride, 2 stride, ... plus a last window flush with the end."""
    last = max(length - size, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def extract_patches(image, target, size=512, stride=480, *, mask=None, only_positive=True,
                    negative_fraction=0.0, rng=None, target_fill=0.0):
    """Cut an image and its target map into overlapping square patches (sliding window).

    Parameters
    ----------
    image : (H, W) array_like
        The mammogram, float in [0, 1].
    target : (H, W) array_like
        A per-pixel map cut at the same places (e.g. the proximity map).
    size : int, optional
        Patch side (the paper: 512).
    stride : int, optional
        Step between windows (the paper: 480, i.e. 32 px overlap). Along each axis the windows
        start at 0, stride, 2 stride, ... and a last window is added flush with the image end
        if the grid does not reach it.
    mask : (H, W) array_like of bool, optional
        Where the MCs are; a patch is *positive* if it holds a mask pixel. Default ``target > 0``.
    only_positive : bool, optional
        Keep only positive patches (the paper), plus ``negative_fraction``; if False keep all.
    negative_fraction : float, optional
        With ``only_positive``, also keep ``round(negative_fraction * n_positive)`` negative
        patches drawn at random (all if fewer exist).
    rng : int or numpy.random.Generator, optional
        Seed for drawing the negatives.
    target_fill : float, optional
        Fill of `target` where the image is padded (image and mask are padded with 0).

    Returns
    -------
    patches : Patches
        In raster order of their origins. Images smaller than `size` are padded at the
        bottom/right to `size` (one window along that axis).

    Examples
    --------
    >>> img = np.zeros((100, 1000), np.float32); tgt = np.zeros_like(img); tgt[10, 30] = 1
    >>> extract_patches(img, tgt, size=512, stride=480, only_positive=False).origin.tolist()
    [[0, 0], [0, 480], [0, 488]]
    >>> p = extract_patches(img, tgt, size=512, stride=480)
    >>> p.image.shape, p.origin.tolist()
    ((1, 512, 512), [[0, 0]])
    """
    image = check_image(image)
    target = np.asarray(target, dtype=np.float32)
    if target.shape != image.shape:
        raise ValueError(f"target shape {target.shape} differs from image shape {image.shape}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    if negative_fraction < 0:
        raise ValueError(f"negative_fraction must be >= 0, got {negative_fraction}")
    size, stride = int(size), int(stride)
    mask = (target > 0) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != image.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {image.shape}")
    h, w = image.shape
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph or pw:
        image = np.pad(image, ((0, ph), (0, pw)))
        target = np.pad(target, ((0, ph), (0, pw)), constant_values=target_fill)
        mask = np.pad(mask, ((0, ph), (0, pw)))
    rows, cols = _starts(image.shape[0], size, stride), _starts(image.shape[1], size, stride)
    origin = np.array([(r, c) for r in rows for c in cols], dtype=np.int64)
    # positive iff the window holds a mask pixel: count with an integral image
    ii = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    r0, c0 = origin[:, 0], origin[:, 1]
    count = ii[r0 + size, c0 + size] - ii[r0, c0 + size] - ii[r0 + size, c0] + ii[r0, c0]
    positive = count > 0
    if only_positive:
        keep = positive.copy()
        negatives = np.flatnonzero(~positive)
        n_neg = min(int(round(negative_fraction * positive.sum())), negatives.size)
        if n_neg:
            keep[default_rng(rng).choice(negatives, n_neg, replace=False)] = True
    else:
        keep = np.ones(len(origin), bool)
    origin, positive = origin[keep], positive[keep]
    if len(origin):
        img = np.stack([image[r:r + size, c:c + size] for r, c in origin])
        tgt = np.stack([target[r:r + size, c:c + size] for r, c in origin])
    else:
        img = np.zeros((0, size, size), np.float32)
        tgt = np.zeros((0, size, size), np.float32)
    return Patches(img.astype(np.float32, copy=False), tgt.astype(np.float32, copy=False), origin, positive)


# --------------------------------------------------------------------------- augmentation


class _RandomGamma:
    """Gamma correction ``x ** gamma`` with gamma uniform in `gamma` (torch RNG)."""

    def __init__(self, gamma=(0.8, 1.2)):
        self.gamma = tuple(gamma)

    def __call__(self, x):
        import torch
        from torchvision.transforms.v2 import functional as TF

        g = float(torch.empty(1).uniform_(*self.gamma))
        return TF.adjust_gamma(x, g)


class Augment:
    """Training augmentation of an (image, distance) patch pair with torchvision.transforms.v2.

    Geometric transforms (horizontal flip, magnification and translation as one affine map,
    random crop) are applied with the same parameters to the image and to the distance map of
    the MCs; the target is then the proximity function (Eq. 8) of the transformed distance
    times the magnification, so that ``xi`` stays in output pixels (the authors computed the
    proximity map after augmenting the mask) while single-pixel annotations survive any
    zoom. Photometric transforms (one of contrast, brightness or gamma, with probability
    ``photometric_p``, as the authors' ``OneOf``) act on the image only.

    Parameters
    ----------
    crop : int
        Output side (the paper: 320).
    xi, alpha : float
        Proximity parameters (Eq. 8).
    flip_p : float
        Probability of a horizontal flip.
    scale : (float, float)
        Range of the magnification factor (authors: 0.5-1.5).
    translate : float
        Largest shift as a fraction of the patch side, in each direction (authors: 0.1).
    contrast, brightness : float
        Strengths for :class:`torchvision.transforms.v2.ColorJitter`.
    gamma : (float, float)
        Range of the gamma exponent (authors' albumentations default: 0.8-1.2).
    photometric_p : float
        Probability of applying one photometric transform.

    Notes
    -----
    All randomness comes from torch's global generator, seeded by the training loop.
    """

    def __init__(self, crop, xi, alpha, *, flip_p=0.5, scale=(0.5, 1.5), translate=0.1,
                 contrast=0.3, brightness=0.2, gamma=(0.8, 1.2), photometric_p=0.9):
        from torchvision.transforms import v2

        self.crop, self.xi, self.alpha = int(crop), float(xi), float(alpha)
        self.flip_p, self.scale, self.translate = float(flip_p), tuple(scale), float(translate)
        self.photometric = v2.RandomApply(
            [v2.RandomChoice([
                v2.ColorJitter(contrast=contrast),
                v2.ColorJitter(brightness=brightness),
                _RandomGamma(gamma),
            ])],
            p=photometric_p,
        )

    def __call__(self, image, distance, distance_fill):
        """Augment ``(1, H, W)`` image and distance tensors -> ``(1, crop, crop)`` image, target."""
        import torch
        import torch.nn.functional as F
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as TF

        h, w = image.shape[-2:]
        if float(torch.rand(1)) < self.flip_p:
            image, distance = TF.horizontal_flip(image), TF.horizontal_flip(distance)
        s = float(torch.empty(1).uniform_(*self.scale))
        tx = round(float(torch.empty(1).uniform_(-self.translate, self.translate)) * w)
        ty = round(float(torch.empty(1).uniform_(-self.translate, self.translate)) * h)
        kw = dict(angle=0.0, translate=[tx, ty], scale=s, shear=[0.0, 0.0],
                  interpolation=InterpolationMode.BILINEAR)
        image = TF.affine(image, fill=[0.0], **kw)
        distance = TF.affine(distance, fill=[float(distance_fill)], **kw) * s
        c = self.crop
        ph, pw = max(c - h, 0), max(c - w, 0)
        if ph or pw:
            image = F.pad(image, (0, pw, 0, ph), value=0.0)
            distance = F.pad(distance, (0, pw, 0, ph), value=float(distance_fill) * s)
        H, W = image.shape[-2:]
        top = int(torch.randint(0, H - c + 1, (1,)))
        left = int(torch.randint(0, W - c + 1, (1,)))
        image = image[..., top:top + c, left:left + c]
        distance = distance[..., top:top + c, left:left + c]
        image = self.photometric(image).clamp(0.0, 1.0)
        target = torch.from_numpy(proximity_function(distance.clamp_min(0).numpy(), self.xi, self.alpha))
        return image.contiguous(), target


# --------------------------------------------------------------------------- dataset


class PatchDataset:
    """Torch dataset of (image patch, proximity target patch) pairs from annotated mammograms.

    Parameters
    ----------
    images : sequence
        Objects with ``.image`` (float32 in [0, 1]) and ``.mc_mask()`` (bool), e.g.
        :class:`hdogreg.data.Mammogram`.
    xi, alpha : float
        Proximity parameters (Eq. 7-9).
    patch, stride : int
        Sliding-window patch side and step (the paper: 512, 480).
    augment : Augment or None
        Training augmentation (output ``augment.crop`` square); None returns whole patches
        with the target ``proximity_map(mask, xi, alpha)`` cut at the patch.
    only_positive, negative_fraction : see :func:`extract_patches`.
    normalize : {"none", "noise"}, optional
        Intensity standardisation (:func:`hdogreg.standardize.standardize`) applied to each
        whole image before its patches are cut - as :func:`hdogreg.pipeline.segment_mammogram`
        applies it before inference (default ``"noise"``). ``"none"``: the raw scale.
    max_patches : int, optional
        Keep at most this many patches, drawn at random (seeded) - a CPU budget.
    seed : int
        Seed for negatives and the ``max_patches`` draw.

    Notes
    -----
    Per image the Euclidean distance to the nearest annotated pixel is computed once (the
    quantity ``proximity_map`` is built from) and cut into patches with the image; the target is
    ``proximity_function(distance)``, which equals ``proximity_map(mask)`` without augmentation.
    Items are ``(image, target)`` float32 tensors of shape ``(1, s, s)``.
    """

    def __init__(self, images, xi, alpha, patch=512, stride=480, *, augment=None, only_positive=True,
                 negative_fraction=0.0, max_patches=None, seed=0, normalize="noise"):
        from hdogreg.standardize import check_method, standardize

        if not np.isfinite(xi) or xi <= 0:
            raise ValueError(f"xi must be > 0, got {xi}")
        check_method(normalize, "normalize")
        self.xi, self.alpha, self.augment = float(xi), float(alpha), augment
        scale_min = min(augment.scale) if augment is not None else 1.0
        # distances beyond this give proximity 0 even after the largest zoom-out
        self.distance_fill = float(np.ceil(self.xi / scale_min + 2.0))
        rng = default_rng(seed)
        img_list, dist_list, src = [], [], []
        for i, m in enumerate(images):
            image = check_image(m.image, name=str(getattr(m, "file_id", f"image {i}")))
            if normalize != "none":
                image = standardize(image, method=normalize)
            mask = np.asarray(m.mc_mask(), dtype=bool)
            if mask.shape != image.shape:
                raise ValueError(f"{getattr(m, 'file_id', i)}: mask shape {mask.shape} "
                                 f"!= image shape {image.shape}")
            if mask.any():
                dist = ndi.distance_transform_edt(~mask).astype(np.float32)
                np.minimum(dist, self.distance_fill, out=dist)
            else:
                dist = np.full(image.shape, self.distance_fill, np.float32)
            p = extract_patches(image, dist, patch, stride, mask=mask, only_positive=only_positive,
                                negative_fraction=negative_fraction, rng=rng, target_fill=self.distance_fill)
            img_list.append(p.image)
            dist_list.append(p.target)
            src += [(i, int(r), int(c)) for r, c in p.origin]
        self.image = np.concatenate(img_list) if img_list else np.zeros((0, patch, patch), np.float32)
        self.distance = np.concatenate(dist_list) if dist_list else np.zeros((0, patch, patch), np.float32)
        self.source = pd.DataFrame(src, columns=["image_index", "row", "col"])
        if max_patches is not None and len(self.image) > max_patches:
            keep = np.sort(rng.choice(len(self.image), int(max_patches), replace=False))
            self.image, self.distance = self.image[keep], self.distance[keep]
            self.source = self.source.iloc[keep].reset_index(drop=True)

    def __len__(self):
        return len(self.image)

    def __getitem__(self, i):
        import torch

        image = torch.from_numpy(self.image[i][None].copy())
        distance = torch.from_numpy(self.distance[i][None].copy())
        if self.augment is None:
            target = torch.from_numpy(proximity_function(distance.numpy(), self.xi, self.alpha))
            return image, target
        return self.augment(image, distance, self.distance_fill)


# --------------------------------------------------------------------------- configuration


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
    loss_eps, loss_reduction
        Soft Dice (Eq. 10) smoothing (1) and reduction (see :func:`soft_dice_loss`).
    patch, stride, crop, negative_fraction
        Patches (paper: 512, 480, 320, 0).
    flip_p, scale, translate, contrast, brightness, gamma, photometric_p
        Augmentation (:class:`Augment`); ``augment=False`` turns it off (then no crop).
    p_thr
        Threshold of the validation IoU per patch (:func:`iou_per_patch`).
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
    p_thr: float = P_THR_VALIDATION
    bn_recalibration_batches: int = 4
    normalize: str = "noise"
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
        if not self.xi > 0:
            raise ValueError(f"xi must be > 0, got {self.xi}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
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
        One row per epoch: epoch, train_loss, val_loss, val_iou, steps, seconds.
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


def config_hash(config, *hashes):
    """SHA-256 of a config's settings (``epochs`` included) and the given data hashes.

    ``normalize="none"`` is left out, so that runs cached before the option existed keep their
    hash.
    """
    settings = config.to_dict()
    if settings.get("normalize") == "none":
        del settings["normalize"]
    text = json.dumps({"config": settings, "data": list(hashes)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- training loop


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
            ious.append(iou_per_patch(p, y, config.p_thr))
    model.train()
    return float(np.average(losses, weights=sizes)), float(np.concatenate(ious).mean())


_HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_iou", "steps", "seconds"]


def _history_frame(rows):
    return pd.DataFrame(rows, columns=_HISTORY_COLUMNS)


def _write_json(path, obj):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _same_run(a, b):
    """Return True if the settings differ at most in ``epochs`` (which a resumed run may extend).

    A run written before ``normalize`` existed counts as ``normalize="none"``.
    """
    strip = lambda s: {"normalize": "none", **{k: v for k, v in s.items() if k not in ("epochs",)}}  # noqa: E731
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
        settings.update(init_checkpoint=str(_init["path"]), init_data_hash=_init["settings"].get("data_hash"),
                        init_settings_hash=_init["settings_hash"])

    with _deterministic(config.num_threads):
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
                       seconds=time.perf_counter() - t0)
            history.append(row)
            score = val_iou if np.isfinite(val_iou) else -row["train_loss"]  # no validation: lowest loss
            if score > best_iou or not best_pt.is_file():
                best_iou = score
                save_checkpoint(best_pt, model, {**settings, "epoch": epoch + 1, "metrics": row})
            with atomic_path(last_pt) as tmp:
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "epoch": epoch + 1}, tmp)
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
        As in :func:`train`; the settings record ``init_checkpoint`` and its data hash.

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
