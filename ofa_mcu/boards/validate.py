"""Typed lookups in a board table (as read from TOML) with one-line errors naming the field."""
from __future__ import annotations

from typing import Any

from ..errors import UserError

SCHEMA_HINT = "see ofa_mcu/boards/README.md for the schema"


def need(table: dict, key: str, typ, where: str) -> Any:
    """``table[key]`` of type ``typ``; a missing key or a wrong type is a UserError naming both."""
    if key not in table:
        raise UserError(f"{where}: missing key {key!r}; {SCHEMA_HINT}")
    return check_type(table[key], key, typ, where)


def optional(table: dict, key: str, typ, where: str, default: Any = None) -> Any:
    """``table[key]`` of type ``typ`` when present, else ``default``."""
    if key not in table:
        return default
    return check_type(table[key], key, typ, where)


def check_type(value: Any, key: str, typ, where: str) -> Any:
    """``value`` when it is a ``typ`` (an int is never a bool here), else a UserError."""
    types = typ if isinstance(typ, tuple) else (typ,)
    ok = isinstance(value, types) and not (bool not in types and isinstance(value, bool))
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise UserError(f"{where}: {key!r} must be {names}, got {value!r}; fix the board file")
    return value


def choice(value: str, choices: tuple[str, ...], key: str, where: str) -> str:
    """``value`` when it is one of ``choices``, else a UserError listing them."""
    if value not in choices:
        raise UserError(f"{where}: {key} {value!r} is not one of {', '.join(choices)}; fix the board file")
    return value


def in_range(value: int | float, lo: int | float, hi: int | float, key: str, where: str, why: str = "") -> int | float:
    """``value`` when ``lo <= value <= hi``, else a UserError naming the field and the range."""
    if not lo <= value <= hi:
        src = f" ({why})" if why else ""
        raise UserError(f"{where}: {key} = {value} is out of range {lo}..{hi}{src}; fix the board file")
    return value


def mhz(hz: float) -> str:
    """``216 MHz``, ``0.95 MHz``: a frequency for error messages."""
    return f"{hz / 1e6:g} MHz"
