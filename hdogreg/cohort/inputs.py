"""Inputs of a cohort: files, folders, globs and manifests, with unique reversible output names.

Every input image gets a *name*: its path relative to the source it was found through (the
folder given, the folder of a manifest, the fixed part of a glob, the folder of a file given
by itself), percent-encoded into one file-name component (:func:`encode_name`). Two inputs
whose relative paths coincide (``a/case.dcm`` and ``b/case.dcm`` given as files, or names that
differ only in case) are named by their absolute paths instead. Names are therefore unique,
do not depend on the order of the inputs, and give back the path (:func:`decode_name`).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from hdogreg._utils import missing_file_message
from hdogreg.data.records import DataError

__all__ = ["CohortInput", "collect_inputs", "read_manifest", "encode_name", "decode_name",
           "IMAGE_SUFFIXES", "MANIFEST_SUFFIXES", "MANIFEST_COLUMNS"]

#: Suffixes of the images a folder or a glob contributes (case-insensitive); files without a
#: suffix count when they start like a DICOM file (``DICM`` at byte 128).
IMAGE_SUFFIXES = (".dcm", ".dicom", ".png", ".tif", ".tiff")

#: A source with one of these suffixes is a manifest (a table of inputs).
MANIFEST_SUFFIXES = (".csv", ".parquet")

#: Columns of a manifest: ``path`` (required; relative paths are relative to the manifest's
#: folder) and optional metadata. ``pixel_spacing`` (mm) overrides the DICOM header and the
#: command line's ``--pixel-spacing`` for that image.
MANIFEST_COLUMNS = ("path", "patient_id", "study_id", "pixel_spacing", "laterality", "view")

#: Longest name (characters) of an output folder.
MAX_NAME = 240


@dataclass(frozen=True)
class CohortInput:
    """One image of a cohort.

    Attributes
    ----------
    path : Path
        The image file (as given, or resolved against its manifest's folder).
    name : str
        Output name: unique in the cohort and reversible (:func:`decode_name`).
    patient_id, study_id, laterality, view : str
        From the manifest (empty if not given).
    pixel_spacing : float or None
        mm per pixel from the manifest.
    """

    path: Path
    name: str
    patient_id: str = ""
    study_id: str = ""
    pixel_spacing: float | None = None
    laterality: str = ""
    view: str = ""


def encode_name(relpath, *, case_safe=False):
    """One file-name component that encodes a relative (or absolute) POSIX path.

    Percent-encoding (RFC 3986) of everything but letters, digits and ``_.-``; ``~`` and a
    leading ``.`` are encoded too, so that no name is hidden or starts like a temporary folder.
    With `case_safe`, capital letters are encoded as well: distinct paths then give names that
    differ also on a case-insensitive disk.

    Examples
    --------
    >>> encode_name("sub dir/case_1.dcm")
    'sub%20dir%2Fcase_1.dcm'
    >>> encode_name("A/b.dcm", case_safe=True)
    '%41%2Fb.dcm'
    >>> decode_name(encode_name(".x~/%y"))
    '.x~/%y'
    """
    name = quote(str(relpath), safe="").replace("~", "%7E")
    if case_safe:
        name = "".join(f"%{ord(c):02X}" if "A" <= c <= "Z" and (i < 1 or name[i - 1] != "%")
                       and (i < 2 or name[i - 2] != "%") else c for i, c in enumerate(name))
    if name.startswith("."):
        name = "%2E" + name[1:]
    return name


def decode_name(name):
    """Return the path a name was made from (:func:`encode_name`)."""
    return unquote(name)


def _is_dicom_file(path):
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def _is_image(path):
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES or (suffix == "" and _is_dicom_file(path))


def _inside(path, folder):
    if folder is None:
        return False
    try:
        Path(path).resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def _scan_folder(folder, exclude):
    """Image files under `folder` (recursive, sorted; hidden files and `exclude` skipped)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not _inside(Path(root) / d, exclude))
        for f in sorted(files):
            path = Path(root) / f
            if not f.startswith(".") and _is_image(path):
                found.append(path)
    if not found:
        raise DataError(f"{folder}: no DICOM, PNG or TIFF images in this folder")
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _glob_root(pattern):
    """Return the folder of the fixed (non-wildcard) leading part of a glob."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _text(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def read_manifest(path):
    """Read a manifest (CSV or Parquet) of cohort inputs.

    Parameters
    ----------
    path : str or Path
        A table with a ``path`` column and optionally the other :data:`MANIFEST_COLUMNS`
        (column names are case-insensitive; other columns are ignored).

    Returns
    -------
    rows : list of dict
        ``path`` (a Path, relative ones resolved against the manifest's folder) and the
        optional fields (``pixel_spacing`` a float or None, the others strings).

    Raises
    ------
    DataError
        Unreadable file, no ``path`` column, an empty path or a non-numeric or non-positive
        pixel spacing; the message names the manifest and the data row (1-based).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(missing_file_message(path, "manifest"))
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(
            path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"{path}: unreadable manifest ({type(exc).__name__}: {exc})") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "path" not in frame:
        raise DataError(f"{path}: manifest has no 'path' column (columns: "
                        f"{', '.join(MANIFEST_COLUMNS)}; only 'path' is required)")
    rows = []
    for i, rec in enumerate(frame.to_dict("records"), start=1):
        entry = _text(rec["path"])
        if not entry:
            raise DataError(f"{path}: empty path in data row {i}")
        row = {"path": path.parent / entry}
        for key in ("patient_id", "study_id", "laterality", "view"):
            row[key] = _text(rec.get(key))
        spacing = _text(rec.get("pixel_spacing"))
        try:
            row["pixel_spacing"] = float(spacing) if spacing else None
        except ValueError:
            raise DataError(f"{path}: pixel_spacing {spacing!r} in data row {i} is not a "
                            "number of mm") from None
        if row["pixel_spacing"] is not None and not (np.isfinite(row["pixel_spacing"])
                                                     and row["pixel_spacing"] > 0):
            raise DataError(f"{path}: pixel_spacing {spacing} in data row {i} is not > 0 mm")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: manifest lists no images")
    return rows


def _source_entries(source, exclude):
    """``(root, path, metadata)`` of every input a source contributes."""
    text = str(source)
    path = Path(source)
    if path.suffix.lower() in MANIFEST_SUFFIXES and not glob.has_magic(text):
        return [(path.parent, row.pop("path"), row) for row in read_manifest(path)]
    if path.is_dir():
        return [(path, p, {}) for p in _scan_folder(path, exclude)]
    if glob.has_magic(text) and not path.exists():
        matches = [Path(p) for p in sorted(glob.glob(text, recursive=True))]
        files = [p for p in matches if p.is_file() and not _inside(p, exclude)]
        if not files:
            raise DataError(f"{text}: no files match this pattern")
        return [(_glob_root(text), p, {}) for p in files]
    return [(path.parent, path, {})]   # a file (a missing one fails when it is read)


def _relative(path, root):
    """`path` relative to `root` as POSIX text, or None if it lies outside."""
    rel = os.path.relpath(path, root)
    return None if rel == os.pardir or rel.startswith(os.pardir + os.sep) else Path(rel).as_posix()


def collect_inputs(sources, *, exclude=None):
    """Find the cohort's images in files, folders (recursive), globs and manifests.

    Parameters
    ----------
    sources : iterable of str or Path
        Each one is a manifest (``.csv``/``.parquet``, :func:`read_manifest`), a folder
        (searched recursively for :data:`IMAGE_SUFFIXES` and suffix-less DICOM files; hidden
        files skipped), a glob pattern (``**`` recursive) or an image file (any suffix; a
        missing file is kept, and fails when it is read).
    exclude : str or Path, optional
        A folder whose contents are never inputs (the output folder).

    Returns
    -------
    inputs : list of CohortInput
        In source order; a file reached twice is listed once (its first occurrence).

    Raises
    ------
    DataError
        An empty folder, a glob without matches, a bad manifest, an input inside `exclude`, or
        a name longer than :data:`MAX_NAME` characters.
    """
    exclude = None if exclude is None else Path(exclude).resolve()
    entries, seen = [], set()
    for source in sources:
        for root, path, meta in _source_entries(source, exclude):
            key = Path(path).resolve()
            if _inside(key, exclude):
                raise DataError(f"{path}: input lies inside the output folder {exclude}")
            if key not in seen:
                seen.add(key)
                entries.append((root, Path(path), key, meta))
    names = _unique_names(entries)
    return [CohortInput(path=path, name=name, **meta)
            for (_, path, _, meta), name in zip(entries, names)]


def _unique_names(entries):
    """Relative-path names; inputs whose names collide (ignoring case) use absolute paths."""
    first = [encode_name(_relative(path, root) or key.as_posix()) for root, path, key, _ in entries]
    counts = pd.Series([n.casefold() for n in first]).value_counts()
    names = [encode_name(key.as_posix(), case_safe=True) if counts[n.casefold()] > 1 else n
             for n, (_, _, key, _) in zip(first, entries)]
    for (_, path, _, _), name in zip(entries, names):
        if len(name) > MAX_NAME:
            raise DataError(f"{path}: output name of {len(name)} characters (more than "
                            f"{MAX_NAME}); list the images in a manifest next to them")
    return names
