"""Patient-wise train/validation/test splits (the paper: 51/17/18 INbreast cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._utils import atomic_path, missing_file_message
from .records import DataError

__all__ = ["PAPER_PROPORTIONS", "LOCAL_PROPORTIONS", "split_counts", "assign_splits",
           "make_splits", "write_splits", "read_splits"]

#: INbreast cases in train / val / test (paper, "Training, Validation, and Test Sets").
PAPER_PROPORTIONS = {"train": 51, "val": 17, "test": 18}
#: Local data set images in train (fine-tuning) / test.
LOCAL_PROPORTIONS = {"train": 112, "test": 29}


def split_counts(n, proportions=None):
    """Numbers of items per split, proportional to `proportions` (largest remainder).

    Examples
    --------
    >>> split_counts(86)
    {'train': 51, 'val': 17, 'test': 18}
    >>> split_counts(10)
    {'train': 6, 'val': 2, 'test': 2}
    """
    proportions = dict(PAPER_PROPORTIONS if proportions is None else proportions)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    w = np.array(list(proportions.values()), float)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"proportions must be >= 0 with a positive sum, got {proportions}")
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    # every split with a positive weight gets at least one item when possible
    for i in np.flatnonzero((counts == 0) & (w > 0)):
        j = int(np.argmax(counts))
        if counts[j] > 1:
            counts[j] -= 1
            counts[i] += 1
    return dict(zip(proportions, counts.tolist()))


def assign_splits(patient_ids, proportions=None, seed=0):
    """Map each distinct patient id to a split, reproducibly from `seed`.

    Parameters
    ----------
    patient_ids : iterable of str
        May contain repeats (one per image); each patient gets one split.
    proportions : dict, optional
        Split name -> weight; default the paper's 51/17/18 (train/val/test).
    seed : int

    Returns
    -------
    dict
        patient id -> split name.
    """
    patients = sorted({str(p) for p in patient_ids})
    counts = split_counts(len(patients), proportions)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(patients))
    out, start = {}, 0
    for name, c in counts.items():
        for i in order[start:start + c]:
            out[patients[i]] = name
        start += c
    return out


def make_splits(table, proportions=None, seed=0):
    """Patient-disjoint splits of an image table.

    Parameters
    ----------
    table : DataFrame
        Needs ``patient_id``; ``file_id`` is carried along if present.

    Returns
    -------
    DataFrame
        ``file_id`` (if present), ``patient_id``, ``split`` - one row per input row.
    """
    if "patient_id" not in table:
        raise ValueError("table needs a 'patient_id' column")
    mapping = assign_splits(table["patient_id"], proportions, seed)
    cols = [c for c in ("file_id", "patient_id") if c in table]
    out = table[cols].astype(str).copy()
    out["split"] = out["patient_id"].map(mapping)
    return out.reset_index(drop=True)


def write_splits(frame, path):
    """Write a splits table as CSV (whole or not at all)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def read_splits(path):
    """Read a splits CSV (``split`` and ``file_id`` and/or ``patient_id`` columns)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(missing_file_message(path))
    try:
        frame = pd.read_csv(path, dtype=str)
    except Exception as exc:
        raise DataError(f"{path}: unreadable splits CSV ({type(exc).__name__}: {exc})") from exc
    if "split" not in frame or not ({"file_id", "patient_id"} & set(frame)):
        raise DataError(f"{path}: a splits CSV needs 'split' and 'file_id' or 'patient_id' columns")
    return frame
