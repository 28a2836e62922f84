"""Plain image readers (DICOM, PNG, TIFF) and point-annotation CSV readers.

Every reader returns the image as float32 in [0, 1] = ``raw / intensity_scale`` with the
scale made explicit (CONTRIBUTING.md, "Intensity scale").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._utils import missing_file_message, one_line
from .records import Annotation, DataError, Mammogram

__all__ = ["read_dicom", "read_image", "read_points_csv", "load_image"]

_DICOM_SUFFIXES = {".dcm", ".dicom", ""}


def _require_file(path):
    path = Path(path)
    if not path.is_file():
        raise DataError(missing_file_message(path))
    return path


#: Relative difference of row and column spacing above which a DICOM image is refused.
SQUARE_RTOL = 0.01


def _tag_numbers(ds, key, path):
    """Numbers of a DICOM tag (a DS multi-value), or None if absent or empty."""
    if key not in ds:
        return None
    value = ds[key].value
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        items = [] if value is None or str(value).strip() == "" else [value]
    else:
        items = list(value)
    if not items:
        return None
    try:
        numbers = [float(v) for v in items]
    except (TypeError, ValueError):
        raise DataError(f"{path}: malformed {key} {value!r} in the DICOM header") from None
    if not all(np.isfinite(numbers)):
        raise DataError(f"{path}: malformed {key} {value!r} in the DICOM header")
    return numbers


def _header_spacing(ds, path):
    """(spacing in mm, source) from a DICOM header; (None, None) if it gives none."""
    source = "PixelSpacing"
    values = _tag_numbers(ds, "PixelSpacing", path)
    if values is None:
        source = "ImagerPixelSpacing"
        values = _tag_numbers(ds, "ImagerPixelSpacing", path)
    if values is None:
        return None, None
    if len(values) not in (1, 2):
        raise DataError(f"{path}: malformed {source} {values} in the DICOM header "
                        "(expected row and column spacing)")
    row, col = values[0], values[-1]
    if abs(row - col) > SQUARE_RTOL * max(abs(row), abs(col)):
        raise DataError(f"{path}: non-square pixels ({source}: row {row:g} mm, column {col:g} "
                        f"mm, differing by more than {SQUARE_RTOL:.0%}); resample the image to "
                        "square pixels first")
    spacing = (row + col) / 2
    if source == "ImagerPixelSpacing":
        factor = _tag_numbers(ds, "EstimatedRadiographicMagnificationFactor", path)
        if factor is not None:
            if len(factor) != 1 or not factor[0] > 0:
                raise DataError(f"{path}: malformed EstimatedRadiographicMagnificationFactor "
                                f"{factor} in the DICOM header (expected one number > 0)")
            spacing /= factor[0]
            source = "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
    return float(spacing), source


def read_dicom(path, *, voi_lut=False):
    """Read a DICOM mammogram at full bit depth.

    Parameters
    ----------
    path : str or Path
    voi_lut : bool, optional
        Apply the header's VOI LUT (VOI LUT Sequence, else the first WindowCenter/WindowWidth)
        first, as a viewer shows a for-presentation image; the scale is then the LUT's output
        range. Default: the stored values.

    Returns
    -------
    image : (H, W) ndarray of float32
        ``raw / intensity_scale``, clipped to [0, 1]; MONOCHROME1 is inverted so that
        calcifications are bright.
    meta : dict
        ``intensity_scale`` (``2**BitsStored - 1``), ``pixel_spacing`` (mm per pixel, or
        None), ``spacing_source`` (see below), ``bits_stored``, ``laterality``, ``view``,
        ``patient_id``, ``manufacturer``, ``photometric`` (``PhotometricInterpretation``),
        ``presentation_intent`` (``PresentationIntentType``: ``"FOR PROCESSING"`` or ``"FOR
        PRESENTATION"``, empty if absent), ``sop_instance_uid`` and ``voi_lut`` (what was
        applied: ``"VOILUTSequence"``, ``"window"`` or ``""``).

    Raises
    ------
    DataError
        Missing file (or a folder), not a DICOM file, no pixel data, compressed pixel data without
        an installed decoder or corrupt, uncompressed pixel values above ``2**BitsStored - 1`` (pydicom
        would wrap them silently), or a malformed or non-square pixel spacing; the message
        names the file.

    Notes
    -----
    The pixel spacing is read as DICOM defines it for mammograms, first match wins
    (``spacing_source`` records which):

    1. ``PixelSpacing`` (0028,0030): spacing in the patient, already calibrated
       (``"PixelSpacing"``);
    2. ``ImagerPixelSpacing`` (0018,1164), the spacing at the detector, divided by
       ``EstimatedRadiographicMagnificationFactor`` (0018,1114) if present, which gives
       the spacing at the breast (``"ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"``);
    3. ``ImagerPixelSpacing`` alone (``"ImagerPixelSpacing"``);
    4. none: ``pixel_spacing`` and ``spacing_source`` are None (the caller must give it).

    No VOI LUT or window is applied unless asked (`voi_lut`): the analysis uses the stored
    values (``raw / (2**BitsStored - 1)``), MONOCHROME1 inverted.

    Row and column spacing (the two values of the tag) that differ by more than 1% are
    refused: the method needs square pixels, and one number cannot describe such an image
    (resample it to square pixels first). Within 1%, their mean is used. Plausibility
    (0.02-0.5 mm) is not checked here but by the consumers
    (:func:`hdogreg.spacing.check_pixel_spacing`), so that a reader reports the header as it
    is.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = _require_file(path)
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        why = str(exc).replace(" Use force=True to force reading.", "")   # pydicom's own option
        raise DataError(f"{path}: not a readable DICOM file ({why})") from exc
    except Exception as exc:  # truncated or corrupt files raise various errors
        raise DataError(f"{path}: unreadable DICOM file ({type(exc).__name__}: {exc})") from exc
    if "PixelData" not in ds:
        raise DataError(f"{path}: DICOM file has no pixel data")
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    try:
        raw = ds.pixel_array
    except Exception as exc:
        raise DataError(f"{path}: {_undecodable(tsyntax, exc)}") from exc
    if raw.ndim != 2:
        raise DataError(f"{path}: expected a single 2-D grey-level frame, got pixel array shape {raw.shape}")
    bits = int(ds.get("BitsStored", raw.dtype.itemsize * 8))
    scale = float(2**bits - 1)
    _check_bits_stored(ds, bits, tsyntax, path)
    voi = ""
    if voi_lut:
        raw, scale, voi = _apply_voi(raw, ds, bits, path)
    image = raw.astype(np.float32)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "MONOCHROME1":
        image = scale - image
    image = np.clip(image / np.float32(scale), 0.0, 1.0)
    spacing, source = _header_spacing(ds, path)
    meta = {
        "voi_lut": voi,
        "intensity_scale": scale,
        "pixel_spacing": spacing,
        "spacing_source": source,
        "bits_stored": bits,
        "laterality": str(ds.get("ImageLaterality", ds.get("Laterality", "")) or ""),
        "view": str(ds.get("ViewPosition", "") or ""),
        "patient_id": str(ds.get("PatientID", "") or ""),
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "photometric": photometric,
        "presentation_intent": str(ds.get("PresentationIntentType", "") or ""),
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "") or ""),
    }
    return image, meta


