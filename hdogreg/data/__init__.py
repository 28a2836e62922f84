"""Data: INbreast reader, plain image / point CSV readers, splits and the synthetic benchmark.

>>> from hdogreg.data import InbreastDataset            # doctest: +SKIP
>>> ds = InbreastDataset("data/synth"); mg = ds.load(ds.file_ids()[0])   # doctest: +SKIP

The generator lives in :mod:`hdogreg.data.synth` (imported on demand; ``python -m
hdogreg.data synth --out DIR --seed N --preset default``).
"""

from .inbreast import (
    InbreastDataset,
    inbreast_splits,
    parse_inbreast_name,
    read_inbreast_metadata,
    read_inbreast_xml,
)
from .io import load_image, read_dicom, read_image, read_points_csv
from .local import LocalDataset, read_casestudy_cohort
from .records import Annotation, DataError, DataWarning, Mammogram, annotations_to_labels, rasterize_polygon
from .splits import assign_splits, make_splits, read_splits, split_counts, write_splits

__all__ = [
    "Annotation", "DataError", "DataWarning", "Mammogram", "annotations_to_labels", "rasterize_polygon",
    "InbreastDataset", "parse_inbreast_name", "read_inbreast_metadata", "read_inbreast_xml",
    "LocalDataset", "read_casestudy_cohort",
    "load_image", "read_dicom", "read_image", "read_points_csv",
    "assign_splits", "inbreast_splits", "make_splits", "read_splits", "split_counts", "write_splits",
]
