"""Reader for the INbreast layout (real INbreast or the synthetic benchmark).

Layout::

    root/AllDICOMs/<fileid>_<patientid>_MG_<L|R>_<CC|ML|MLO>_ANON.dcm
    root/AllXML/<fileid>.xml          Apple plist: Images -> ROIs -> {Name, Point_px, ...}
    root/INbreast.csv                 metadata sheet, ';'-separated (optional)
    root/splits.csv                   file_id, patient_id, split (optional)

``Point_px`` holds ``"(x, y)"`` strings with x = column and y = row. A calcification ROI
with one point is a point annotation (INbreast ``Type`` 19), with more points a contour
(``Type`` 15) that is rasterized as a filled polygon. Other ROI names (``Mass``,
``Cluster``, ...) are kept separately in ``Mammogram.other_annotations``.
"""

from __future__ import annotations

import plistlib
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._utils import missing_file_message
from .io import read_dicom
from .records import Annotation, DataError, DataWarning, Mammogram
from .splits import make_splits, read_splits

__all__ = ["parse_inbreast_name", "read_inbreast_xml", "read_inbreast_metadata",
           "InbreastDataset", "inbreast_splits", "METADATA_COLUMNS"]

_NAME_RE = re.compile(
    r"^(?P<file_id>[^_]+)_(?P<patient_id>[^_]+)_MG_(?P<laterality>[LR])_(?P<view>[A-Z]+)_ANON\.dcm$",
    re.IGNORECASE)
_POINT_RE = re.compile(r"^\s*\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*(?:,\s*[-+0-9.eE]+\s*)?\)\s*$")

METADATA_COLUMNS = ["Patient ID", "Patient age", "Laterality", "View", "Acquisition date",
                    "File Name", "ACR", "Bi-Rads"]


def parse_inbreast_name(name):
    """Parse an INbreast DICOM file name.

    Parameters
    ----------
    name : str or Path
        E.g. ``"20586908_6c613a14b80a8591_MG_R_CC_ANON.dcm"``.

    Returns
    -------
    dict
        ``file_id``, ``patient_id``, ``laterality`` ("L"/"R"), ``view`` ("CC", "MLO", ...).

    Examples
    --------
    >>> parse_inbreast_name("20586908_6c613a14b80a8591_MG_R_CC_ANON.dcm")["view"]
    'CC'
    """
    m = _NAME_RE.match(Path(name).name)
    if m is None:
        raise DataError(f"{name}: not an INbreast DICOM name "
                        "(<fileid>_<patientid>_MG_<L|R>_<view>_ANON.dcm)")
    out = m.groupdict()
    out["laterality"] = out["laterality"].upper()
    out["view"] = out["view"].upper()
    return out


def _parse_point(text, path, i):
    m = _POINT_RE.match(str(text))
    if m is None:
        raise DataError(f"{path}: ROI {i}: malformed point {text!r} (expected '(x, y)')")
    x, y = float(m.group(1)), float(m.group(2))
    return y, x  # (row, col)


