"""Bytes as C array initializer rows, and back (the round trip is tested)."""
from __future__ import annotations

import re

import numpy as np

BYTES_PER_ROW = 12


def c_hex_rows(data: bytes, per_row: int = BYTES_PER_ROW) -> list[str]:
    """``data`` as rows of ``0x1c, 0x00, ...`` (each row ends with a comma)."""
    mv = memoryview(bytes(data))
    return [", ".join(f"0x{b:02x}" for b in mv[i : i + per_row]) + "," for i in range(0, len(mv), per_row)]


def c_int_rows(values, per_row: int = 16) -> list[str]:
    """Integers (int8 inputs, lookup tables) as rows of ``-128, 5, ...`` (each row ends with a comma)."""
    vals = [int(v) for v in np.asarray(values).reshape(-1)]
    return [", ".join(str(v) for v in vals[i : i + per_row]) + "," for i in range(0, len(vals), per_row)]


def parse_c_array(source: str, name: str) -> bytes:
    """The bytes of ``unsigned char name[] = {...}`` in C source (inverse of :func:`c_hex_rows`)."""
    m = re.search(r"\b" + re.escape(name) + r"\s*\[\s*\]\s*=\s*\{(.*?)\};", source, re.S)
    if not m:
        raise ValueError(f"array {name!r} not found")
    body = re.sub(r"//[^\n]*", "", m.group(1))
    return bytes(int(tok, 0) & 0xFF for tok in re.findall(r"-?0x[0-9a-fA-F]+|-?\d+", body))
