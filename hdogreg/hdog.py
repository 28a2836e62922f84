"""Hessian-DoG blob segmentation: candidate MC objects (upper branch of the paper's Fig. 1).

``hdog_segment`` chains the stages of the section "Blob Segmentation":

1. DoG blobs ``(x, y, sigma)``: 3-D maxima of the scale-normalised DoG stack above
   ``dog_threshold``, pruned with ``overlap`` (Eq. 1-4, :mod:`hdogreg.scale_space`);
2. at every DoG scale the Hessian of the DoG layer and the binary mask of Eq. 6
   (Eq. 5-6, :mod:`hdogreg.hessian`);
3. for each blob, the connected object of the mask *at its own scale* that contains the blob
   centre; all objects merged into one mask, labelled, and tabulated.

The work is done in horizontal bands of rows (with a halo wide enough for the largest
Gaussian kernel, so the result equals the whole-image computation) on a small thread pool:
only the per-scale boolean masks are kept for the whole image, never a float stack.
"""

from __future__ import annotations

import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from . import hessian as _hessian
from . import scale_space as _ss
from ._validation import (
    border_width,
    check_choice,
    check_connectivity,
    check_dog_threshold,
    check_h_thr,
    check_overlap,
)

__all__ = ["HDoGResult", "hdog_segment", "candidate_summary", "mask_within", "empty_blob_table", "phantom",
           "BLOB_COLUMNS"]

#: Columns of :attr:`HDoGResult.blobs` (x = column, y = row, INbreast convention).
BLOB_COLUMNS = ("label", "x", "y", "sigma", "area")
_BLOB_DTYPES = {"label": "int32", "x": "int64", "y": "int64", "sigma": "float64", "area": "int64"}

#: Rows per band of the banded computation (a band and its halo stay in the CPU caches).
_BAND_ROWS = 256


@dataclass(frozen=True)
class HDoGResult:
    """Output of :func:`hdog_segment`.

    Attributes
    ----------
    mask : (M, N) ndarray of bool
        Union of the objects of all blobs.
    labels : (M, N) ndarray of int32
        Connected components of `mask` (same connectivity), numbered 1..n in raster order;
        0 is background.
    blobs : pandas.DataFrame
        One row per DoG blob that produced an object, columns ``label`` (its object in
        `labels`), ``x`` (column), ``y`` (row), ``sigma`` (scale in pixels) and ``area`` (pixels
        of that label). Sorted by label. Always these columns, also when empty.
    """

    mask: np.ndarray
    labels: np.ndarray
    blobs: pd.DataFrame

    @property
    def n_objects(self):
        """Number of labelled objects."""
        return int(self.labels.max()) if self.labels.size else 0


def empty_blob_table():
    """Return the blob table with no rows (the right columns and dtypes)."""
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _BLOB_DTYPES.items()})


def _n_workers(workers):
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            workers = os.cpu_count() or 1
        return max(1, min(workers, 4))
    if not isinstance(workers, numbers.Integral) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    return int(workers)


def _band(image, r0, r1, gaussian_sigmas, k, halo, dog_threshold, h_thr, rule, masks):
    """Eq. 1-6 on rows [r0, r1): writes the Eq. 6 masks, returns the 3-D DoG peaks."""
    n_rows = image.shape[0]
    e0, e1 = max(r0 - halo, 0), min(r1 + halo, n_rows)
    d0, d1 = max(r0 - 1, 0), min(r1 + 1, n_rows)      # DoG rows needed, exact thanks to the halo
    dog = _ss.dog_layers(image[e0:e1], gaussian_sigmas, k, rows=(d0 - e0, d1 - e0))
    inner = slice(r0 - d0, r1 - d0)
    # Eq. 6 on the inner rows (the rows d0, d1 - 1 around them are data or the image border)
    masks[:, r0:r1] = _hessian.hessian_mask(dog, h_thr, rule=rule)[:, inner]
    peaks, trivial = _ss.local_maxima_3d(dog, dog_threshold)
    peaks[:, :inner.start] = False
    peaks[:, inner.stop:] = False
    flat = np.flatnonzero(peaks)
    coords = np.column_stack(np.unravel_index(flat, dog.shape))
    values = dog[tuple(coords.T)]
    coords[:, 1] += d0
    return coords, values, trivial


