"""The ``ofa-mcu`` command line.

Each module in this package that defines ``register(subparsers)`` adds its subcommands; a
subcommand sets ``func`` (called with the parsed args, returns an exit code). Modules import
heavy libraries (torch, tensorflow) inside their functions so ``ofa-mcu --help`` stays fast.
"""
from __future__ import annotations

import os

# The predictors multiply small matrices; OpenBLAS's thread pool spins on those, and on a busy
# 2-core machine that made the search 5-15x slower. One BLAS thread (unless the user set one).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import pkgutil  # noqa: E402
import sys  # noqa: E402

from ..errors import UserError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module's subcommands."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="ofa-mcu",
        description="Once-for-All supernet -> the most accurate network that fits a microcontroller -> firmware.",
    )
    parser.add_argument("--version", action="version", version=f"ofa-mcu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn a :class:`UserError` into one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"ofa-mcu: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ofa-mcu: interrupted", file=sys.stderr)
        return 130
