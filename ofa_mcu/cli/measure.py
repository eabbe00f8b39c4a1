"""``ofa-mcu measure`` (real TFLM memory of arch dicts) and ``ofa-mcu calibrate`` (refit the
calibrated ``tflm`` efficiency model on measurements of random subnets)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import get_space
from ..errors import UserError
from ..validate import POSITIVE_INT, Number, existing_file
from .common import add_seed_arg, add_space_arg

# Subnets measured by one calibrate run (each is a conversion of a few seconds).
SUBNETS = Number(1, 100_000, integer=True)


def cmd_measure(args: argparse.Namespace) -> int:
    """Convert each arch (random weights), measure it with TFLM, print one JSON line each."""
    import contextlib

    from ..io import staged_output
    from ..quant.measure import measure_archs
    from .space import _load_archs

    cfg = get_space(args.space)
    archs = _load_archs(args.archs, cfg)
    keep = Path(args.keep) if args.keep else None
    what = "--keep folder"
    # The models go into a staged folder that becomes --keep when every arch was measured.
    with (staged_output(keep, args.force, inputs=[args.archs], what=what, kind="measure")
          if keep is not None else contextlib.nullcontext()) as tmp:
        for i, record, tflite in measure_archs(archs, cfg, seed=args.seed, n_calib=args.calib):
            if tmp is not None:
                (tmp / f"{i}.tflite").write_bytes(tflite)
                record["path"] = str(keep / f"{i}.tflite")
            sys.stdout.write(json.dumps(record) + "\n")
            sys.stdout.flush()
    return 0


def _calibrate_target(args: argparse.Namespace, cfg, out: Path) -> int:
    """``calibrate --target``: measure the 32-bit arena on QEMU, refit its correction, update
    the calibration file in place (its host fit stays)."""
    from codegen.tflm_tree import open_tree

    from ..efficiency.tflm_model import fit_target, format_target_table, load_calibration
    from ..io import write_json
    from ..pipeline.calibration import measure_target_records

    trees = {}
    for spec in args.tflm_dir or []:
        kernels, sep, path = spec.partition("=")
        if not sep:
            raise UserError(f"--tflm-dir {spec!r}: write KERNELS=DIR, e.g. reference=/path/tree or cmsis-nn=/path/tree")
        trees[kernels] = open_tree(path, kernels)
    if not trees:
        raise UserError("calibrate --target needs at least one --tflm-dir KERNELS=DIR (a TFLite-Micro tree per kernel set)")
    from codegen.tflm_target import qemu_twin

    cores = tuple(c.strip() for c in (args.cores or "cortex-m4,cortex-m7").split(",") if c.strip())
    unknown = [c for c in cores if qemu_twin(c) is None]
    if unknown or not cores:
        raise UserError(f"--cores {args.cores!r}: no QEMU board has core {', '.join(unknown) or '(none)'}; "
                        f"choose from cortex-m4, cortex-m7")
    records = measure_target_records(cfg, args.n, trees, cores, seed=args.seed, cache=args.measurements)
    cal = fit_target(records[: args.n - args.holdout], records[args.n - args.holdout:],
                     load_calibration(cfg.name, out if out.is_file() else None), cfg)
    write_json(out, cal)
    print(format_target_table(cal))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure N random subnets, refit the tflm model, write the calibration, print errors."""
    from ..efficiency.tflm_model import TAIL_FEATURES, default_calibration_path, format_error_table
    from ..pipeline.calibration import calibrate_space

    from ..io import check_output_file, check_writable

    cfg = get_space(args.space)
    if args.holdout >= args.n:
        raise UserError(f"--holdout {args.holdout} leaves nothing to fit among -n {args.n}; make --holdout "
                        f"smaller than -n")
    if not args.target:
        extra = [flag for flag, given in (("--tflm-dir", args.tflm_dir), ("--cores", args.cores is not None)) if given]
        if extra:
            raise UserError(f"{' and '.join(extra)} only {'work' if len(extra) > 1 else 'works'} with --target (the 32-bit arena in QEMU); "
                            f"add --target or drop {' and '.join(extra)}")
        need = len(TAIL_FEATURES) + 2
        if args.n - args.holdout < need:
            raise UserError(f"-n {args.n} with --holdout {args.holdout} leaves {args.n - args.holdout} subnets to fit; "
                            f"the fit needs at least {need}: raise -n to {need + args.holdout} or lower --holdout")
    if args.measurements:
        if Path(args.measurements).is_dir():
            raise UserError(f"--measurements {args.measurements!r} is a folder; give a file path (a JSON-lines cache)")
        check_writable(args.measurements, "measurement cache")
    out = Path(args.out) if args.out else default_calibration_path(cfg.name)
    if args.target:
        if out.is_dir():
            raise UserError(f"--out {args.out!r} is a folder; give the calibration file to update")
        check_writable(out, "calibration file")
        return _calibrate_target(args, cfg, out)
    if args.out:
        check_output_file(out, args.force, inputs=[args.measurements], what="calibration file")
    calib = calibrate_space(cfg, n=args.n, seed=args.seed, holdout=args.holdout, out_path=out,
                            measurements_path=args.measurements)
    print(format_error_table(calib))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def register(sub) -> None:
    """Add ``measure`` and ``calibrate``."""
    p = sub.add_parser("measure", help="real TFLM arena, flatbuffer size and ops of arch dicts (random weights)")
    p.add_argument("archs", type=existing_file("arch file"), help="JSON file: a list of arch dicts (or one arch dict)")
    add_space_arg(p)
    p.add_argument("--keep", metavar="DIR", help="also write each converted model as DIR/<index>.tflite")
    p.add_argument("--force", action="store_true", help="replace what an earlier run kept in --keep")
    add_seed_arg(p, "seed of the random weights and calibration data (default 0)")
    p.add_argument("--calib", type=Number(1, 10_000, integer=True), default=4,
                   help="random calibration images per subnet (default 4)")
    p.set_defaults(func=cmd_measure)

    c = sub.add_parser("calibrate", help="measure random subnets with TFLM and refit the calibrated memory model")
    add_space_arg(c)
    c.add_argument("-n", type=SUBNETS, default=100, help="random subnets to measure (default 100)")
    c.add_argument("--holdout", type=POSITIVE_INT, default=50,
                   help="of those, how many are held out of the fit to report its error (default 50; < -n)")
    add_seed_arg(c, "seed of the sampled subnets and their weights (default 0)")
    c.add_argument("--out", help="calibration file (default: the packaged ofa_mcu/assets/calibration/<space>.json)")
    c.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    c.add_argument("--measurements", metavar="FILE",
                   help="JSON-lines cache of measurements: reused when present, new ones appended")
    c.add_argument("--target", action="store_true",
                   help="instead: measure the 32-bit arena in QEMU (TFLM firmware linked against --tflm-dir trees) "
                        "and refit the target correction of the existing calibration")
    c.add_argument("--tflm-dir", action="append", metavar="KERNELS=DIR",
                   help="--target: a TFLite-Micro tree per kernel set (reference=DIR, cmsis-nn=DIR); repeat")
    c.add_argument("--cores", default=None,
                   help="--target: cores measured on their QEMU machines (default cortex-m4,cortex-m7)")
    c.set_defaults(func=cmd_calibrate)