def hdog_segment(image, sigma_min=1.18, sigma_max=3.1, k=1.6, dog_threshold=0.006, overlap=1.0,
                 h_thr=1.4, *, connectivity=1, exclude_border=False, hessian_rule=_hessian.DEFAULT_RULE,
                 intensity_scale=None, workers=None):
    """Segment bright blob-like and tubular objects with the Hessian-DoG (Eq. 1-6).

    Parameters
    ----------
    image : (M, N) array_like
        Mammogram (or patch). Float images must hold intensities in [0, 1]
        (``raw / (2**BitsStored - 1)``, what the loaders return); integer images are divided
        by `intensity_scale`, by default the maximum of their dtype. See
        :func:`hdogreg.scale_space.as_unit_image`. Computation is in float32.
    sigma_min, sigma_max : float, optional
        Range of blob scales in pixels (paper: 1.18 and 3.1 px at 0.07 mm/px).
    k : float, optional
        Ratio between consecutive scales, > 1 (default 1.6, as ``blob_dog``).
    dog_threshold : float, optional
        ``T_DoG``, lower bound on the DoG value of a blob (paper: 0.006 on [0, 1] intensities).
    overlap : float, optional
        ``O_DoG`` in [0, 1]: of two blobs overlapping by more than this fraction the smaller is
        removed (paper: 1, which removes nothing).
    h_thr : float, optional
        ``h_thr`` of Eq. 6 (paper: 1.4).
    connectivity : {1, 2}, optional
        Connectivity of objects: 1 = 4-neighbours (the authors' choice), 2 = 8-neighbours.
    exclude_border : False or int, optional
        Ignore DoG peaks closer than this many pixels to the border.
    hessian_rule : {"code", "paper"}, optional
        Reading of Eq. 6, see :func:`hdogreg.hessian.hessian_constraint`. The default
        ``"code"`` keeps negative-definite Hessians and saddles with a small positive
        eigenvalue, as the paper's text says; Eq. 6 as printed (``"paper"``) reduces to
        ``tr(H) < 0`` for ``h_thr >= 1/4`` and yields very large objects on mammograms.
    intensity_scale : float, optional
        Divide the image by this first (e.g. 16383 for raw 14-bit values).
    workers : int, optional
        Threads for the banded computation (default: available CPUs, at most 4). The result
        does not depend on it.

    Returns
    -------
    HDoGResult
        ``mask`` (bool), ``labels`` (int32) and ``blobs`` (DataFrame ``label, x, y, sigma,
        area``). No blob gives an all-False mask, an all-zero label image and an empty table.

    Notes
    -----
    *Objects.* For the blob ``(x, y, sigma_n)`` the object is the connected component of the
    Eq. 6 mask of DoG layer ``n`` containing pixel ``(y, x)``; every layer is labelled once
    (:func:`scipy.ndimage.label`) and the labels are read at the peak coordinates. Two blobs
    that fall in the same component of the same layer share one object. A blob whose own pixel
    fails Eq. 6 has no object and is left out of the table (with ``rule="paper"`` this needs
    ``tr(H) = 0`` at the peak, i.e. a flat plateau, since ``tr(H) <= 0`` at any DoG maximum).

    *Labels.* Objects of different scales may overlap or touch; the merged mask is labelled
    again with the same connectivity, so each final label is one connected object of `mask`,
    and each blob's ``label`` is the final object containing its centre. Several blobs can
    therefore share a label (and its ``area``).

    *Equivalence.* The blobs are those of :func:`hdogreg.scale_space.dog_peaks` (and of
    :func:`skimage.feature.blob_dog` with ``min_sigma=sigma_min, max_sigma=sigma_max,
    sigma_ratio=k, threshold=dog_threshold, overlap=overlap`` on the same float32 image): the
    bands carry a halo of ``int(4 * sigma_N + 0.5) + 1`` rows, so every value equals the
    whole-image computation.

    References
    ----------
    .. [1] Marasinou C. et al. (2023), section "Blob Segmentation", Eq. 1-6.
    .. [2] Lindeberg T. (1998), "Feature detection with automatic scale selection", IJCV 30.

    Examples
    --------
    >>> img = phantom((48, 48), blobs=[(24, 20, 2.0, 0.3)], background=0.2)
    >>> res = hdog_segment(img)
    >>> res.blobs[["label", "x", "y"]].to_numpy().tolist(), bool(res.mask[24, 20])
    ([[1, 20, 24]], True)
    """
    gaussian_sigmas, dog_sigmas = _ss.scale_sigmas(sigma_min, sigma_max, k)
    check_dog_threshold(dog_threshold)
    check_overlap(overlap)
    check_h_thr(h_thr)
    check_choice("hessian_rule", hessian_rule, _hessian.RULES)
    check_connectivity(connectivity)
    width = border_width(exclude_border)
    n_workers = _n_workers(workers)
    image = _ss.as_unit_image(image, intensity_scale)
    n_rows, n_cols = image.shape
    n_scales = len(dog_sigmas)

    # 1-2. DoG peaks and Eq. 6 masks, band by band
    halo = int(_ss.TRUNCATE * gaussian_sigmas[-1] + 0.5) + 1
    masks = np.empty((n_scales, n_rows, n_cols), dtype=bool)
    starts = range(0, n_rows, _BAND_ROWS)
    args = (gaussian_sigmas, k, halo, dog_threshold, h_thr, hessian_rule, masks)
    if n_workers == 1 or len(starts) == 1:
        parts = [_band(image, r0, min(r0 + _BAND_ROWS, n_rows), *args) for r0 in starts]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            parts = list(pool.map(lambda r0, args=args: _band(image, r0, min(r0 + _BAND_ROWS, n_rows),
                                                              *args), starts))
    coords = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts])
    if all(p[2] for p in parts):           # constant DoG stack: no peak (as peak_local_max)
        coords = coords[:0]
    if width:
        r, c = coords[:, 1], coords[:, 2]
        inside = (r >= width) & (r < n_rows - width) & (c >= width) & (c < n_cols - width)
        coords, values = coords[inside], values[inside]
    coords, values = _ss.order_like_skimage(coords, values)
    blobs = np.column_stack([coords[:, 1], coords[:, 2], dog_sigmas[coords[:, 0]]]).astype(float)
    keep = _ss.surviving_blobs(blobs.reshape(-1, 3), overlap)
    coords = coords[keep]

    # 3. objects: label each scale once, read the labels at the peaks
    structure = ndi.generate_binary_structure(2, connectivity)
    merged = np.zeros((n_rows, n_cols), dtype=bool)
    has_object = np.zeros(len(coords), dtype=bool)
    for n in range(n_scales):
        at_n = np.flatnonzero(coords[:, 0] == n)
        if len(at_n) == 0:
            continue
        lab, n_lab = ndi.label(masks[n], structure)
        ids = lab[coords[at_n, 1], coords[at_n, 2]]
        has_object[at_n] = ids > 0
        chosen = np.zeros(n_lab + 1, dtype=bool)
        chosen[ids] = True
        chosen[0] = False
        merged |= chosen[lab]
        del lab
    del masks, args

    coords = coords[has_object]
    if len(coords) == 0:
        return HDoGResult(merged, np.zeros((n_rows, n_cols), np.int32), empty_blob_table())
    labels, n_objects = ndi.label(merged, structure)
    labels = labels.astype(np.int32, copy=False)
    blob_labels = labels[coords[:, 1], coords[:, 2]]
    areas = np.bincount(labels.ravel(), minlength=n_objects + 1)
    table = pd.DataFrame({
        "label": blob_labels.astype(np.int32),
        "x": coords[:, 2].astype(np.int64),
        "y": coords[:, 1].astype(np.int64),
        "sigma": dog_sigmas[coords[:, 0]].astype(np.float64),
        "area": areas[blob_labels].astype(np.int64),
    })
    table = table.sort_values(["label", "y", "x", "sigma"], kind="stable").reset_index(drop=True)
    return HDoGResult(merged, labels, table)


