"""Where codegen's run-time files live: ``templates/`` (Jinja2) and ``firmware/`` (C sources).

In the repository (and an editable install) they sit at the repo root, beside ``codegen/``; a
built wheel carries them inside the package as ``codegen/templates`` and ``codegen/firmware``
(``pyproject.toml`` maps them there). Each resolver looks next to the package first, then at
the repo root.
"""
from __future__ import annotations

import functools
from pathlib import Path

from ofa_mcu.errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent


def _find(name: str, marker: str) -> Path:
    for d in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if (d / marker).exists():
            return d
    raise UserError(f"codegen's {name}/ folder is missing (looked in {PACKAGE_DIR / name} and "
                    f"{PACKAGE_DIR.parent / name}); reinstall ofa-mcu")


@functools.cache
def templates_dir() -> Path:
    """The Jinja2 templates folder (``common/``, ``make/``, ``native/`` ...)."""
    return _find("templates", "common/files.toml")


@functools.cache
def firmware_dir() -> Path:
    """The firmware sources folder (``startup/``, ``bsp/``, ``native/``, ``tools/``)."""
    return _find("firmware", "startup")
