"""Writers of INbreast's on-disk formats: DICOM mammograms, XML (plist) annotations, PNG masks.

Deterministic bytes: UIDs are derived from seeds, dates are fixed.
"""

from __future__ import annotations

import plistlib
from pathlib import Path

import numpy as np

from ..records import Annotation, polygon_area

__all__ = ["write_dicom", "write_inbreast_xml", "write_png", "cluster_rois"]

#: INbreast stores ROI ``Area`` in cm^2 assuming 0.07 mm pixels.
_CM2_PER_PX = 0.007**2


def _uid(*parts):
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(p) for p in parts])


def write_dicom(path, raw, *, bits, pixel_spacing, patient_id, laterality="", view="",
                manufacturer="", uid_seed=(0,), date="20100101"):
    """Write an uncompressed MONOCHROME2 mammogram DICOM (deterministic bytes).

    UIDs are derived from `uid_seed` (hashes), dates are fixed, so the same inputs give
    byte-identical files.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    from ..._utils import atomic_path

    sop_class = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image - For Presentation
    sop = _uid("sop", *uid_seed)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("hdogreg-implementation")
    from . import GENERATOR_VERSION

    meta.ImplementationVersionName = f"HDOGREG_{GENERATOR_VERSION}"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = _uid("study", patient_id, *uid_seed[:1])
    ds.SeriesInstanceUID = _uid("series", *uid_seed)
    ds.Modality = "MG"
    ds.Manufacturer = manufacturer
    ds.PatientID = str(patient_id)
    ds.PatientName = f"SYNTH^{patient_id}"
    ds.StudyDate = ds.ContentDate = date
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PixelSpacing = [f"{pixel_spacing:.6g}", f"{pixel_spacing:.6g}"]
    ds.ImagerPixelSpacing = ds.PixelSpacing
    ds.Rows, ds.Columns = raw.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(raw, dtype="<u2").tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)


def _fmt_point(row, col):
    return f"({col:.3f}, {row:.3f})"  # INbreast: "(x, y)", x = column, y = row


def _roi_dict(ann, index, raw=None, with_stats=False):
    pts = ann.points
    n = len(pts)
    stats = {"Dev": 0.0, "Max": 0.0, "Mean": 0.0, "Min": 0.0, "Total": 0.0}
    if with_stats and raw is not None:
        from ..records import rasterize_polygon

        if n == 1:
            rr, cc = np.rint(pts[:, 0]).astype(int), np.rint(pts[:, 1]).astype(int)
        else:
            rr, cc = rasterize_polygon(pts, raw.shape)
        v = raw[rr, cc].astype(float)
        stats = {"Dev": float(v.std()), "Max": float(v.max()), "Mean": float(v.mean()),
                 "Min": float(v.min()), "Total": float(v.sum())}
    roi = {
        "Area": float(0.0 if n == 1 else polygon_area(pts) * _CM2_PER_PX),
        "Center": "(0.000000, 0.000000, 0.000000)",   # as in every real INbreast file
        "IndexInImage": index,
        "Name": ann.name,
        "NumberOfPoints": n,
        "Point_mm": ["(0.000000, 0.000000, 0.000000)"] * n,
        "Point_px": [_fmt_point(r, c) for r, c in pts],
        "Type": 19 if n == 1 else 15,
        **stats,
    }
    return roi


def write_inbreast_xml(path, annotations, *, others=(), raw=None, stats_seed=None):
    """Write annotations as an INbreast XML (Apple plist) file.

    Calcifications first (ROI order = annotation order), then `others` (e.g. clusters).
    ``Area`` is in cm^2 at 0.07 mm pixels and ``Center``/``Point_mm`` are zeros, as in
    real files. Given the `raw` image, about half the ROIs (chosen with `stats_seed`) carry
    the raw pixel statistics ``Mean, Max, Min, Dev, Total``; the others all-zero ones.
    """
    from ..._utils import atomic_path

    anns = [*annotations, *others]
    rng = np.random.default_rng(stats_seed)
    with_stats = rng.random(len(anns)) < 0.5
    rois = [_roi_dict(a, i, raw, bool(s)) for i, (a, s) in enumerate(zip(anns, with_stats))]
    plist = {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois), "ROIs": rois}]}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            plistlib.dump(plist, fh, fmt=plistlib.FMT_XML, sort_keys=True)
    return Path(path)


def write_png(path, array):
    """Write a PNG atomically."""
    import imageio.v3 as iio

    from ..._utils import atomic_path

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, array, extension=".png")
    return Path(path)


def cluster_rois(sim):
    """Return one 'Cluster' ROI (convex hull of the members) per MC cluster, as INbreast has them."""
    from scipy.spatial import ConvexHull, QhullError

    out = []
    if sim.mcs.empty:
        return out
    for _, grp in sim.mcs[sim.mcs.cluster_id >= 0].groupby("cluster_id"):
        pts = grp[["row", "col"]].to_numpy(float)
        if len(pts) < 3:
            continue
        try:
            hull = pts[ConvexHull(pts).vertices]
        except QhullError:
            continue
        out.append(Annotation("contour", np.round(hull, 3), name="Cluster"))
    return out