def mask_within(inner, outer):
    """Return True if every pixel of `inner` is also in `outer` (e.g. one rule's objects in another's).

    Parameters
    ----------
    inner, outer : (H, W) array_like of bool
        Same shape.

    Returns
    -------
    bool

    Examples
    --------
    >>> a = np.array([[1, 0], [0, 0]], bool); b = np.array([[1, 1], [0, 0]], bool)
    >>> mask_within(a, b), mask_within(b, a)
    (True, False)
    """
    inner, outer = np.asarray(inner, bool), np.asarray(outer, bool)
    if inner.shape != outer.shape:
        raise ValueError(f"masks differ in shape: {inner.shape} and {outer.shape}")
    return bool(np.all(outer | ~inner))


def candidate_summary(result, reference_mask=None):
    """Summarise the candidate objects of :func:`hdog_segment`: how many, how large, what they cover.

    Parameters
    ----------
    result : HDoGResult
    reference_mask : (M, N) array_like of bool, optional
        Annotated MC pixels (``Mammogram.mc_mask()``).

    Returns
    -------
    summary : dict
        ``blobs`` (DoG blobs that produced an object), ``objects``, ``mask_fraction`` (share
        of the image's pixels in some object), ``median_object_area`` (pixels; 0 without
        objects) and ``reference_covered`` (share of the `reference_mask` pixels inside the
        objects; NaN without a reference or with an empty one).

    Examples
    --------
    >>> res = hdog_segment(phantom((40, 40), blobs=[(20, 20, 2.0, 0.3)]))
    >>> ref = np.zeros((40, 40), bool); ref[20, 20] = True
    >>> s = candidate_summary(res, ref)
    >>> s["objects"], s["reference_covered"]
    (1, 1.0)
    """
    mask = np.asarray(result.mask, dtype=bool)
    areas = np.bincount(np.asarray(result.labels).ravel())[1:]
    areas = areas[areas > 0]
    covered = np.nan
    if reference_mask is not None:
        ref = np.asarray(reference_mask, dtype=bool)
        if ref.shape != mask.shape:
            raise ValueError(f"reference_mask has shape {ref.shape}, the result {mask.shape}")
        covered = float(mask[ref].mean()) if ref.any() else np.nan
    return {"blobs": len(result.blobs), "objects": result.n_objects,
            "mask_fraction": float(mask.mean()) if mask.size else 0.0,
            "median_object_area": float(np.median(areas)) if areas.size else 0.0,
            "reference_covered": covered}


