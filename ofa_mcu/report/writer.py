"""Write a report folder: ``report.md``, ``report.html``, ``report.json`` and ``plots/*.png``."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import UserError
from ..io import atomic_write_bytes, atomic_write_text, check_overwrite, check_writable, owned_files, read_json, record_outputs
from .html import render_html
from .markdown import render_markdown
from .plots import PLOTS, render_plots
from .schema import normalise_results
from .view import EXTERNAL_PNGS, PLOTS_DIR, build_view

FORMATS = ("md", "html", "json")
FILE_NAMES = {"md": "report.md", "html": "report.html", "json": "report.json"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"md,html"`` or ``["md", "html"]`` -> a checked tuple in the canonical order."""
    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    if "" in items:
        raise UserError(f"report format list {formats!r} has an empty item; e.g. md,html")
    unknown = [f for f in items if f not in FORMATS]
    if unknown or not items:
        raise UserError(f"report format {', '.join(unknown) or '(none)'} is not known; choose from {','.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in items)


def _get(r: Mapping, keys: tuple[str, ...]) -> Any:
    for k in keys[:-1]:
        r = r.get(k) or {}
    return r.get(keys[-1])


def _set(r: dict, keys: tuple[str, ...], value: Any) -> None:
    for k in keys[:-1]:
        r = r[k]
    r[keys[-1]] = value


def _external_pngs(r: dict, base_dir: Path) -> dict[str, bytes]:
    """Read the PNGs other stages made (native memory plan, search plot) and point ``r`` at
    their copies in ``plots/``."""
    out = {}
    for keys, (name, _) in EXTERNAL_PNGS.items():
        src = _get(r, keys)
        if src is None:
            continue
        path = Path(src) if os.path.isabs(src) else base_dir / src
        where = ".".join(keys)
        if not path.is_file():
            raise UserError(f"results: {where} = {src!r} does not exist; write the plot first or drop the key")
        data = path.read_bytes()
        if not data.startswith(PNG_SIGNATURE):
            raise UserError(f"results: {where} = {src!r} is not a PNG file; give the path of a .png plot")
        out[name] = data
        _set(r, keys, f"{PLOTS_DIR}/{name}")
    return out


def _targets(out: Path, formats: tuple[str, ...], plots: Iterable[str]) -> list[Path]:
    return [out / PLOTS_DIR / name for name in plots] + [out / FILE_NAMES[f] for f in formats]


def _refuse_clobber(paths: list[Path], force: bool) -> None:
    check_overwrite(paths, force, "report file")


def report_json(r: Mapping) -> str:
    """The normalised results as the report's JSON text (the normalised key order is kept, so
    reading ``report.json`` back renders the same report)."""
    return json.dumps(r, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_report(results: Mapping, out_dir: str | os.PathLike, *, formats: str | Iterable[str] = FORMATS,
                 force: bool = False, base_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Validate ``results`` and write the report into ``out_dir``.

    Writes ``report.md``/``report.html``/``report.json`` (those in ``formats``) and the PNG
    plots in ``out_dir/plots/`` (always: the Markdown links them and ``report.json`` points at
    the copied external plots). PNG paths inside ``results`` (``memory.native.plan_png``,
    ``search.plot_png``) are read relative to ``base_dir`` (default: the working directory).
    An existing report file is replaced only with ``force`` and only if ofa-mcu wrote it (a
    manifest lists it, see ``ofa_mcu.io``; the files written are added to it); every file is
    written atomically. Returns ``{"md"|"html"|"json"|"plots/<name>.png": path}``.
    """
    formats = parse_formats(formats)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"report folder {str(out)!r} is a file; choose a folder path for --out")
    check_writable(out, "report folder")
    r = copy.deepcopy(normalise_results(results))
    _refuse_clobber(_targets(out, formats, ()), force)  # before the slow part
    images = _external_pngs(r, Path(base_dir) if base_dir is not None else Path.cwd())
    images.update(render_plots(r))
    order = [n for n in PLOTS if n in images] + sorted(n for n in images if n not in PLOTS)
    _refuse_clobber(_targets(out, formats, order), force)
    if force:
        known = set(PLOTS) | {name for name, _ in EXTERNAL_PNGS.values()}
        for name in sorted(known - set(images)):
            stale = out / PLOTS_DIR / name
            owned = owned_files(out) or set()
            if stale.is_file() and f"{PLOTS_DIR}/{name}" in owned:
                stale.unlink()  # a plot of an earlier render whose data this one lacks
    view = build_view(r, order)
    written: dict[str, Path] = {}
    for name in order:
        path = out / PLOTS_DIR / name
        atomic_write_bytes(path, images[name])
        written[f"{PLOTS_DIR}/{name}"] = path
    texts = {"json": lambda: report_json(r), "md": lambda: render_markdown(view),
             "html": lambda: render_html(view, {f"{PLOTS_DIR}/{n}": images[n] for n in order})}
    for fmt_name in formats:
        path = out / FILE_NAMES[fmt_name]
        atomic_write_text(path, texts[fmt_name]())
        written[fmt_name] = path
    record_outputs(out, [p.relative_to(out).as_posix() for p in written.values()], kind="report")
    return written


def load_results(path: str | os.PathLike) -> dict:
    """Read and validate a results file (``results.json``, or a report's ``report.json``).

    Returns the normalised results with the PNG paths they hold made absolute (they are
    relative to the file's folder; results of older builds were relative to the build's
    output folder, one level up, which is tried next), ready for :func:`write_report`.
    """
    path = Path(path)
    try:
        r = normalise_results(read_json(path, "results file"))
    except UserError as exc:
        msg = str(exc)
        if msg.startswith("results:"):  # a schema problem: name the file it is in
            msg = f"results file {str(path)!r}:" + msg[len("results:"):]
        raise UserError(msg) from None
    for keys in EXTERNAL_PNGS:
        src = _get(r, keys)
        if src is not None and not os.path.isabs(src):
            tries = [(base / src).resolve() for base in (path.parent, path.parent.parent)]
            _set(r, keys, str(next((t for t in tries if t.is_file()), tries[0])))
    return r