def read_inbreast_xml(path, shape=None):
    """Read the ROIs of one INbreast XML (plist) file.

    Parameters
    ----------
    path : str or Path
    shape : tuple of int, optional
        Image shape; if given, every calcification point must lie inside the image. Points
        of other ROIs outside it are clipped onto the image edge, with a :class:`DataWarning`
        naming the file and the ROI: real INbreast files have masses touching the edge and a
        spiculated-region ellipse reaching 80 px beyond it.

    Returns
    -------
    calcifications : list of Annotation
        ``"point"`` for one-point ROIs, ``"contour"`` for more points.
    others : list of Annotation
        Every other ROI (masses, clusters, ...), with its ``Name``.

    Raises
    ------
    DataError
        Missing file, malformed XML/plist, unexpected structure, a malformed point, a
        calcification with an empty ``Point_px`` (empty polygon), or a calcification point
        outside the image. Empty ROIs of other names are skipped.

    Warns
    -----
    DataWarning
        For each non-calcification ROI clipped to the image (file, ROI number and name, how
        many points, how far outside).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(missing_file_message(path))
    try:
        with open(path, "rb") as fh:
            plist = plistlib.load(fh)
    except Exception as exc:
        raise DataError(f"{path}: malformed XML ({type(exc).__name__}: {exc})") from exc
    if not isinstance(plist, dict) or not isinstance(plist.get("Images"), list):
        raise DataError(f"{path}: malformed XML: expected a plist dict with an 'Images' array")
    calcs, others = [], []
    k = 0
    for img in plist["Images"]:
        rois = img.get("ROIs", []) if isinstance(img, dict) else None
        if not isinstance(rois, list):
            raise DataError(f"{path}: malformed XML: 'ROIs' is not an array")
        for roi in rois:
            k += 1
            if not isinstance(roi, dict):
                raise DataError(f"{path}: ROI {k}: malformed XML: ROI is not a dict")
            name = str(roi.get("Name", "")).strip()
            is_calc = name.lower().startswith("calcification")
            pts = roi.get("Point_px", [])
            if not isinstance(pts, list) or len(pts) == 0:
                if not is_calc:
                    continue  # an empty non-calcification ROI does not concern this reader
                raise DataError(f"{path}: ROI {k} ({name or 'unnamed'}): empty polygon (no Point_px)")
            rc = np.array([_parse_point(p, path, k) for p in pts], dtype=np.float64)
            if not np.all(np.isfinite(rc)):
                raise DataError(f"{path}: ROI {k} ({name}): non-finite point")
            if shape is not None:
                idx = np.rint(rc)
                outside = ((idx[:, 0] < 0) | (idx[:, 1] < 0)
                           | (idx[:, 0] >= shape[0]) | (idx[:, 1] >= shape[1]))
                if outside.any() and is_calc:
                    y, x = rc[np.argmax(outside)]
                    raise DataError(f"{path}: ROI {k} ({name}): point (x={x:g}, y={y:g}) lies outside "
                                    f"the image of {shape[1]}x{shape[0]} (width x height)")
                if outside.any():  # real masses / spiculated regions reach past the edge: clip them
                    far = float(np.max(np.maximum(-idx, idx - [shape[0] - 1, shape[1] - 1])))
                    warnings.warn(f"{path}: ROI {k} ({name or 'unnamed'}): {int(outside.sum())} of {len(rc)} "
                                  f"points lie outside the image of {shape[1]}x{shape[0]} (width x height), "
                                  f"up to {far:g} px past its edge; clipped to the edge",
                                  DataWarning, stacklevel=2)
                    rc = np.clip(rc, 0, [shape[0] - 1, shape[1] - 1])
            kind = "point" if len(rc) == 1 else "contour"
            ann = Annotation(kind, rc, name=name)
            (calcs if is_calc else others).append(ann)
    return calcs, others


def read_inbreast_metadata(path):
    """Read the INbreast metadata sheet (``INbreast.csv``, ';'-separated).

    Returns a DataFrame with the sheet's columns plus ``file_id`` (= ``File Name`` as str).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(missing_file_message(path))
    try:
        meta = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"{path}: unreadable metadata sheet ({type(exc).__name__}: {exc})") from exc
    meta.columns = [c.strip() for c in meta.columns]
    if "File Name" not in meta:
        raise DataError(f"{path}: metadata sheet has no 'File Name' column")
    meta["file_id"] = meta["File Name"].str.strip()
    return meta


