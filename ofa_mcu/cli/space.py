"""``ofa-mcu space``: inspect architectures (stats, sampling, validation)."""
from __future__ import annotations

import argparse
import json
import random
import sys

from ..config import get_space
from ..errors import UserError
from ..io import read_json
from ..validate import Number, existing_file
from .common import add_seed_arg, add_space_arg

# Archs printed at once by ``space sample`` (a JSON list held in memory).
SAMPLE_COUNT = Number(1, 1_000_000, integer=True)


def _load_archs(path: str, cfg) -> list[dict]:
    from ..space.arch import validate_arch

    data = read_json(path, "arch file")
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of arch dicts (or one arch dict)")
    out = []
    for i, a in enumerate(data):
        try:
            out.append(validate_arch(a, cfg))
        except UserError as exc:
            raise UserError(f"{path}: arch #{i}: {exc}") from None
    return out


def cmd_stats(args: argparse.Namespace) -> int:
    """Print one JSON object per arch with its efficiency figures."""
    from ..efficiency import get_efficiency_model

    cfg = get_space(args.space)
    archs = _load_archs(args.archs, cfg)
    from ..space.batch import ArchBatch

    batch = ArchBatch.from_dicts(archs, cfg, validate=False)
    names = args.efficiency or ["analytic", "tflm"]
    models = [get_efficiency_model(name, cfg) for name in names]
    metrics = {}
    for m in models:
        for k, v in m.evaluate_batch(batch).items():
            metrics.setdefault(k if k not in ("sram_bytes", "flash_bytes") else f"{m.name}_{k}", v)
    for i, arch in enumerate(archs):
        row = {"index": i, **{k: int(v[i]) for k, v in metrics.items()}, "arch": arch}
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Print N random arch dicts as a JSON list."""
    from ..space.arch import sample_arch

    cfg = get_space(args.space)
    rng = random.Random(args.seed)
    print(json.dumps([sample_arch(rng, cfg) for _ in range(args.n)]))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check an arch file; print the canonical forms."""
    from ..space.arch import canonical

    cfg = get_space(args.space)
    archs = _load_archs(args.archs, cfg)
    print(json.dumps([canonical(a, cfg) for a in archs]))
    return 0


def register(sub) -> None:
    """Add ``space stats|sample|validate``."""
    p = sub.add_parser("space", help="inspect architectures of the search space")
    s = p.add_subparsers(dest="space_command", metavar="SUBCOMMAND", required=True)
    st = s.add_parser("stats", help="MACs, params and memory of each arch in a JSON list")
    st.add_argument("archs", type=existing_file("arch file"), help="JSON file: a list of arch dicts (or one arch dict)")
    add_space_arg(st)
    st.add_argument("--efficiency", nargs="+", choices=["analytic", "tflm"],
                    help="efficiency models to evaluate (default: analytic and the calibrated tflm model: "
                         "tflm_arena_bytes, tflite_bytes)")
    st.set_defaults(func=cmd_stats)
    sa = s.add_parser("sample", help="random arch dicts")
    sa.add_argument("-n", type=SAMPLE_COUNT, default=10, help=f"how many ({SAMPLE_COUNT.describe()}; default 10)")
    add_seed_arg(sa)
    add_space_arg(sa)
    sa.set_defaults(func=cmd_sample)
    va = s.add_parser("validate", help="validate arch dicts and print their canonical forms")
    va.add_argument("archs", type=existing_file("arch file"), help="JSON file: a list of arch dicts (or one arch dict)")
    add_space_arg(va)
    va.set_defaults(func=cmd_validate)