def _decoder_available(tsyntax):
    """Return True if pydicom has a working decoder plugin for the transfer syntax `tsyntax`."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(tsyntax).is_available)
    except (NotImplementedError, ValueError):   # a syntax pydicom cannot decode at all
        return False


def _undecodable(tsyntax, exc):
    """Say in one line why ``ds.pixel_array`` failed: a missing decoder or corrupt pixel data."""
    reason = f"{type(exc).__name__}: {one_line(exc)}"
    if tsyntax is None or not tsyntax.is_compressed:
        return f"pixel data cannot be decoded ({reason})"
    if not _decoder_available(tsyntax):
        return (f"compressed pixel data ({tsyntax.name}) cannot be decoded: no decoder for it is "
                "installed (install pylibjpeg with its plugins, or gdcm)")
    return f"compressed pixel data ({tsyntax.name}) are corrupt or not decodable ({reason})"


def _apply_voi(raw, ds, bits, path):
    """``(values, scale, what)`` after the header's VOI LUT or, lacking one, its first window.

    The output range of a VOI LUT is that of its entries (``2**bits - 1``, LUT Descriptor);
    of a linear window ``[0, 2**BitsStored - 1]`` (unsigned data without a modality LUT or
    rescale, the case of mammograms).
    """
    from pydicom.pixels import apply_voi_lut

    if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        depth = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return apply_voi_lut(raw, ds, prefer_lut=True), float(2**depth - 1), "VOILUTSequence"
    if "WindowCenter" in ds and "WindowWidth" in ds:
        if int(ds.get("PixelRepresentation", 0)) != 0 or "ModalityLUTSequence" in ds \
                or "RescaleSlope" in ds:
            raise DataError(f"{path}: a window of signed or rescaled pixel data is not supported; "
                            "segment the stored values (no VOI LUT)")
        return apply_voi_lut(raw, ds, prefer_lut=False), float(2**bits - 1), "window"
    raise DataError(f"{path}: a VOI LUT was asked for but the header has neither a VOI LUT "
                    "Sequence nor WindowCenter/WindowWidth")


def _check_bits_stored(ds, bits, tsyntax, path):
    """Raise if uncompressed pixel data hold values above ``2**BitsStored - 1``.

    pydicom masks the bits above ``BitsStored``, so such values would wrap silently into
    unrelated grey levels (5000 in a 12-bit image becomes 904). Only the native (uncompressed)
    encodings are checked: a decoder's output has no bits to spare.
    """
    allocated = int(ds.get("BitsAllocated", 16))
    if tsyntax is None or tsyntax.is_compressed or bits >= allocated or allocated not in (8, 16, 32):
        return
    if int(ds.get("PixelRepresentation", 0)) != 0:
        return          # signed data: the sign bit is the highest stored bit
    order = ">" if not tsyntax.is_little_endian else "<"
    words = np.frombuffer(ds.PixelData, dtype=f"{order}u{allocated // 8}")
    peak = int(words[:int(ds.Rows) * int(ds.Columns)].max(initial=0))
    if peak > 2**bits - 1:
        raise DataError(f"{path}: pixel values up to {peak} exceed BitsStored = {bits} (maximum "
                        f"{2**bits - 1}); the header's BitsStored is wrong or the pixel data are "
                        "corrupt (they would wrap into other grey levels)")


def read_image(path, pixel_spacing=None, *, intensity_scale=None, voi_lut=False):
    """Read a DICOM, PNG or TIFF image as float32 in [0, 1].

    Parameters
    ----------
    path : str or Path
    pixel_spacing : float, optional
        mm per pixel. Required for PNG/TIFF; for DICOM it overrides the header (which is
        read as in :func:`read_dicom`).
    intensity_scale : float, optional
        Divisor for the raw values of a PNG/TIFF (e.g. 4095 for 12-bit data stored in 16-bit
        words). Default: the dtype maximum for integer PNG/TIFF, 1 for float images. DICOM
        takes it from the header (``2**BitsStored - 1``). PNG/TIFF values outside ``[0,
        intensity_scale]`` (a float image outside [0, 1]) raise DataError: they are not
        clipped.
    voi_lut : bool, optional
        DICOM only: apply the VOI LUT or window of the header (:func:`read_dicom`).

    Returns
    -------
    image : ndarray of float32
    meta : dict
        ``intensity_scale``, ``pixel_spacing`` (finite, > 0; its plausibility is checked by
        the pipeline), ``spacing_source`` (``"given"`` when `pixel_spacing` was passed,
        else the DICOM tag it came from, see :func:`read_dicom`) and (DICOM) header fields.
    """
    path = _require_file(path)
    suffix = path.suffix.lower()
    if suffix in (".png", ".tif", ".tiff"):
        try:
            if suffix == ".png":
                import imageio.v3 as iio

                raw = np.asarray(iio.imread(path.read_bytes(), extension=".png"))
            else:
                import tifffile

                with tifffile.TiffFile(path) as tif:
                    raw = np.asarray(tif.asarray())
        except Exception as exc:
            raise DataError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from exc
        if raw.ndim == 3 and raw.shape[-1] in (3, 4):
            if not (np.all(raw[..., 0] == raw[..., 1]) and np.all(raw[..., 1] == raw[..., 2])):
                raise DataError(f"{path}: colour image; expected a grey-level mammogram")
            raw = raw[..., 0]
        if raw.ndim != 2:
            raise DataError(f"{path}: expected a 2-D grey-level image, got shape {raw.shape}")
        if pixel_spacing is None:
            raise DataError(f"{path}: pixel_spacing must be given for {suffix} images")
        image, intensity_scale = _plain_intensities(raw, intensity_scale, path)
        meta = {"intensity_scale": float(intensity_scale)}
    else:
        image, meta = read_dicom(path, voi_lut=voi_lut)
        if intensity_scale is not None:
            raise ValueError("intensity_scale is taken from the DICOM header (BitsStored)")
        if pixel_spacing is None:
            pixel_spacing = meta["pixel_spacing"]
            if pixel_spacing is None:
                raise DataError(f"{path}: the DICOM header gives no pixel spacing (neither "
                                "PixelSpacing nor ImagerPixelSpacing); give it (pixel_spacing=, "
                                "on the command line --pixel-spacing MM)")
        else:
            meta["spacing_source"] = "given"
    meta.setdefault("spacing_source", "given")
    try:
        pixel_spacing = float(pixel_spacing)
    except (TypeError, ValueError):
        raise ValueError(f"pixel_spacing must be a number of mm, got {pixel_spacing!r}") from None
    if not (np.isfinite(pixel_spacing) and pixel_spacing > 0):
        if meta["spacing_source"] != "given":
            raise DataError(f"{path}: {meta['spacing_source']} {pixel_spacing:g} mm in the DICOM "
                            "header is not a pixel spacing; give it (pixel_spacing=, on the "
                            "command line --pixel-spacing MM)")
        raise ValueError(f"pixel_spacing must be a finite number > 0 mm, got {pixel_spacing}")
    meta["pixel_spacing"] = pixel_spacing
    return image, meta


def _plain_intensities(raw, intensity_scale, path):
    """``(raw / intensity_scale as float32, intensity_scale)`` of a PNG/TIFF array.

    Values outside ``[0, intensity_scale]`` are an error rather than clipped: a float image
    beyond [0, 1] or 16-bit words above the stated scale (e.g. ``--intensity-scale 4095`` for
    data that are not 12-bit) would otherwise be analysed as saturated pixels.
    """
    if raw.dtype.kind not in "uif":
        raise DataError(f"{path}: unsupported pixel type {raw.dtype}")
    given = intensity_scale is not None
    if not given:
        intensity_scale = float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else 1.0
    intensity_scale = float(intensity_scale)
    if not (np.isfinite(intensity_scale) and intensity_scale > 0):
        raise ValueError(f"intensity_scale must be a finite number > 0, got {intensity_scale}")
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise DataError(f"{path}: image contains NaN or infinite values")
    lo, hi = (raw.min(), raw.max()) if raw.size else (0, 0)
    if lo < 0 or hi > intensity_scale:
        what = (f"intensity scale {intensity_scale:g} (intensity_scale=, on the command line "
                "--intensity-scale)" if given or raw.dtype.kind != "f"
                else "[0, 1] expected of a floating-point image; give its scale (intensity_scale=, "
                "on the command line --intensity-scale)")
        raise DataError(f"{path}: pixel values {lo:g}..{hi:g} lie outside [0, "
                        f"{intensity_scale:g}], the {what}")
    return raw.astype(np.float32) / np.float32(intensity_scale), intensity_scale


def read_points_csv(path, image=None):
    """Read single-pixel point annotations from a CSV with columns ``x, y[, image]``.

    ``x`` is the column and ``y`` the row (INbreast convention).

    Parameters
    ----------
    path : str or Path
    image : str, optional
        Keep only rows whose ``image`` column equals this (file name or stem).

    Returns
    -------
    points : DataFrame
        Columns ``x``, ``y`` (float) and ``image`` (str) if present.
    """
    path = _require_file(path)
    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"{path}: unreadable CSV ({type(exc).__name__}: {exc})") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for col in ("x", "y"):
        if col not in frame:
            raise DataError(f"{path}: missing column {col!r} (expected x, y[, image])")
    xy = frame[["x", "y"]].apply(pd.to_numeric, errors="coerce")
    if xy.isna().any().any():
        bad = int(np.flatnonzero(xy.isna().any(axis=1))[0])
        raise DataError(f"{path}: non-numeric or missing x/y in data row {bad + 1}")
    frame[["x", "y"]] = xy.astype(float)
    if "image" in frame:
        frame["image"] = frame["image"].astype(str)
        if image is not None:
            key = str(image)
            stem = frame["image"].map(lambda s: Path(s).stem)
            frame = frame[(frame["image"] == key) | (stem == Path(key).stem)]
    elif image is not None:
        raise DataError(f"{path}: no 'image' column to select image {image!r}")
    return frame.reset_index(drop=True)


def points_to_annotations(points, shape=None, *, source="points"):
    """Annotations from a table of ``x`` (column), ``y`` (row); checks they lie inside `shape`."""
    anns = []
    for x, y in zip(points["x"].to_numpy(float), points["y"].to_numpy(float)):
        if shape is not None:
            r, c = round(y), round(x)
            if not (0 <= r < shape[0] and 0 <= c < shape[1]):
                raise DataError(f"{source}: point (x={x:g}, y={y:g}) lies outside the image "
                                f"of {shape[1]}x{shape[0]} (width x height)")
        anns.append(Annotation("point", np.array([[y, x]])))
    return anns


def load_image(path, pixel_spacing=None, *, points=None, intensity_scale=None,
               laterality="", view="", patient_id="", vendor=None):
    """Read a plain image (and optional point CSV) into a :class:`Mammogram`.

    Parameters
    ----------
    path : str or Path
        DICOM, PNG or TIFF image.
    pixel_spacing : float, optional
        mm per pixel (required unless a DICOM header gives it).
    points : str or Path or DataFrame, optional
        Point annotations (``x``, ``y``[, ``image``]); rows of other images are ignored.
    """
    path = Path(path)
    image, meta = read_image(path, pixel_spacing, intensity_scale=intensity_scale)
    anns = []
    if points is not None:
        if isinstance(points, (str, Path)):
            source = str(points)
            table = read_points_csv(points)
        else:
            source, table = "points", points
        if "image" in table:
            stems = table["image"].astype(str).map(lambda s: Path(s).stem)
            table = table[(table["image"].astype(str) == path.name) | (stems == path.stem)]
        anns = points_to_annotations(table, image.shape, source=source)
    return Mammogram(image=image, pixel_spacing=meta["pixel_spacing"], file_id=path.stem,
                     patient_id=patient_id or meta.get("patient_id", ""),
                     laterality=laterality or meta.get("laterality", ""),
                     view=view or meta.get("view", ""), annotations=anns,
                     intensity_scale=meta["intensity_scale"], path=path,
                     vendor=vendor or meta.get("manufacturer") or None)