class InbreastDataset:
    """Lazy view of an INbreast-format folder; images are read one at a time.

    Parameters
    ----------
    root : str or Path
        Folder with ``AllDICOMs/`` (and ``AllXML/``, ``INbreast.csv``, ``splits.csv``).
    splits : str or Path, optional
        A splits CSV (``file_id`` or ``patient_id`` -> ``split``); default
        ``root/splits.csv`` if it exists.
    vendor : str, optional
        Vendor recorded in the table and on each Mammogram (INbreast: Siemens).

    Attributes
    ----------
    table : DataFrame
        One row per image: ``file_id, patient_id, laterality, view, dicom, xml, vendor``
        (``xml`` is None for images without annotations), ``split`` if splits are known,
        and the metadata sheet's ``ACR`` and ``Bi-Rads`` if present.

    Examples
    --------
    >>> ds = InbreastDataset("data/synth")                      # doctest: +SKIP
    >>> mg = ds.load(ds.table.file_id[0]); mg.mc_mask().sum()    # doctest: +SKIP
    """

    def __init__(self, root, splits=None, *, vendor="Siemens"):
        self.root = Path(root)
        dicom_dir = self.root / "AllDICOMs"
        if not dicom_dir.is_dir():
            raise DataError(f"{dicom_dir}: folder not found (expected the INbreast layout)")
        rows = []
        for p in sorted(dicom_dir.iterdir()):
            if p.suffix.lower() != ".dcm":
                continue
            info = parse_inbreast_name(p)
            xml = self.root / "AllXML" / f"{info['file_id']}.xml"
            rows.append({**info, "dicom": p, "xml": xml if xml.is_file() else None, "vendor": vendor})
        if not rows:
            raise DataError(f"{dicom_dir}: no .dcm files")
        table = pd.DataFrame(rows)
        meta_path = self.root / "INbreast.csv"
        if meta_path.is_file():
            meta = read_inbreast_metadata(meta_path)
            keep = [c for c in ("ACR", "Bi-Rads") if c in meta]
            table = table.merge(meta[["file_id", *keep]].drop_duplicates("file_id"), on="file_id", how="left")
        if splits is None and (self.root / "splits.csv").is_file():
            splits = self.root / "splits.csv"
        if splits is not None:
            table = _attach_splits(table, read_splits(splits))
        self.table = table
        self.vendor = vendor

    def __len__(self):
        return len(self.table)

    def __repr__(self):
        return f"InbreastDataset({str(self.root)!r}, {len(self)} images)"

    def _row(self, file_id):
        hit = self.table.index[self.table["file_id"] == str(file_id)]
        if len(hit) == 0:
            raise KeyError(f"{self.root}: no image with file_id {file_id!r}")
        return self.table.loc[hit[0]]

    def load(self, file_id) -> Mammogram:
        """Read one image and its calcification annotations."""
        row = self._row(file_id)
        image, meta = read_dicom(row["dicom"])
        calcs, others = ([], []) if row["xml"] is None else read_inbreast_xml(row["xml"], image.shape)
        return Mammogram(image=image, pixel_spacing=meta["pixel_spacing"] or 0.07,
                         file_id=row["file_id"], patient_id=row["patient_id"],
                         laterality=row["laterality"], view=row["view"], annotations=calcs,
                         intensity_scale=meta["intensity_scale"], path=Path(row["dicom"]),
                         vendor=row["vendor"], other_annotations=others)

    def file_ids(self, split=None):
        """File ids, optionally of one split ("train", "val", "test")."""
        t = self.table
        if split is not None:
            if "split" not in t:
                raise ValueError(f"{self.root}: no splits known; pass splits=")
            t = t[t["split"] == split]
        return list(t["file_id"])

    def iter_images(self, split=None, *, progress=None):
        """Yield Mammograms one at a time (tqdm bar; ``progress=False`` silences it)."""
        from tqdm import tqdm

        ids = self.file_ids(split)
        for fid in tqdm(ids, desc="images", disable=None if progress is None else not progress):
            yield self.load(fid)

    __iter__ = iter_images


def _attach_splits(table, splits):
    if "file_id" in splits and splits["file_id"].notna().all():
        s = splits[["file_id", "split"]].drop_duplicates("file_id")
        return table.merge(s, on="file_id", how="left")
    s = splits[["patient_id", "split"]].drop_duplicates("patient_id")
    return table.merge(s, on="patient_id", how="left")


def inbreast_splits(dataset, proportions=None, seed=0, *, require_mcs=True):
    """Patient-wise splits of an INbreast-format data set, as in the paper.

    Parameters
    ----------
    dataset : InbreastDataset
    proportions : dict, optional
        Default 51/17/18 (train/val/test).
    seed : int
    require_mcs : bool
        Keep only patients with at least one calcification annotation (the paper used the
        86 INbreast cases with annotated MCs); their images without MCs are kept too.

    Returns
    -------
    DataFrame
        ``file_id, patient_id, split``.
    """
    table = dataset.table
    if require_mcs:
        has = [xml is not None and len(read_inbreast_xml(xml)[0]) > 0 for xml in table["xml"]]
        patients = set(table.loc[has, "patient_id"])
        table = table[table["patient_id"].isin(patients)]
    if table.empty:
        raise DataError(f"{dataset.root}: no images with calcification annotations")
    return make_splits(table, proportions, seed)
