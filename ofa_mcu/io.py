"""File helpers used by every command: atomic writes, JSON in and out, clobber protection."""
from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get normal permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Atomically write ``obj`` as JSON (gzip-compressed when the name ends in ``.gz``)."""
    data = json.dumps(obj, indent=indent).encode("utf-8")
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write_bytes(path, data)


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON (or ``.json.gz``) file; a missing or malformed file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {str(path)!r} does not exist; check the path")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{what} {str(path)!r} is not valid JSON ({exc}); fix or regenerate it") from None


def refuse_clobber(path: str | os.PathLike, force: bool, what: str = "output") -> None:
    """Raise unless ``path`` is absent, an empty directory, or ``force`` is set."""
    path = Path(path)
    if force or not path.exists():
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise UserError(f"{what} {str(path)!r} already exists; choose another path or pass --force to overwrite it")
