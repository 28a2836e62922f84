"""Command line: ``python -m hdogreg.data synth --out DIR --seed N [--preset default|full|tiny]``.

Also ``python -m hdogreg.data info DIR`` prints a summary of an INbreast-format folder.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None):
    """Run ``python -m hdogreg.data`` (`argv` as in :data:`sys.argv` without the program)."""
    parser = argparse.ArgumentParser(prog="python -m hdogreg.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="write the synthetic INbreast-format benchmark")
    p.add_argument("--out", required=True, help="output folder (e.g. data/synth)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="default", choices=["tiny", "default", "full"])
    p.add_argument("--cases", type=int, default=None, help="override the number of INbreast-like cases")
    p.add_argument("--shape", type=int, nargs=2, metavar=("ROWS", "COLS"), default=None,
                   help="override the mammogram size in pixels")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (output does not depend on it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing generated folder")
    p.add_argument("--quiet", action="store_true")
    q = sub.add_parser("info", help="summarise an INbreast-format folder")
    q.add_argument("root")
    s = sub.add_parser("splits", help="patient-wise 51/17/18 splits of an INbreast-format folder")
    s.add_argument("root", help="INbreast folder (with AllDICOMs/, AllXML/)")
    s.add_argument("--out", default="data/inbreast_splits.csv", help="CSV to write (default %(default)s)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--all-patients", action="store_true",
                   help="also patients without calcification annotations")
    args = parser.parse_args(argv)

    if args.command == "synth":
        from dataclasses import replace

        from .synth import PRESETS, generate

        preset = PRESETS[args.preset]
        if args.cases is not None:
            if args.cases < 1:
                parser.error(f"--cases must be >= 1, got {args.cases}")
            preset = replace(preset, n_cases=args.cases)
        if args.shape is not None:
            if min(args.shape) < 128:
                parser.error(f"--shape must be at least 128 x 128, got {args.shape}")
            preset = replace(preset, shape=tuple(args.shape))
        t0 = time.perf_counter()
        try:
            out = generate(args.out, args.seed, preset, jobs=args.jobs,
                           progress=False if args.quiet else None, overwrite=args.overwrite)
        except FileExistsError as exc:
            print(f"hdogreg.data: {exc}", file=sys.stderr)
            return 2
        if not args.quiet:
            print(f"wrote {out} (preset {args.preset}, seed {args.seed}) in {time.perf_counter() - t0:.1f} s")
        return 0
    from .inbreast import InbreastDataset

    ds = InbreastDataset(args.root)
    if args.command == "splits":
        from .inbreast import inbreast_splits
        from .splits import write_splits

        frame = inbreast_splits(ds, seed=args.seed, require_mcs=not args.all_patients)
        write_splits(frame, args.out)
        counts = frame.drop_duplicates("patient_id")["split"].value_counts().to_dict()
        print(f"wrote {args.out}: {len(frame)} images; patients per split {counts}")
        return 0
    print(ds)
    print(ds.table.drop(columns=["dicom", "xml"]).describe(include="all").T.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
