"""Training patches: extraction around annotated MCs, augmentation, the patch dataset.

:func:`extract_patches` cuts the paper's 512-pixel patches (stride 480) that contain annotated
MCs, with their proximity-map targets (:mod:`hdogreg.proximity`); :class:`Augment` is the
paper's augmentation (horizontal flip, magnification, translation, random crop, contrast,
brightness, gamma); :class:`PatchDataset` serves augmented crops to the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from .._utils import check_image, default_rng
from .._validation import check_xi
from ..proximity import proximity_function
from ..standardize import DEFAULT_METHOD

__all__ = ["Patches", "extract_patches", "Augment", "PatchDataset"]


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
                 negative_fraction=0.0, max_patches=None, seed=0, normalize=DEFAULT_METHOD):
        from hdogreg.standardize import check_method, standardize

        check_xi(xi)
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
                image = standardize(image, method=normalize,
                                    source_spacing=getattr(m, "source_spacing", None))
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
