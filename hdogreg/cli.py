"""Command line: ``hdogreg segment INPUT... --out DIR``.

An INPUT is a DICOM, PNG or TIFF image, a folder (searched recursively), a glob pattern
(quoted, ``"scans/**/*.dcm"``) or a manifest (``.csv``/``.parquet`` with a ``path`` column and
optional ``patient_id``, ``study_id``, ``pixel_spacing``, ``laterality``, ``view``;
:func:`hdogreg.cohort.read_manifest`). Every image gets a folder ``DIR/images/<name>/``
(``<name>``: its path relative to the folder or manifest it was found through,
percent-encoded, unique and reversible, :func:`hdogreg.cohort.decode_name`) holding

``mask.png``
    The segmentation mask (8-bit, 0 / 255).
``overlay.png``
    The image with the outlines of the segmented microcalcifications in red.
``mcs.csv``
    One row per microcalcification (:func:`hdogreg.pipeline.mc_table`): label, centroid
    ``x`` (column) and ``y`` (row) in pixels, area in px and mm^2, major and minor axis in mm,
    mean intensity (image scale [0, 1]) and the fusion score.
``seg.dcm``
    For a DICOM input: a DICOM Segmentation referencing it (:mod:`hdogreg.dicom_seg`).
``outputs.json``
    The model digest and settings that made them.

and ``DIR/cohort.parquet`` / ``DIR/cohort.csv`` hold one row per image (status, error, MC
counts and areas, clusters, time, model digest, settings; :data:`hdogreg.cohort.ROW_COLUMNS`).
An image's folder is committed whole; an image whose outputs were made by the same model and
settings is skipped (``--force`` redoes it), so a rerun after Ctrl-C resumes.

The pixel spacing comes from the manifest, ``--pixel-spacing`` or the DICOM header
(``PixelSpacing``, else ``ImagerPixelSpacing`` divided by
``EstimatedRadiographicMagnificationFactor`` where present, :func:`hdogreg.data.io.read_dicom`);
it must be plausible (0.02-0.5 mm). An image at another spacing than the method's 0.07 mm is
resampled to 0.07 mm for the analysis; the outputs are those of the input's own grid.

A bad image prints one line ``hdogreg: error: <file>: <problem>`` to stderr and is a
``failed`` row of the cohort table; the other images are still processed and the exit status
is 1. Bad options, inputs that find no image and an unusable ``--out`` are reported before
any image is processed (exit 2). Ctrl-C or SIGTERM stops cleanly (exit 130). Inputs are never
modified.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from pathlib import Path

from hdogreg.cohort.run import WORKER_MEMORY
from hdogreg.inference import FAST_STRIDE

__all__ = ["main"]

PROG = "hdogreg"


def _load_model(path):
    from hdogreg.store import load_model

    return load_model(path)


def _error_line(path, exc):
    from hdogreg.cohort import error_message

    return f"{PROG}: error: {error_message(path, exc)}"


def _arg_type(convert, noun, accept, must):
    """Return an argparse ``type``: ``convert(text)`` if ``accept`` holds for it.

    A value `convert` refuses is "expected `noun`"; one `accept` refuses "must be `must`".
    """
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not accept(value):   # nan fails every comparison
            raise argparse.ArgumentTypeError(f"must be {must}, got {text}")
        return value
    return parse


def _positive(convert, noun):
    """Return an argparse ``type`` that converts with `convert` and accepts only values > 0."""
    return _arg_type(convert, noun, lambda v: v > 0, "> 0")


_positive_int = _positive(int, "an integer")
#: ``--p-thr`` / ``--o-thr``: a number in [0, 1].
_unit_interval = _arg_type(float, "a number in [0, 1]", lambda v: 0 <= v <= 1, "a number in [0, 1]")
#: ``--dog-threshold``: a finite number.
_dog_threshold = _arg_type(float, "a finite number", math.isfinite, "a finite number")


def _pixel_spacing(text):
    """Parse ``--pixel-spacing`` (an argparse ``type``): a plausible mm-per-pixel value."""
    from hdogreg.spacing import check_pixel_spacing

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of mm per pixel, got {text!r}") from None
    try:
        return check_pixel_spacing(value, name="")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: Inference stride of ``hdogreg segment`` (:data:`hdogreg.inference.FAST_STRIDE`).
DEFAULT_STRIDE = FAST_STRIDE


def _parser():
    from hdogreg import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Microcalcification segmentation in mammograms (HDoG + proximity "
        "regression, Marasinou et al. 2023).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    seg = sub.add_parser(
        "segment", help="segment the microcalcifications of DICOM/PNG/TIFF images",
        description="Segment microcalcifications. For each image writes DIR/images/<name>/ "
        "(mask.png, overlay.png, mcs.csv with one row per MC, seg.dcm for DICOM inputs) and "
        "DIR/cohort.parquet + cohort.csv (one row per image). Images already done with the "
        "same model and settings are skipped.")
    seg.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="DICOM, PNG or TIFF mammogram, a folder (recursive), a quoted glob "
                     "pattern, or a .csv/.parquet manifest with a 'path' column")
    seg.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    seg.add_argument("--pixel-spacing", type=_pixel_spacing, metavar="MM",
                     help="mm per pixel (0.02-0.5); required for PNG/TIFF and for DICOM without "
                     "PixelSpacing/ImagerPixelSpacing, overrides the DICOM header. Images are "
                     "analysed at the method's 0.07 mm and reported in their own pixels")
    seg.add_argument("--model", metavar="CKPT",
                     help="checkpoint (.pt with its .json) of the regression network; default "
                     "$HDOGREG_MODEL, else the model shipped with the package")
    seg.add_argument("--p-thr", type=_unit_interval, metavar="P",
                     help="threshold of the proximity map (default: the checkpoint's 'p_thr' "
                     "setting, else 10**-3.5)")
    seg.add_argument("--o-thr", type=_unit_interval, metavar="O",
                     help="overlap threshold of the fusion (default: the checkpoint's 'o_thr' "
                     "setting, else 0.3)")
    seg.add_argument("--dog-threshold", type=_dog_threshold, metavar="T",
                     help="DoG threshold of the blob segmentation on the standardised scale "
                     "(default: the checkpoint's 'dog_threshold' setting, chosen with its 'p_thr' "
                     "on validation data, else 0.006)")
    seg.add_argument("--window", type=_positive_int, default=512, help="inference window (px)")
    seg.add_argument("--stride", type=_positive_int, default=DEFAULT_STRIDE,
                     help=f"inference stride (px); default {DEFAULT_STRIDE} for speed on a CPU (the "
                          "paper's evaluation uses 256; Hann blending leaves no seams at either)")
    seg.add_argument("--batch-size", type=_positive_int, default=4, help="windows per batch")
    seg.add_argument("--intensity-scale", type=_positive(float, "a number"), metavar="S",
                     help="divisor of PNG/TIFF values, e.g. 4095 for 12-bit data in 16-bit files "
                     "(default: the type's maximum, 1 for float images; DICOM: BitsStored)")
    seg.add_argument("--voi-lut", action="store_true",
                     help="DICOM: apply the header's VOI LUT or window first (default: the stored "
                     "values, as the method was trained)")
    seg.add_argument("--force", action="store_true",
                     help="redo images whose outputs exist with the same model and settings")
    seg.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                     help="local Dask worker processes (default: as many as cores and memory "
                     f"allow, {WORKER_MEMORY / 2**30:g} GiB each; 1: in this process)")
    seg.add_argument("--scheduler", metavar="ADDRESS",
                     help="run on an existing Dask cluster (e.g. tcp://host:8786) whose workers "
                     "see the inputs and --out at the same paths")
    seg.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _report(row):
    from tqdm import tqdm

    if row["status"] == "failed":
        tqdm.write(f"{PROG}: error: {row['error']}", file=sys.stderr)   # keeps the bar intact


def main(argv=None):
    """Entry point of the ``hdogreg`` command. Returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "segment":  # pragma: no cover - argparse enforces the choices
        parser.error(f"unknown command {args.command}")

    from hdogreg.cohort import check_out_dir, collect_inputs, model_digest, run_cohort
    from hdogreg.data import DataError
    from hdogreg.pipeline import SegmentParams
    from hdogreg.store import default_model_path

    model_path = Path(args.model) if args.model else default_model_path()
    try:
        model, settings = _load_model(model_path)
    except FileNotFoundError as exc:
        print(_error_line(model_path, exc) + "; pass --model CKPT", file=sys.stderr)
        return 2
    except Exception as exc:
        print(_error_line(model_path, exc), file=sys.stderr)
        return 2
    if args.window % 32 or args.stride > args.window:
        parser.error(f"--window must be a multiple of 32 and --stride <= --window, got "
                     f"{args.window} and {args.stride}")
    try:
        # The checkpoint's standardisation and validated operating point (recorded by
        # training): the network must see images as it saw them in training.
        params = SegmentParams.from_checkpoint(settings, p_thr=args.p_thr, o_thr=args.o_thr,
                                               dog_threshold=args.dog_threshold,
                                               window=args.window, stride=args.stride,
                                               batch_size=args.batch_size)
    except (TypeError, ValueError) as exc:   # the checkpoint's settings (the options are checked above)
        print(f"{PROG}: error: {model_path.with_suffix('.json')}: {exc}; the options --p-thr, "
              "--o-thr and --dog-threshold override the checkpoint's settings", file=sys.stderr)
        return 2
    try:   # everything that can be checked before the first image
        out = check_out_dir(args.out)
        inputs = collect_inputs(args.inputs, exclude=out / "images")
    except DataError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main else None
    try:
        result = run_cohort(inputs, out, model, params, digest=model_digest(model_path),
                            pixel_spacing=args.pixel_spacing, intensity_scale=args.intensity_scale,
                            voi_lut=args.voi_lut, force=args.force, workers=args.workers,
                            scheduler=args.scheduler,
                            progress=False if args.quiet else None, on_row=_report,
                            on_start=None if args.quiet else lambda text: print(text, file=sys.stderr))
    except ConnectionError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; the images finished so far are in {out} (cohort.csv); "
              "run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    return 1 if result.n_failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
