"""Context-sensitive MC detector after Wang & Yang (2018), the detection baseline.

Candidates are DoG blobs; each is classified MC / non-MC by a two-branch CNN that sees a small
window around the candidate (local features) and a wide window (the surrounding tissue, the
"context"). The detector outputs the candidates as small disks with the network's MC
probability as score, so that the FROC code of :mod:`hdogreg.metrics` applies unchanged.

Pipeline: :func:`dog_candidates` -> :func:`preprocess` -> :func:`extract_candidate_patches` ->
:class:`ContextNet`; :func:`train_wang_yang` trains the network on a training split,
:func:`wang_yang_detect` runs it on one image, :func:`save_context_net` /
:func:`load_context_net` store it (``state_dict`` + JSON of the settings).

References
----------
.. [1] Wang, J., Yang, Y. "A context-sensitive deep learning approach for microcalcification
       detection in mammograms." Pattern Recognition 78:12-22, 2018.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage.morphology import disk
from torch import nn
from tqdm import tqdm

from .._utils import check_image, default_rng, save_weights
from ..metrics.matching import eligibility_pairs
from ..scale_space import dog_peaks
from ..standardize import DEFAULT_METHOD

__all__ = [
    "dog_candidates",
    "candidate_labels",
    "preprocess",
    "extract_candidate_patches",
    "ContextNet",
    "train_wang_yang",
    "wang_yang_detect",
    "save_context_net",
    "load_context_net",
]

BLOB_RADIUS_FACTOR = np.sqrt(2)   # a DoG blob of scale sigma has radius sqrt(2) * sigma


# ----------------------------------------------------------------------------- candidates


def dog_candidates(image, sigma_min=1.18, sigma_max=3.1, k=1.6, threshold=0.01, *, overlap=0.5,
                   breast_mask=None):
    """Candidate MC locations: peaks of the scale-normalised DoG stack.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram, float in [0, 1].
    sigma_min, sigma_max, k : float, optional
        Scales, as in :func:`hdogreg.scale_space.dog_peaks` (Wang & Yang's DoG, its scales
        adjusted to the 0.07 mm pixels as in the paper: 1.18 to 3.1 px, ratio 1.6).
    threshold : float, optional
        Minimal DoG response on the [0, 1] scale (authors' implementation: 0.01).
    overlap : float, optional
        Blobs overlapping a stronger one by more than this fraction are dropped (0.5, the
        ``skimage.feature.blob_dog`` default; 1 keeps all).
    breast_mask : (H, W) array of bool, optional
        Keep only candidates whose centre lies inside it.

    Returns
    -------
    blobs : (n, 3) ndarray of float
        ``(row, col, sigma)``, strongest first; shape ``(0, 3)`` if none.
    """
    blobs = dog_peaks(image, sigma_min, sigma_max, k, dog_threshold=threshold, overlap=overlap)
    if breast_mask is not None and len(blobs):
        m = np.asarray(breast_mask, bool)
        blobs = blobs[m[blobs[:, 0].astype(int), blobs[:, 1].astype(int)]]
    return blobs.reshape(-1, 3)


def candidate_labels(shape, blobs, *, radius_factor=BLOB_RADIUS_FACTOR):
    """Label image of candidate disks, candidate ``i`` (row ``i`` of `blobs`) labelled ``i + 1``.

    Each candidate is the disk of radius ``radius_factor * sigma`` (the blob radius) around its
    centre; where disks overlap, a pixel goes to the nearest centre, so every candidate keeps
    at least its centre pixel and its centroid stays near its centre.

    Parameters
    ----------
    shape : tuple of int
        Image shape.
    blobs : (n, 3) array_like
        ``(row, col, sigma)``.
    radius_factor : float, optional
        Disk radius in units of sigma; 0 gives single pixels.

    Returns
    -------
    labels : ndarray of int32
    """
    labels = np.zeros(shape, np.int32)
    best = np.full(shape, np.inf)
    for i, (r, c, s) in enumerate(np.asarray(blobs, float).reshape(-1, 3)):
        rad = radius_factor * s
        r0, c0 = int(round(r)), int(round(c))
        ext = int(np.ceil(rad))
        rs = slice(max(r0 - ext, 0), min(r0 + ext + 1, shape[0]))
        cs = slice(max(c0 - ext, 0), min(c0 + ext + 1, shape[1]))
        rr, cc = np.ogrid[rs, cs]
        d2 = (rr - r) ** 2 + (cc - c) ** 2
        take = (d2 <= rad**2) & (d2 < best[rs, cs])
        take |= (rr == r0) & (cc == c0)  # the centre pixel always
        best[rs, cs][take] = d2[take]
        labels[rs, cs][take] = i + 1
    return labels


def preprocess(image, *, radius=3, mask=None):
    r"""Network input: the image minus its local mean over a disk, z-scored.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram, float in [0, 1].
    radius : int, optional
        Radius of the local-mean disk (3: a 7x7 disk, the authors' choice).
    mask : (H, W) array of bool, optional
        Region whose statistics are used for the z-score (e.g. the breast); default all.

    Returns
    -------
    (H, W) ndarray of float32
        :math:`(r - \mu_r) / \sigma_r` with :math:`r = f - f * D / |D|`.
    """
    f = check_image(image).astype(np.float64)
    d = disk(radius).astype(np.float64)
    resid = f - ndi.correlate(f, d / d.sum(), mode="reflect")
    vals = resid if mask is None else resid[np.asarray(mask, bool)]
    mu = vals.mean() if vals.size else 0.0
    sd = vals.std() if vals.size else 0.0
    return ((resid - mu) / (sd if sd > 0 else 1.0)).astype(np.float32)


def extract_candidate_patches(pre, centres, size=95):
    """Square windows of `pre` centred on each candidate (reflect padding at the border).

    Parameters
    ----------
    pre : (H, W) ndarray
        Preprocessed image (:func:`preprocess`).
    centres : (n, 2+) array_like
        ``(row, col, ...)`` of the candidates (rounded to pixels).
    size : int, optional
        Window side, odd (95 = the context window).

    Returns
    -------
    (n, 1, size, size) ndarray of float32
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be odd and >= 1, got {size}")
    pre = np.asarray(pre, np.float32)
    c = np.rint(np.asarray(centres, float).reshape(len(centres), -1)[:, :2]).astype(int)
    half = size // 2
    padded = np.pad(pre, half, mode="reflect" if min(pre.shape) > half else "symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
    return np.ascontiguousarray(windows[c[:, 0], c[:, 1]])[:, None]


# ----------------------------------------------------------------------------- network


def _block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ContextNet(nn.Module):
    """Two-branch CNN that classifies a candidate as MC or non-MC.

    A local branch on the central window and a context branch on the whole patch are
    concatenated into a small classifier.

    Parameters
    ----------
    n_filters : int, optional
        Filters of the first layer (authors: 32); deeper layers use multiples of it.
    context_size : int, optional
        Side of the input patch seen by the context branch (95 px = 6.65 mm).
    local_size : int, optional
        Side of the central window seen by the local branch (9 px).
    dropout : float, optional
        Dropout before the last layer (0.5).
    hidden : int, optional
        Width of the fully connected layer (128).

    Notes
    -----
    Local branch: 2 conv blocks (3x3 conv, batch norm, ReLU) with `n_filters`, a 3x3/2 max
    pool and a block with 2 `n_filters`. Context branch: four stages of 3x3/2 max-pooled conv
    blocks (widths 1, 2, 4, 4 x `n_filters`; two blocks per stage after the first). The
    flattened outputs are concatenated, then FC `hidden` -> ReLU -> dropout -> FC 2 (logits).
    The input is a (N, 1, context_size, context_size) batch of preprocessed patches
    (:func:`preprocess`); the local window is cropped from its centre.
    """

    def __init__(self, n_filters=32, context_size=95, local_size=9, dropout=0.5, hidden=128):
        super().__init__()
        if context_size % 2 == 0 or local_size % 2 == 0 or local_size > context_size:
            raise ValueError(f"context_size and local_size must be odd with local <= context, "
                             f"got {context_size}, {local_size}")
        if local_size < 3 or context_size < 15:
            raise ValueError(f"local_size must be >= 3 and context_size >= 15, "
                             f"got {local_size}, {context_size}")
        self.config = dict(n_filters=int(n_filters), context_size=int(context_size),
                           local_size=int(local_size), dropout=float(dropout), hidden=int(hidden))
        f = int(n_filters)
        pool = lambda: nn.MaxPool2d(3, stride=2)  # noqa: E731
        self.local = nn.Sequential(_block(1, f), _block(f, f), pool(), _block(f, 2 * f), nn.Flatten())
        self.context = nn.Sequential(
            _block(1, f), pool(),
            _block(f, 2 * f), _block(2 * f, 2 * f), pool(),
            _block(2 * f, 4 * f), _block(4 * f, 4 * f), pool(),
            _block(4 * f, 4 * f), _block(4 * f, 4 * f), pool(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_local = self.local(torch.zeros(1, 1, local_size, local_size)).shape[1]
            n_context = self.context(torch.zeros(1, 1, context_size, context_size)).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(n_local + n_context, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, 2),
        )
        lo = (context_size - local_size) // 2
        self._crop = slice(lo, lo + local_size)

    def forward(self, x):
        """Logits (N, 2) of a (N, 1, context_size, context_size) batch; column 1 = MC."""
        size = self.config["context_size"]
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != size or x.shape[3] != size:
            raise ValueError(f"expected input of shape (N, 1, {size}, {size}), got {tuple(x.shape)}")
        local = self.local(x[:, :, self._crop, self._crop])
        return self.classifier(torch.cat([local, self.context(x)], dim=1))


# ----------------------------------------------------------------------------- training


def _training_patches(images, rng, *, context_size, neg_per_pos, min_neg_per_image, max_patches,
                      candidate_kw, max_distance, min_iou, progress, normalize):
    from hdogreg.standardize import standardize

    patches, targets = [], []
    for item in tqdm(images, desc="Wang & Yang candidates", disable=None if progress else True):
        image = standardize(check_image(item.image), method=normalize)
        ref = np.asarray(item.mc_labels())
        blobs = dog_candidates(image, **candidate_kw)
        if not len(blobs):
            continue
        cand = candidate_labels(image.shape, blobs)
        ids, _, pairs, _ = eligibility_pairs(cand, ref, max_distance=max_distance, min_iou=min_iou)
        positive = np.zeros(len(blobs), bool)
        positive[ids[np.unique(pairs[:, 0])] - 1] = True
        pos = np.flatnonzero(positive)
        neg = np.flatnonzero(~positive)
        n_neg = min(len(neg), max(neg_per_pos * len(pos), min_neg_per_image))
        neg = rng.choice(neg, n_neg, replace=False) if n_neg < len(neg) else neg
        chosen = np.r_[pos, neg].astype(int)
        if not chosen.size:
            continue
        patches.append(extract_candidate_patches(preprocess(image), blobs[chosen], context_size))
        targets.append(np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.int64))
    if not patches:
        raise ValueError("no DoG candidates in the training images")
    x = np.concatenate(patches)
    y = np.concatenate(targets)
    if max_patches is not None and len(y) > max_patches:
        keep = np.sort(rng.choice(len(y), int(max_patches), replace=False))
        x, y = x[keep], y[keep]
    return x, y


def train_wang_yang(images, *, n_filters=32, context_size=95, local_size=9, dropout=0.5, epochs=3,
                    batch_size=64, lr=1e-3, weight_decay=1e-4, neg_per_pos=3, min_neg_per_image=8,
                    max_patches=2000, steps_per_epoch=None, max_steps=None, time_budget_s=None,
                    max_distance=5.0, min_iou=0.3, candidate_kw=None, seed=0, num_threads=None,
                    progress=None, normalize=DEFAULT_METHOD):
    """Train a :class:`ContextNet` on DoG candidates of a training split.

    Parameters
    ----------
    images : sequence
        Training images: objects with ``.image`` (float32 in [0, 1]) and ``.mc_labels()``
        (e.g. :class:`hdogreg.data.Mammogram`).
    n_filters, context_size, local_size, dropout : optional
        Network (:class:`ContextNet`).
    epochs, batch_size, lr, weight_decay : optional
        Adam, cross-entropy loss, classes balanced by sampling.
    neg_per_pos, min_neg_per_image : int, optional
        Per image all positive candidates are used and ``max(neg_per_pos * n_pos,
        min_neg_per_image)`` negatives drawn at random (seeded).
    max_patches, steps_per_epoch, max_steps, time_budget_s : optional
        CPU budgets, as for the FPN (:class:`hdogreg.training.TrainConfig`): caps on the patch
        pool (random, seeded), on optimiser steps per epoch and in total, and on wall-clock
        training time (checked after each step). ``None`` = no cap.
    max_distance, min_iou : float, optional
        A candidate is a positive if it is eligible for a reference MC under the detection
        rule of :func:`hdogreg.metrics.match_detections` (centroid within 5 px or IoU >= 0.3
        of its disk, :func:`candidate_labels`); not one-to-one: every eligible candidate is a
        positive.
    candidate_kw : dict, optional
        Arguments of :func:`dog_candidates` (defaults: the paper's scales, threshold 0.01).
    seed : int, optional
        Seeds sampling, initialisation, shuffling, augmentation and dropout.
    num_threads : int, optional
        Torch threads during training (restored afterwards).
    progress : bool, optional
        Show progress bars (None: only in a terminal).
    normalize : {"noise", "none"}, optional
        Intensity standardisation of each training image
        (:func:`hdogreg.standardize.standardize`); detect on images standardised the same way
        (:func:`hdogreg.evaluation.wang_yang_split` does). ``"none"``: the raw scale.

    Returns
    -------
    model : ContextNet
        Trained, in evaluation mode; ``model.config`` holds the network settings,
        ``model.candidate_kw`` the candidate settings and ``model.normalize`` the
        standardisation used in training.
    history : dict
        ``loss`` (per step), ``n_patches``, ``n_positive``, ``steps``, ``seconds``.

    Notes
    -----
    Augmentation: random flips and 90-degree rotations of the patches (the patch centre, i.e.
    the candidate, stays in place).

    Cost: the context branch dominates. Measured on 2 shared CPU cores, one step of 64
    95x95 patches takes ~10 s with the paper's 32 filters and ~3 s with 16, and scoring
    takes ~45 ms (32 filters) or ~15 ms (16) per candidate; choose `n_filters` and the budgets
    accordingly (e.g. ``n_filters=16, max_patches=2000, time_budget_s=120`` for the book).
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("neg_per_pos", neg_per_pos)):
        if int(value) != value or value < (0 if name == "neg_per_pos" else 1):
            raise ValueError(f"{name} must be a positive integer, got {value}")
    candidate_kw = dict(candidate_kw or {})
    rng = default_rng(seed)
    torch.manual_seed(int(rng.integers(2**31)))
    x, y = _training_patches(images, rng, context_size=context_size, neg_per_pos=neg_per_pos,
                             min_neg_per_image=min_neg_per_image, max_patches=max_patches,
                             candidate_kw=candidate_kw, max_distance=max_distance, min_iou=min_iou,
                             progress=progress, normalize=normalize)
    model = ContextNet(n_filters, context_size, local_size, dropout)
    model.candidate_kw = candidate_kw
    model.normalize = normalize
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n_pos = int(y.sum())
    weight = torch.tensor([1.0, max((len(y) - n_pos) / max(n_pos, 1), 1.0)], dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weight if n_pos else None)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    old_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(int(num_threads))
    losses, step, start = [], 0, time.perf_counter()
    try:
        model.train()
        done = False
        per_epoch = int(np.ceil(len(y) / batch_size))
        if steps_per_epoch is not None:
            per_epoch = min(per_epoch, int(steps_per_epoch))
        bar = tqdm(total=epochs * per_epoch, desc="Wang & Yang training", disable=None if progress else True)
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for b in range(0, per_epoch * batch_size, batch_size):
                idx = torch.from_numpy(order[b : b + batch_size])
                xb = xt[idx]
                k = int(rng.integers(4))
                if k:
                    xb = torch.rot90(xb, k, dims=(2, 3))
                if rng.random() < 0.5:
                    xb = torch.flip(xb, dims=(3,))
                loss = loss_fn(model(xb), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                step += 1
                bar.update()
                if (max_steps is not None and step >= max_steps) or (
                    time_budget_s is not None and time.perf_counter() - start >= time_budget_s
                ):
                    done = True
                    break
            if done:
                break
        bar.close()
    finally:
        torch.set_num_threads(old_threads)
        model.eval()
    history = dict(loss=losses, n_patches=int(len(y)), n_positive=n_pos, steps=step,
                   seconds=time.perf_counter() - start)
    return model, history


# ----------------------------------------------------------------------------- detection


@torch.no_grad()
def wang_yang_detect(model, image, *, breast_mask=None, candidate_kw=None, radius_factor=BLOB_RADIUS_FACTOR,
                     batch_size=256):
    """Detect MCs in one image: DoG candidates scored by a trained :class:`ContextNet`.

    Parameters
    ----------
    model : ContextNet
        Trained network (:func:`train_wang_yang` or :func:`load_context_net`).
    image : (H, W) array_like
        Mammogram, float in [0, 1].
    breast_mask : (H, W) array of bool, optional
        Keep only candidates inside it; it also defines the z-score statistics.
    candidate_kw : dict, optional
        Arguments of :func:`dog_candidates`; default ``model.candidate_kw`` (as in training).
    radius_factor : float, optional
        Candidate disk radius in sigmas (:func:`candidate_labels`).
    batch_size : int, optional
        Patches per forward pass.

    Returns
    -------
    labels : (H, W) ndarray of int32
        Candidate disks labelled 1..n.
    scores : (n,) ndarray of float64
        ``scores[l - 1]`` = the network's MC probability of candidate ``l``, the convention of
        :func:`hdogreg.metrics.froc_counts`.
    """
    image = check_image(image)
    if candidate_kw is None:
        candidate_kw = getattr(model, "candidate_kw", {})
    blobs = dog_candidates(image, breast_mask=breast_mask, **candidate_kw)
    labels = candidate_labels(image.shape, blobs, radius_factor=radius_factor)
    if not len(blobs):
        return labels, np.empty(0)
    pre = preprocess(image, mask=breast_mask)
    size = model.config["context_size"]
    was_training = model.training
    model.eval()
    scores = []
    for b in range(0, len(blobs), batch_size):
        x = torch.from_numpy(extract_candidate_patches(pre, blobs[b : b + batch_size], size))
        scores.append(torch.softmax(model(x), dim=1)[:, 1].double().numpy())
    model.train(was_training)
    return labels, np.concatenate(scores)


def save_context_net(path, model):
    """Save a :class:`ContextNet` as ``state_dict`` (``.pt``) plus JSON settings (``.json``)."""
    path = Path(path)
    settings = dict(model.config, candidate_kw=getattr(model, "candidate_kw", {}),
                    normalize=getattr(model, "normalize", "none"))
    return save_weights(path, model, settings)


def load_context_net(path):
    """Rebuild a :class:`ContextNet` saved with :func:`save_context_net` (evaluation mode).

    A file written before ``normalize`` was recorded was trained on the raw scale (``"none"``).
    """
    path = Path(path)
    meta = path.with_suffix(".json")
    for p in (path, meta):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: not found")
    try:
        settings = json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta}: malformed JSON: {exc}") from exc
    candidate_kw = settings.pop("candidate_kw", {})
    normalize = settings.pop("normalize", "none")
    model = ContextNet(**settings)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    model.candidate_kw = candidate_kw
    model.normalize = normalize
    model.eval()
    return model
