"""Label images as the metrics see them: validation, per-object centroids and areas, overlaps."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi


def _as_labels(labels, name):
    """Return a 2-D non-negative integer label image; a bool mask is labelled (4-connected)."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D label image, got shape {arr.shape}")
    if arr.dtype == bool:
        return ndi.label(arr)[0]
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected an integer label image or a bool mask, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise ValueError(f"{name}: labels must be >= 0, got minimum {arr.min()}")
    return arr


def _check_same_shape(a, b):
    if a.shape != b.shape:
        raise ValueError(f"prediction and reference shapes differ: {a.shape} vs {b.shape}")


class _Objects(NamedTuple):
    ids: np.ndarray  # (n,) label values present, ascending
    area: np.ndarray  # (n,) pixels
    centroid: np.ndarray  # (n, 2) (row, col)
    flat: np.ndarray  # flat indices of the object pixels
    index: np.ndarray  # object index (into ids) of each pixel in `flat`


def _objects(labels):
    """Labels present in `labels` with their areas and centroids, from the nonzero pixels only."""
    flat = np.flatnonzero(labels)
    vals = labels.ravel()[flat]
    ids, index = np.unique(vals, return_inverse=True)
    area = np.bincount(index, minlength=ids.size).astype(np.int64)
    rows, cols = np.divmod(flat, labels.shape[1])
    if ids.size:
        centroid = np.stack(
            [np.bincount(index, rows, ids.size) / area, np.bincount(index, cols, ids.size) / area], axis=1
        )
    else:
        centroid = np.empty((0, 2))
    return _Objects(ids, area, centroid, flat, index)


def _overlaps(pred, ref):
    """Sparse intersection table: (pred index, ref index, intersection in px) for touching pairs."""
    if pred.ids.size == 0 or ref.ids.size == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    # pixels that belong to both a predicted and a reference object
    common, ip, ir = np.intersect1d(pred.flat, ref.flat, assume_unique=True, return_indices=True)
    if common.size == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    code = pred.index[ip].astype(np.int64) * ref.ids.size + ref.index[ir]
    pairs, inter = np.unique(code, return_counts=True)
    return pairs // ref.ids.size, pairs % ref.ids.size, inter.astype(np.int64)
