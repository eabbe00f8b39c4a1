"""``ofa-mcu boards``: list the boards catalog (table, or JSON with ``--json``)."""
from __future__ import annotations

import argparse
import json
import sys


def _kb(n: int) -> str:
    return f"{n >> 20} MB" if n % (1 << 20) == 0 else f"{n // 1024} KB"


COLUMNS = (
    ("board", lambda b: b.name),
    ("core", lambda b: b.core),
    ("MHz", lambda b: f"{b.clock_hz / 1e6:g}"),
    ("SRAM", lambda b: _kb(b.sram_bytes)),
    ("flash", lambda b: _kb(b.flash_bytes)),
    ("model SRAM", lambda b: _kb(b.model_sram_budget)),
    ("model flash", lambda b: _kb(b.model_flash_budget)),
    ("FPU", lambda b: b.fpu),
    ("build systems", lambda b: ", ".join(b.build_systems)),
    ("flash tool", lambda b: b.flash_tool),
)


def board_rows(boards) -> list[list[str]]:
    """The table cells, one row per board (header not included)."""
    return [[get(b) for _, get in COLUMNS] for b in boards]


def cmd_boards(args: argparse.Namespace) -> int:
    """Print the catalog."""
    from ..boards import catalog_problems, list_boards

    boards = list_boards()
    for problem in catalog_problems().values():
        print(f"ofa-mcu: warning: skipped board file {problem.removeprefix('board file ')}", file=sys.stderr)
    if args.json:
        print(json.dumps([b.to_dict() for b in boards], indent=2))
        return 0
    rows = board_rows(boards)
    if sys.stdout.isatty() and not args.plain:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="ofa-mcu boards (model budgets = memory minus the TFLM runtime)")
        for name, _ in COLUMNS:
            table.add_column(name)
        for r in rows:
            table.add_row(*r)
        Console().print(table)
        return 0
    header = [name for name, _ in COLUMNS]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    for r in [header, *rows]:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
    return 0


def register(sub) -> None:
    """Add ``boards``."""
    p = sub.add_parser("boards", help="list the supported boards (memory budgets, toolchains)")
    p.add_argument("--json", action="store_true", help="print the full catalog as JSON")
    p.add_argument("--plain", action="store_true", help="plain-text table even on a terminal")
    p.set_defaults(func=cmd_boards)
