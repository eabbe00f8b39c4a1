"""``ofa-mcu report``: render the deployment report from a saved results file."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..validate import existing_file


def cmd_report(args: argparse.Namespace) -> int:
    """Validate RESULTS.json and write report.md / report.html / report.json + plots."""
    from ..errors import UserError
    from ..io import OUTPUT_MANIFEST
    from ..report import load_results, write_report
    from ..report.writer import FILE_NAMES, parse_formats

    formats = parse_formats(args.format)
    out = Path(args.out) if args.out else Path(args.results).resolve().parent / "report"
    src = Path(args.results).resolve()
    if any((out / FILE_NAMES[f]).resolve() == src for f in formats):
        raise UserError(f"the report would overwrite its own input {args.results!r}; choose another --out folder")
    if out.exists() and not out.is_dir():
        raise UserError(f"the report folder {str(out)!r} is a file; choose a folder path")
    own = {*FILE_NAMES.values(), "plots", OUTPUT_MANIFEST}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in own) if out.is_dir() else []
    if foreign:
        raise UserError(f"the report folder {str(out)!r} holds files ofa-mcu did not write ({', '.join(foreign[:3])}"
                        f"{', ...' if len(foreign) > 3 else ''}); choose another --out (--force never replaces them)")
    results = load_results(args.results)
    written = write_report(results, out, formats=formats, force=args.force)
    files = ", ".join(str(written[f]) for f in formats)
    n_plots = sum(1 for k in written if k.startswith("plots/"))
    print(f"ofa-mcu: wrote {files} ({n_plots} plots in {out / 'plots'})")
    return 0


def register(sub) -> None:
    """Add ``report``."""
    p = sub.add_parser("report", help="render the deployment report (Markdown, HTML, JSON) from a results file")
    p.add_argument("results", type=existing_file("results file"),
                   help="results.json written by ofa-mcu build (in <out>/model/) or a report.json (schema: "
                        "ofa_mcu/report/schema.md)")
    p.add_argument("--out", help="report folder (default: report/ beside RESULTS)")
    p.add_argument("--format", default="md,html,json", help="comma-separated subset of md,html,json (default: all)")
    p.add_argument("--force", action="store_true", help="overwrite the report files an earlier render wrote")
    p.set_defaults(func=cmd_report)
