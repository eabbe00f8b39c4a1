"""Render the report view as one self-contained HTML page (Jinja2, autoescaped, PNGs inline)."""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Mapping

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(view: Mapping, images: Mapping[str, bytes]) -> str:
    """The report page; ``images`` maps each image block's ``src`` (``plots/x.png``) to its PNG
    bytes, embedded as data URIs so the page needs no other file."""
    uris = {src: data_uri(data) for src, data in images.items()}
    missing = [b["src"] for s in view["sections"] for b in s["blocks"] if b["type"] == "image" and b["src"] not in uris]
    if missing:
        raise ValueError(f"no PNG bytes for {missing}")
    return _environment().get_template("report.html.j2").render(view=view, uris=uris)
