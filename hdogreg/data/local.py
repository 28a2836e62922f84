"""Readers for the point-annotated 'local' set and the case-study cohort.

Local layout (the paper's second vendor, single-pixel annotations)::

    root/images/<image>.dcm       DICOM (12-bit Hologic-like for the synthetic set)
    root/annotations.csv          x, y, image   (x = column, y = row)
    root/images.csv               image, patient_id, laterality, view   (optional)
    root/splits.csv               image, patient_id, split              (optional)

Case-study layout::

    root/cohort.csv               roi_id, patient_id, image, x0, y0, x1, y1, label, pixel_spacing
    root/images/<roi_id>.dcm
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._utils import missing_file_message
from .io import load_image, read_points_csv
from .records import DataError

__all__ = ["LocalDataset", "read_casestudy_cohort"]


class LocalDataset:
    """Lazy view of a folder of images with point annotations in one CSV.

    Parameters
    ----------
    root : str or Path
        Folder with ``images/`` and ``annotations.csv``.
    pixel_spacing : float, optional
        mm per pixel for images whose header lacks it (PNG/TIFF).
    vendor : str, optional

    Attributes
    ----------
    table : DataFrame
        ``file_id`` (image stem), ``image`` (path), ``patient_id``, ``laterality``, ``view``,
        ``split`` (if ``splits.csv`` exists), ``n_points``.
    """

    def __init__(self, root, pixel_spacing=None, *, vendor="Hologic"):
        self.root = Path(root)
        img_dir = self.root / "images"
        if not img_dir.is_dir():
            raise DataError(f"{img_dir}: folder not found")
        paths = sorted(p for p in img_dir.iterdir()
                       if p.suffix.lower() in (".dcm", ".png", ".tif", ".tiff"))
        if not paths:
            raise DataError(f"{img_dir}: no images")
        table = pd.DataFrame({"file_id": [p.stem for p in paths], "image": paths})
        info = self.root / "images.csv"
        if info.is_file():
            meta = pd.read_csv(info, dtype=str)
            meta["file_id"] = meta["image"].map(lambda s: Path(s).stem)
            table = table.merge(meta.drop(columns=["image"]), on="file_id", how="left")
        splits = self.root / "splits.csv"
        if splits.is_file():
            s = pd.read_csv(splits, dtype=str)
            s["file_id"] = s["image"].map(lambda v: Path(v).stem)
            table = table.merge(s[["file_id", "split"]], on="file_id", how="left")
        ann = self.root / "annotations.csv"
        self.points = read_points_csv(ann) if ann.is_file() else pd.DataFrame(columns=["x", "y", "image"])
        if len(self.points) and "image" not in self.points:
            raise DataError(f"{ann}: needs an 'image' column")
        stems = (self.points["image"].map(lambda s: Path(s).stem) if len(self.points)
                 else pd.Series([], dtype=str))
        table["n_points"] = table["file_id"].map(stems.value_counts()).fillna(0).astype(int)
        self.table = table
        self.pixel_spacing = pixel_spacing
        self.vendor = vendor

    def __len__(self):
        return len(self.table)

    def file_ids(self, split=None):
        """Return the image stems, all or those of one `split` (needs ``splits.csv``)."""
        t = self.table
        if split is not None:
            if "split" not in t:
                raise ValueError(f"{self.root}: no splits.csv")
            t = t[t["split"] == split]
        return list(t["file_id"])

    def load(self, file_id):
        """Read one image with its point annotations as a Mammogram."""
        hit = self.table[self.table["file_id"] == str(file_id)]
        if hit.empty:
            raise KeyError(f"{self.root}: no image {file_id!r}")
        row = hit.iloc[0]
        stems = self.points["image"].map(lambda s: Path(s).stem) if len(self.points) else None
        pts = self.points[stems == row["file_id"]] if stems is not None else self.points
        mg = load_image(row["image"], self.pixel_spacing, points=pts.drop(columns=["image"], errors="ignore"),
                        vendor=self.vendor)
        for key in ("patient_id", "laterality", "view"):
            if key in row and isinstance(row[key], str) and row[key]:
                setattr(mg, key, row[key])
        mg.file_id = row["file_id"]
        return mg

    def iter_images(self, split=None, *, progress=None):
        """Load the images of :meth:`file_ids` one by one, with a progress bar."""
        from tqdm import tqdm

        disable = None if progress is None else not progress
        for fid in tqdm(self.file_ids(split), desc="images", disable=disable):
            yield self.load(fid)


def read_casestudy_cohort(root):
    """Read ``cohort.csv`` of a case-study folder; ``image`` becomes an absolute Path.

    Returns a DataFrame: ``roi_id, patient_id, image, x0, y0, x1, y1, label, pixel_spacing``
    (box half-open, x = column, y = row).
    """
    root = Path(root)
    path = root / "cohort.csv" if root.is_dir() else root
    if not path.is_file():
        raise DataError(missing_file_message(path))
    frame = pd.read_csv(path, dtype={"roi_id": str, "patient_id": str, "image": str})
    need = {"roi_id", "patient_id", "image", "x0", "y0", "x1", "y1", "label"}
    if need - set(frame):
        raise DataError(f"{path}: missing columns {sorted(need - set(frame))}")
    frame["image"] = frame["image"].map(lambda s: path.parent / s)
    return frame
