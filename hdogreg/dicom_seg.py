"""DICOM Segmentation objects of a segmentation mask, made with highdicom.

A mammogram is a projection radiograph: it has no Frame of Reference and no plane position or
orientation, so its segmentation is tied to it by pixel indices - same rows and columns, the
source image referenced by its SOP Instance UID (Derivation Image Sequence, Spatial Locations
Preserved ``YES``) - as highdicom documents for source images without a Frame of Reference
(one frame per segment). The Pixel Measures functional group is left out: for a projection
image it would carry a pixel spacing without a slice thickness, which highdicom's own reader
(0.28) refuses; the spacing is in the source image.

The object is a deterministic function of the source header, the mask and `uid_seed`
(the model digest and settings): UIDs are hashes, dates and times are the source image's
content (or study) date and time, so a rerun writes the same bytes and an archive receiving it
twice keeps one instance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_dicom_seg", "read_dicom_seg", "SEGMENT_LABEL"]

#: Label of the one segment of the SEG.
SEGMENT_LABEL = "microcalcification"

#: Patient and study attributes a source image may lack (Type 2 in the SEG): written empty.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _uid(*parts):
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _source_header(source):
    """Read the source's header without pixel data, Type 2 gaps filled, no pixel spacing."""
    import pydicom

    ds = pydicom.dcmread(source, stop_before_pixels=True)
    for key in _TYPE2:
        if key not in ds:
            setattr(ds, key, "")
    if "SOPInstanceUID" not in ds:
        raise ValueError(f"{source}: the DICOM header has no SOPInstanceUID to reference")
    for key in ("StudyInstanceUID", "SeriesInstanceUID"):   # Type 1; minimal files lack them
        if key not in ds:
            setattr(ds, key, _uid(key, ds.SOPInstanceUID))
    for key in ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"):
        if key in ds:
            delattr(ds, key)
    return ds


def _segment_description(software_version):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(
        name="hdogreg HDoG + proximity regression", version=software_version,
        family=codes.cid7162.ArtificialIntelligence)
    return hd.seg.SegmentDescription(
        segment_number=1, segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.IndividualCalcification,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm)


def _fix_volatile(seg, source, uid_seed):
    """Replace the creation times and random UIDs highdicom adds by reproducible values."""
    date = str(source.get("ContentDate") or source.get("StudyDate") or "")
    time = str(source.get("ContentTime") or source.get("StudyTime") or "")
    if date:
        for key in ("ContentDate", "SeriesDate", "InstanceCreationDate"):
            setattr(seg, key, date)
        for key in ("ContentTime", "SeriesTime", "InstanceCreationTime"):
            setattr(seg, key, time or "000000")
        for item in seg.get("ContributingEquipmentSequence", []):
            if "ContributionDateTime" in item:
                item.ContributionDateTime = date + (time or "000000")
    dim_uid = _uid("dimension", *uid_seed)
    for key in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        for item in seg.get(key, []):
            item.DimensionOrganizationUID = dim_uid


def write_dicom_seg(path, mask, source, *, uid_seed=(), software_version=""):
    """Write a binary DICOM Segmentation of `mask` that references the `source` image.

    Parameters
    ----------
    path : str or Path
        Output file (written as is; commit it atomically from the caller).
    mask : (H, W) array_like of bool
        Segmentation on the source image's grid.
    source : str or Path
        The DICOM image that was segmented.
    uid_seed : sequence, optional
        What the SEG's UIDs are derived from besides the source SOP Instance UID (e.g. the
        model digest and the settings): another seed gives another SOP Instance UID.
    software_version : str, optional
        Recorded as the software version and the algorithm's version.

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        If the mask's shape is not the source's (Rows, Columns).
    """
    import highdicom as hd

    from hdogreg import __version__

    software_version = software_version or __version__
    mask = np.asarray(mask, bool)
    src = _source_header(source)
    if mask.shape != (int(src.Rows), int(src.Columns)):
        raise ValueError(f"{source}: mask shape {mask.shape} differs from the image's "
                         f"{(int(src.Rows), int(src.Columns))}")
    seed = (src.SOPInstanceUID, *uid_seed)
    seg = hd.seg.Segmentation(
        source_images=[src], pixel_array=mask[None].astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(software_version)],
        series_instance_uid=_uid("seg-series", *seed), series_number=9901,
        sop_instance_uid=_uid("seg", *seed), instance_number=1,
        manufacturer="hdogreg", manufacturer_model_name="hdogreg segment",
        software_versions=software_version, device_serial_number="0",
        series_description="hdogreg microcalcifications", omit_empty_frames=False)
    _fix_volatile(seg, src, seed)
    path = Path(path)
    seg.save_as(path, enforce_file_format=True)
    return path


def read_dicom_seg(path):
    """Read a segmentation written by :func:`write_dicom_seg`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    mask : (H, W) ndarray of bool
    source_uid : str
        SOP Instance UID of the referenced source image.
    """
    import highdicom as hd

    seg = hd.seg.segread(path)
    (_, _, source_uid), = seg.get_source_image_uids()
    return np.asarray(seg.pixel_array, bool).reshape(int(seg.Rows), int(seg.Columns)), source_uid
