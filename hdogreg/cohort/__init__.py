"""Cohorts: resumable batch segmentation, on Dask, with outputs that clinical tools open.

>>> from hdogreg.cohort import collect_inputs, run_cohort          # doctest: +SKIP
>>> inputs = collect_inputs(["scans/", "more/*.dcm", "manifest.csv"], exclude="out")  # doctest: +SKIP
>>> result = run_cohort(inputs, "out", "model.pt", params, workers=2)                 # doctest: +SKIP
>>> result.table[["name", "status", "n_mcs"]]                                         # doctest: +SKIP

:mod:`~hdogreg.cohort.inputs` finds the images and names their outputs uniquely and
reversibly; :mod:`~hdogreg.cohort.outputs` lays out and commits an image's files whole;
:mod:`~hdogreg.cohort.run` segments them (in this process or on a Dask cluster), skips those
already done and writes the cohort table. The DICOM Segmentation objects are made by
:mod:`hdogreg.dicom_seg`.
"""

from .inputs import CohortInput, collect_inputs, decode_name, encode_name, read_manifest
from .outputs import FILES, IMAGES_DIR, RECORD, check_out_dir, image_folder, read_record
from .run import (
                  ROW_COLUMNS,
                  CohortResult,
                  cluster_spec,
                  error_message,
                  image_summary,
                  model_digest,
                  read_input,
                  run_cohort,
                  run_settings,
                  segment_input,
)

__all__ = [
    "CohortInput", "collect_inputs", "decode_name", "encode_name", "read_manifest",
    "FILES", "IMAGES_DIR", "RECORD", "check_out_dir", "image_folder", "read_record",
    "ROW_COLUMNS", "CohortResult", "cluster_spec", "error_message", "image_summary", "model_digest",
    "read_input", "run_cohort", "run_settings", "segment_input",
]
