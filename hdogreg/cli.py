"""Command line: ``hdogreg segment IMAGE... --out DIR``.

For every input image (DICOM, PNG or TIFF) three files are written to ``DIR``:

``<stem>_mask.png``
    The segmentation mask (8-bit, 0 / 255).
``<stem>_overlay.png``
    The image with the outlines of the segmented microcalcifications in red.
``<stem>_mcs.csv``
    One row per microcalcification (:func:`hdogreg.pipeline.mc_table`): label, centroid
    ``x`` (column) and ``y`` (row) in pixels, area in px and mm^2, major and minor axis in mm,
    mean intensity (image scale [0, 1]) and the fusion score.

The pixel spacing comes from ``--pixel-spacing`` or the DICOM header (``PixelSpacing``, else
``ImagerPixelSpacing`` divided by ``EstimatedRadiographicMagnificationFactor`` where present,
:func:`hdogreg.data.io.read_dicom`); it must be plausible (0.02-0.5 mm). An image at another
spacing than the method's 0.07 mm is resampled to 0.07 mm for the analysis; the mask, the
overlay and the CSV (pixel coordinates, mm measures) are those of the input's own grid.

A bad input prints one line ``hdogreg: error: <file>: <problem>`` to stderr; the other images
are still processed and the exit status is 1. Outputs are written atomically; inputs are
never modified.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hdogreg.inference import FAST_STRIDE

__all__ = ["main", "segment_files"]

PROG = "hdogreg"
_PLAIN_SUFFIXES = {".png", ".tif", ".tiff"}
_DICOM_SUFFIXES = {".dcm", ".dicom", ""}


def _load_model(path):
    from hdogreg.store import load_model

    return load_model(path)


def _read(path, pixel_spacing):
    """(image, mm per pixel) of an input file; the spacing is checked for plausibility."""
    from hdogreg.data.io import read_image
    from hdogreg.spacing import check_pixel_spacing

    suffix = Path(path).suffix.lower()
    if suffix in _PLAIN_SUFFIXES and pixel_spacing is None:
        raise ValueError(f"{path}: the pixel spacing of a PNG/TIFF image is unknown; "
                         "pass --pixel-spacing MM (INbreast: 0.07)")
    try:
        image, meta = read_image(path, pixel_spacing)
    except ValueError as exc:
        # Anything that is not PNG/TIFF is tried as DICOM (DICOM files often lack a suffix);
        # for other suffixes say what was expected rather than why DICOM parsing failed.
        if Path(path).is_file() and suffix not in _PLAIN_SUFFIXES | _DICOM_SUFFIXES \
                and "DICOM" in str(exc):
            raise ValueError(f"{path}: not a DICOM, PNG or TIFF image") from exc
        raise
    source = meta.get("spacing_source")
    name = "--pixel-spacing" if source == "given" else f"{path}: {source} (DICOM header)"
    try:
        spacing = check_pixel_spacing(meta["pixel_spacing"], name=name)
    except ValueError as exc:
        if source == "given":
            raise
        raise ValueError(f"{exc}; pass --pixel-spacing MM to override") from None
    return image, spacing


def _error_line(path, exc):
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = str(path)
    if not msg.startswith(name):
        msg = f"{name}: {msg}"
    return f"{PROG}: error: {msg}"


def _output_stems(paths):
    """Output stem per input; duplicates get ``-2``, ``-3``... in input order."""
    seen, stems = {}, []
    for p in paths:
        stem = Path(p).stem
        n = seen.get(stem, 0) + 1
        seen[stem] = n
        stems.append(stem if n == 1 else f"{stem}-{n}")
    return stems


def _write_outputs(out_dir, stem, image, result):
    import imageio.v3 as iio
    import numpy as np

    from hdogreg._utils import atomic_path
    from hdogreg.pipeline import overlay_image

    paths = {
        "mask": out_dir / f"{stem}_mask.png",
        "overlay": out_dir / f"{stem}_overlay.png",
        "csv": out_dir / f"{stem}_mcs.csv",
    }
    # Render everything before writing, so that a failure leaves no partial set of files.
    mask = result.mask.astype(np.uint8) * 255
    overlay = overlay_image(image, result.labels, breast=result.breast)
    # Fast zlib level: a full-field RGB overlay takes seconds at the default level.
    with atomic_path(paths["mask"]) as tmp:
        iio.imwrite(tmp, mask, extension=".png", compress_level=1)
    with atomic_path(paths["overlay"]) as tmp:
        iio.imwrite(tmp, overlay, extension=".png", compress_level=1)
    with atomic_path(paths["csv"]) as tmp:
        result.table.to_csv(tmp, index=False, float_format="%.6g")
    return paths


def segment_files(paths, out_dir, model, params, *, pixel_spacing=None, progress=None,
                  stderr=None):
    """Segment image files and write their outputs; return the number of failures.

    Parameters
    ----------
    paths : list of str or Path
        DICOM, PNG or TIFF images.
    out_dir : str or Path
        Output folder (created if needed).
    model : torch.nn.Module
        Regression network.
    params : hdogreg.pipeline.SegmentParams
    pixel_spacing : float, optional
        mm per pixel; required for PNG/TIFF, overrides the DICOM header. Must be plausible
        (:func:`hdogreg.spacing.check_pixel_spacing`); a header's implausible value fails that
        image only.
    progress : bool or None, optional
        Progress bars (None: only on a terminal).
    stderr : file, optional
        Where error lines go (default ``sys.stderr``).

    Returns
    -------
    n_failed : int
    """
    from tqdm import tqdm

    from hdogreg.pipeline import segment_mammogram
    from hdogreg.spacing import check_pixel_spacing

    if pixel_spacing is not None:
        pixel_spacing = check_pixel_spacing(pixel_spacing, name="pixel_spacing")
    stderr = sys.stderr if stderr is None else stderr
    out_dir = Path(out_dir)
    inputs = {Path(p).resolve() for p in paths}
    failed = 0
    disable = None if progress is None else not progress
    for path, stem in tqdm(list(zip(paths, _output_stems(paths))), desc="images", unit="image",
                           disable=disable):
        try:
            targets = [out_dir / f"{stem}{s}" for s in ("_mask.png", "_overlay.png", "_mcs.csv")]
            clash = [t for t in targets if t.resolve() in inputs]
            if clash:
                raise ValueError(f"{path}: output {clash[0]} would overwrite an input")
            image, spacing = _read(path, pixel_spacing)
            result = segment_mammogram(image, model, params, pixel_spacing=spacing,
                                       progress=bool(progress) if progress is not None else True)
            _write_outputs(out_dir, stem, image, result)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one bad image must not stop the batch
            failed += 1
            tqdm.write(_error_line(path, exc), file=stderr)  # keeps a progress bar intact
    return failed


def _positive(convert, noun):
    """Return an argparse ``type`` that converts with `convert` and accepts only values > 0."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


