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

PROG = "ofa-mcu"


def error_line(message: str) -> str:
    """The one line every error is printed as."""
    return f"{PROG}: error: " + " ".join(str(message).split())


class Parser(argparse.ArgumentParser):
    """argparse with errors as one line (``ofa-mcu: error: ...``, exit 2), no usage dump."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        hint = f" (see '{self.prog} --help')"
        self.exit(2, error_line(message + hint) + "\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module's subcommands."""
    from .. import __version__

    parser = Parser(
        prog=PROG,
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
    """Entry point: parse, run, and turn bad input into one line on stderr (exit 2).

    Usage errors (argparse), :class:`UserError` and operating-system errors (a full disk, a
    permission) are printed as one line; ``--help`` and ``--version`` return 0."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(error_line(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a command that stopped reading (head)
        sys.stderr.close()
        return 141
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(error_line(f"{exc.strerror or exc}{where}; check the path, its permissions and the free space"),
              file=sys.stderr)
        return 2
