"""Output folder of a cohort: one folder per image, committed whole.

Layout of ``OUT``::

    OUT/cohort.parquet, OUT/cohort.csv     one row per image (hdogreg.cohort.run)
    OUT/images/<name>/mask.png             segmentation mask (8-bit, 0 / 255)
                     /overlay.png          the image with the MC outlines in red
                     /mcs.csv              one row per MC (hdogreg.pipeline.mc_table)
                     /seg.dcm              DICOM Segmentation (DICOM inputs only)
                     /outputs.json         record: input, model digest, settings, summary

An image's files are written into a temporary folder ``OUT/images/.tmp-*`` and renamed into
place (:func:`commit_folder`), so an interrupted run leaves either all of them or none. Files
and folders get the permissions of the user's umask.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from hdogreg._utils import current_umask
from hdogreg.data.records import DataError

__all__ = ["IMAGES_DIR", "FILES", "RECORD", "check_out_dir", "image_folder", "read_record",
           "staging_folder", "commit_folder", "remove_stale", "write_result_files", "write_record"]

#: Subfolder of the output folder holding one folder per image.
IMAGES_DIR = "images"

#: Files of an image's folder.
FILES = {"mask": "mask.png", "overlay": "overlay.png", "mcs": "mcs.csv", "seg": "seg.dcm"}

#: The record of an image's outputs (written last into its folder).
RECORD = "outputs.json"

_TMP_PREFIX, _OLD_PREFIX = ".tmp-", ".old-"


def check_out_dir(out_dir):
    """Create the output folder if needed and check that it can be written to.

    Parameters
    ----------
    out_dir : str or Path

    Returns
    -------
    out_dir : Path

    Raises
    ------
    DataError
        If `out_dir` is a file, cannot be created, or is not writable (checked by creating
        and removing a probe file).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: output folder is a file")
    try:
        (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir / IMAGES_DIR):
            pass
    except OSError as exc:
        raise DataError(f"{out_dir}: output folder is not writable ({exc.strerror or exc})") from None
    return out_dir


def image_folder(out_dir, name):
    """Folder of an image's outputs."""
    return Path(out_dir) / IMAGES_DIR / name


def read_record(out_dir, name):
    """Return the record of an image's committed outputs, or None (none, or unreadable)."""
    try:
        return json.loads((image_folder(out_dir, name) / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _apply_umask(folder):
    """Give `folder` and its files the modes the umask allows (mkdtemp makes them 0700)."""
    mask = current_umask()
    for path in folder.iterdir():
        path.chmod(0o666 & ~mask)
    folder.chmod(0o777 & ~mask)


@contextlib.contextmanager
def staging_folder(out_dir, name):
    """Yield a new temporary folder for an image's files; it is removed unless committed."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{name[:60]}-", dir=Path(out_dir) / IMAGES_DIR))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def commit_folder(tmp, out_dir, name):
    """Move the staged folder `tmp` to the image's folder, replacing an older one.

    The old folder is first renamed aside and removed after the new one is in place: at every
    moment the image's folder is either complete (old or new) or absent.
    """
    final = image_folder(out_dir, name)
    _apply_umask(tmp)
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{_OLD_PREFIX}{name[:60]}-", dir=final.parent))
        os.replace(final, old / "x")
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale(out_dir):
    """Remove temporary folders left by a killed run (one run per output folder at a time)."""
    for path in (Path(out_dir) / IMAGES_DIR).glob(".*"):
        if path.is_dir() and path.name.startswith((_TMP_PREFIX, _OLD_PREFIX)):
            shutil.rmtree(path, ignore_errors=True)


def write_result_files(folder, image, result, *, source_dicom=None, uid_seed=()):
    """Write an image's mask, overlay, MC table (and DICOM-SEG) into `folder`.

    Parameters
    ----------
    folder : Path
        A staging folder (:func:`staging_folder`).
    image : (H, W) ndarray of float
        The input image.
    result : hdogreg.pipeline.SegmentationResult
    source_dicom : str or Path, optional
        The DICOM file of the image: a DICOM Segmentation referencing it is written too
        (:func:`hdogreg.dicom_seg.write_dicom_seg`).
    uid_seed : sequence, optional
        What the SEG's UIDs are derived from (model digest, settings).

    Returns
    -------
    files : list of str
        Names of the files written.
    """
    import imageio.v3 as iio
    import numpy as np

    from hdogreg.pipeline import overlay_image

    mask = result.mask.astype(np.uint8) * 255
    overlay = overlay_image(image, result.labels, breast=result.breast)
    # Fast zlib level: a full-field RGB overlay takes seconds at the default level.
    iio.imwrite(folder / FILES["mask"], mask, extension=".png", compress_level=1)
    iio.imwrite(folder / FILES["overlay"], overlay, extension=".png", compress_level=1)
    result.table.to_csv(folder / FILES["mcs"], index=False, float_format="%.6g")
    files = [FILES["mask"], FILES["overlay"], FILES["mcs"]]
    if source_dicom is not None:
        from hdogreg.dicom_seg import write_dicom_seg

        write_dicom_seg(folder / FILES["seg"], result.mask, source_dicom, uid_seed=uid_seed)
        files.append(FILES["seg"])
    return files


def write_record(folder, record):
    """Write the record (JSON) of an image's outputs into its staging folder."""
    (folder / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
