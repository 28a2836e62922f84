"""Benchmark: full-field inference and ``hdogreg segment`` time per image on the CPU.

Measures, on one synthetic full-field mammogram of INbreast size (4084 rows x 3328 columns by
default, :func:`hdogreg.data.synth.synth_mammogram`):

1. the stages: breast mask, HDoG branch, and the sliding-window inference of the proximity
   map (:func:`hdogreg.inference.predict_proximity`, restricted to the breast) for the
   default encoder and for the paper's ``inceptionv4`` with its decoder width (random
   initialisation: the weights do not change the time);
2. the total wall time of ``hdogreg segment`` on that image written as a 16-bit PNG, run as a
   separate process (imports, reading, HDoG, inference, fusion, writing the outputs) with the
   shipped model at its operating point (its T_DoG, ``p_thr``);
3. the same command on ``--images N`` copies of the image (one process, start-up paid once:
   loading torch, timm and pydicom from disk takes 3-13 s depending on the page cache), and
   its wall time per image.

With ``--input-spacing S`` (mm, default 0.07) the image given to ``hdogreg segment`` is that
breast at S mm (:func:`hdogreg.spacing.to_native` from 0.07 mm), so the command resamples it
back to 0.07 mm and maps the labels onto the S mm grid; the resampling of both ways is then
also timed on its own. At 0.07 mm nothing is resampled.

Usage::

    .venv/bin/python benchmarks/bench_segment.py [--threads 2] \
        [--encoders tu-efficientnet_lite0 inceptionv4] [--input-spacing 0.1]

Wall times depend on what else runs on the machine; CPU times are printed beside them (with
``--threads 1`` the CPU time is close to the wall time on an idle core). On a shared,
oversubscribed machine prefer ``--threads 1``: two spinning OpenMP threads competing with other
processes can be several times slower than one.

The last line printed is ``segment_s=<seconds of the one-image run> batch_s_per_image=<seconds
per image of the N-image run> encoder=<name> shape=<rows>x<cols>`` (the default encoder; not
printed with ``--no-segment``; ``batch_s_per_image`` not with ``--images 1``), followed by
``input_spacing=<S> input_shape=<rows>x<cols>`` when S is not 0.07.
Goal: both under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_fullfield(rows, cols, seed=0):
    """Return a synthetic INbreast-like mammogram (:func:`hdogreg.data.synth.synth_mammogram`)."""
    from hdogreg.data.synth import synth_mammogram

    synth = synth_mammogram(seed, shape=(rows, cols))
    image = synth.raw.astype(np.float32) / np.float32(2 ** synth.bits - 1)
    return image, synth.breast


def time_inference(encoder, image, breast, window, stride, batch_size):
    """Inference time of a randomly initialised FPN; ``inceptionv4`` with the paper's decoder width."""
    import torch

    from hdogreg.inference import predict_proximity, window_starts
    from hdogreg.regression import DEFAULT_DECODER_CHANNELS, PAPER_DECODER_CHANNELS, build_model

    torch.manual_seed(0)
    channels = PAPER_DECODER_CHANNELS if encoder == "inceptionv4" else DEFAULT_DECODER_CHANNELS
    model = build_model(encoder, pretrained=False, decoder_channels=channels).eval()
    with torch.inference_mode():  # warm-up (first-call allocations)
        model(torch.zeros(1, 1, window, window))
    calls = []
    hook = model.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    t0, c0 = time.perf_counter(), time.process_time()
    predict_proximity(model, image, window=window, stride=stride, batch_size=batch_size,
                      mask=breast, progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    hook.remove()
    rows, _ = window_starts(image.shape[0], window, stride)
    cols, _ = window_starts(image.shape[1], window, stride)
    return seconds, cpu, sum(calls), len(rows) * len(cols), channels


def run_segment(paths, out, options, env):
    """Run ``hdogreg segment`` on `paths` in a separate process; return wall s, CPU s, outputs."""
    cmd = [sys.executable, "-m", "hdogreg.cli", "segment", *map(str, paths), "--out", str(out), *options]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"hdogreg segment failed with exit status {proc.returncode}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return seconds, cpu, sorted(p.name for p in Path(out).iterdir())


def main(argv=None):
    """Run the benchmark from the command line (`argv` as in :data:`sys.argv` without the program)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4084)
    parser.add_argument("--cols", type=int, default=3328)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--window", type=int, default=None, help="default: SegmentParams")
    parser.add_argument("--stride", type=int, default=None, help="default: that of hdogreg segment")
    parser.add_argument("--batch-size", type=int, default=None, help="default: SegmentParams")
    parser.add_argument("--encoders", nargs="*", default=None,
                        help="encoders for the inference timing (default: the default encoder "
                        "and inceptionv4)")
    parser.add_argument("--no-segment", action="store_true", help="skip the CLI timing")
    parser.add_argument("--images", type=int, default=3,
                        help="images of the second hdogreg segment run (copies of the first; "
                        "default 3; 1: only the one-image run)")
    parser.add_argument("--input-spacing", type=float, default=0.07,
                        help="mm per pixel of the image given to hdogreg segment (default 0.07: "
                        "no resampling)")
    args = parser.parse_args(argv)

    import torch

    from hdogreg.cli import DEFAULT_STRIDE
    from hdogreg.pipeline import SegmentParams
    from hdogreg.regression import DEFAULT_ENCODER

    torch.set_num_threads(args.threads)
    defaults = SegmentParams()
    window = args.window or defaults.window
    stride = args.stride or DEFAULT_STRIDE
    batch = args.batch_size or defaults.batch_size
    encoders = args.encoders if args.encoders is not None else [DEFAULT_ENCODER, "inceptionv4"]

    t0 = time.perf_counter()
    image, breast = synthetic_fullfield(args.rows, args.cols)
    print(f"synthetic image generated in {time.perf_counter() - t0:.1f} s", flush=True)
    shape = f"{args.rows}x{args.cols}"
    print(f"image {shape}, breast {breast.mean():.0%} of the area, window {window}, stride "
          f"{stride}, batch {batch}, torch threads {torch.get_num_threads()}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)

    # The breast mask used by the pipeline (timed here as its own stage).
    from hdogreg.breast import breast_mask

    t0 = time.perf_counter()
    pipeline_breast = breast_mask(image)
    print(f"breast_mask: {time.perf_counter() - t0:.1f} s", flush=True)
    for encoder in encoders:
        seconds, cpu, n_run, n_grid, channels = time_inference(encoder, image, pipeline_breast, window,
                                                               stride, batch)
        print(f"inference encoder={encoder} decoder={channels[0]}x{channels[1]}: "
              f"{seconds:.1f} s wall, {cpu:.1f} s CPU "
              f"({n_run} of the {n_grid} windows of the grid touch the breast; "
              f"{seconds / max(n_run, 1):.2f} s per window)", flush=True)

    from hdogreg.hdog import hdog_segment
    from hdogreg.store import load_model, shipped_model_path

    _, shipped_settings = load_model(shipped_model_path())
    hdog_kwargs = SegmentParams.from_checkpoint(shipped_settings).hdog_kwargs()
    t0, c0 = time.perf_counter(), time.process_time()
    hdog = hdog_segment(image, **hdog_kwargs)
    print(f"hdog_segment: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s "
          f"CPU ({int(hdog.labels.max())} candidate objects at the shipped model's T_DoG "
          f"{hdog_kwargs['dog_threshold']:g})", flush=True)

    from hdogreg.spacing import is_native, labels_to_input, to_native

    resampled = not is_native(args.input_spacing)
    given = image
    if resampled:
        given = to_native(image, 0.07, native=args.input_spacing)   # the breast at S mm
        t0 = time.perf_counter()
        back = to_native(given, args.input_spacing)
        t1 = time.perf_counter()
        labels_to_input(hdog.labels, given.shape)
        t2 = time.perf_counter()
        print(f"resampling {given.shape[0]}x{given.shape[1]} at {args.input_spacing} mm -> "
              f"{back.shape[0]}x{back.shape[1]} at 0.07 mm: {t1 - t0:.1f} s; labels back: "
              f"{t2 - t1:.1f} s", flush=True)

    if args.no_segment:
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_segment_") as tmp:
        tmp = Path(tmp)
        import imageio.v3 as iio

        pngs = [tmp / "in" / f"fullfield-{i}.png" for i in range(max(args.images, 1))]
        pngs[0].parent.mkdir()
        data = np.round(given * 65535).astype(np.uint16)
        for png in pngs:
            iio.imwrite(png, data)
        # the shipped model at its operating point (T_DoG and p_thr change the HDoG and
        # fusion times), as a user runs it
        options = ["--model", str(shipped_model_path()), "--pixel-spacing", f"{args.input_spacing:g}",
                   "--quiet", "--window", str(window), "--stride", str(stride), "--batch-size", str(batch)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}  # torch's intra-op threads
        one, one_cpu, outputs = run_segment(pngs[:1], tmp / "out-1", options, env)
        print(f"hdogreg segment (separate process, 1 image): {one:.1f} s wall, {one_cpu:.1f} s "
              f"CPU; wrote {outputs}", flush=True)
        batch_s = ""
        if len(pngs) > 1:
            many, many_cpu, _ = run_segment(pngs, tmp / f"out-{len(pngs)}", options, env)
            print(f"hdogreg segment (separate process, {len(pngs)} images): {many:.1f} s wall, "
                  f"{many_cpu:.1f} s CPU; {many / len(pngs):.1f} s wall, "
                  f"{many_cpu / len(pngs):.1f} s CPU per image", flush=True)
            batch_s = f" batch_s_per_image={many / len(pngs):.1f}"
    print(f"load average at the end: {os.getloadavg()[0]:.1f}", flush=True)
    extra = (f" input_spacing={args.input_spacing:g} input_shape={given.shape[0]}x{given.shape[1]}"
             if resampled else "")
    print(f"segment_s={one:.1f}{batch_s} encoder={DEFAULT_ENCODER} shape={shape}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