def phantom(shape, *, blobs=(), lines=(), background=0.3, texture=0.0, texture_sigma=6.0,
            noise=0.0, seed=0):
    """Make a small synthetic image with Gaussian blobs and lines, for tests, demos and benchmarks.

    Parameters
    ----------
    shape : (int, int)
        Rows and columns.
    blobs : iterable of (row, col, sigma, amplitude)
        Isotropic Gaussian blobs ``amplitude * exp(-d**2 / (2 sigma**2))``; a negative
        amplitude makes a dark blob.
    lines : iterable of (row0, col0, row1, col1, sigma, amplitude)
        Segments with a Gaussian cross-profile of width `sigma` (round caps).
    background : float, optional
        Constant background level.
    texture : float, optional
        Standard deviation of a smooth random texture (Gaussian-filtered white noise at
        `texture_sigma`), standing in for breast parenchyma.
    noise : float, optional
        Standard deviation of white noise.
    seed : int, optional
        Seed of the texture and the noise.

    Returns
    -------
    image : ndarray of float32
        Clipped to [0, 1].

    Examples
    --------
    >>> img = phantom((9, 9), blobs=[(4, 4, 1.0, 0.5)], background=0.1)
    >>> round(float(img[4, 4]), 4), round(float(img[0, 0]), 4)
    (0.6, 0.1)
    """
    n_rows, n_cols = (int(s) for s in shape)
    rng = np.random.default_rng(seed)
    img = np.full((n_rows, n_cols), float(background), dtype=np.float32)
    if texture:
        t = ndi.gaussian_filter(rng.standard_normal((n_rows, n_cols), dtype=np.float32),
                                texture_sigma, mode="reflect")
        t *= texture / max(float(t.std()), 1e-12)
        img += t
    for r, c, s, a in blobs:
        h = int(np.ceil(5 * s))
        r0, r1 = max(int(r) - h, 0), min(int(r) + h + 1, n_rows)
        c0, c1 = max(int(c) - h, 0), min(int(c) + h + 1, n_cols)
        if r0 >= r1 or c0 >= c1:
            continue
        rr, cc = np.ogrid[r0:r1, c0:c1]
        img[r0:r1, c0:c1] += (a * np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * s * s))).astype(np.float32)
    for ra, ca, rb, cb, s, a in lines:
        h = int(np.ceil(5 * s))
        r0, r1 = max(int(min(ra, rb)) - h, 0), min(int(max(ra, rb)) + h + 1, n_rows)
        c0, c1 = max(int(min(ca, cb)) - h, 0), min(int(max(ca, cb)) + h + 1, n_cols)
        if r0 >= r1 or c0 >= c1:
            continue
        rr, cc = np.ogrid[r0:r1, c0:c1]
        dr, dc = rb - ra, cb - ca
        length2 = dr * dr + dc * dc
        t = np.clip(((rr - ra) * dr + (cc - ca) * dc) / length2, 0, 1) if length2 else 0.0
        d2 = (rr - (ra + t * dr)) ** 2 + (cc - (ca + t * dc)) ** 2
        img[r0:r1, c0:c1] += (a * np.exp(-d2 / (2 * s * s))).astype(np.float32)
    if noise:
        img += rng.normal(0.0, noise, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 1, out=img)