_positive_int = _positive(int, "an integer")


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
        description="Segment microcalcifications. For each IMAGE writes <stem>_mask.png, "
        "<stem>_overlay.png and <stem>_mcs.csv (one row per MC) to --out.")
    seg.add_argument("images", nargs="+", metavar="IMAGE", help="DICOM, PNG or TIFF mammogram")
    seg.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    seg.add_argument("--pixel-spacing", type=_pixel_spacing, metavar="MM",
                     help="mm per pixel (0.02-0.5); required for PNG/TIFF and for DICOM without "
                     "PixelSpacing/ImagerPixelSpacing, overrides the DICOM header. Images are "
                     "analysed at the method's 0.07 mm and reported in their own pixels")
    seg.add_argument("--model", metavar="CKPT",
                     help="checkpoint (.pt with its .json) of the regression network; default "
                     "$HDOGREG_MODEL, else the model shipped with the package")
    seg.add_argument("--p-thr", type=float, metavar="P",
                     help="threshold of the proximity map (default: the checkpoint's 'p_thr' "
                     "setting, else 10**-3.5)")
    seg.add_argument("--o-thr", type=float, default=0.3, metavar="O",
                     help="overlap threshold of the fusion (default 0.3)")
    seg.add_argument("--window", type=_positive_int, default=512, help="inference window (px)")
    seg.add_argument("--stride", type=_positive_int, default=DEFAULT_STRIDE,
                     help=f"inference stride (px); default {DEFAULT_STRIDE} for speed on a CPU (the "
                          "paper's evaluation uses 256; Hann blending leaves no seams at either)")
    seg.add_argument("--batch-size", type=_positive_int, default=4, help="windows per batch")
    seg.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return parser


def main(argv=None):
    """Entry point of the ``hdogreg`` command. Returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "segment":  # pragma: no cover - argparse enforces the choices
        parser.error(f"unknown command {args.command}")

    from hdogreg.pipeline import DEFAULT_P_THR, SegmentParams
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
    p_thr = args.p_thr if args.p_thr is not None else settings.get("p_thr", DEFAULT_P_THR)
    try:
        # The checkpoint's standardisation (recorded by training; "none" if absent): the
        # network must see images as it saw them in training.
        params = SegmentParams(p_thr=float(p_thr), o_thr=args.o_thr, window=args.window,
                               stride=args.stride, batch_size=args.batch_size,
                               normalize=settings.get("normalize", "none"))
        if params.window % 32 or params.stride > params.window:
            raise ValueError(f"--window must be a multiple of 32 and --stride <= --window, got "
                             f"{params.window} and {params.stride}")
    except ValueError as exc:
        parser.error(str(exc))
    n_failed = segment_files(args.images, args.out, model, params,
                             pixel_spacing=args.pixel_spacing,
                             progress=False if args.quiet else None)
    return 1 if n_failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
