"""What a build or a firmware run printed, as data: the usage lines of the TFLite-Micro app
(``ofa: arena_used_bytes N of M`` ...), its self-test verdict and timing, and the linker's
region overflows. Pure functions over text."""
from __future__ import annotations

import re

_USAGE_RE = re.compile(r"^ofa: (arena|stack|heap)_used_bytes (\d+) of (\d+)\s*$", re.M)
_SELF_TEST_RE = re.compile(r"^ofa: self-test (PASS|FAIL)\b", re.M)
_CYCLES_RE = re.compile(r"^ofa: inference (\d+) cycles", re.M)
_OVERFLOW_RE = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")


def parse_usage(text: str) -> dict:
    """``{"arena_used_bytes", "arena_reserved_bytes", "stack_used_bytes", ...}`` from the first
    usage lines the firmware printed (keys missing when it printed none), plus ``self_test``
    (``"PASS"``/``"FAIL"``/None) and ``cycles`` (first inference, when the board counts them)."""
    out: dict = {}
    for kind, used, reserved in _USAGE_RE.findall(text):
        out.setdefault(f"{kind}_used_bytes", int(used))
        out.setdefault(f"{kind}_reserved_bytes", int(reserved))
    m = _SELF_TEST_RE.search(text)
    out["self_test"] = m.group(1) if m else None
    c = _CYCLES_RE.search(text)
    if c:
        out["cycles"] = int(c.group(1))
    return out


def link_overflows(text: str) -> dict[str, int]:
    """``{region: bytes}`` for every ``region 'X' overflowed by N bytes`` the linker reported
    (the largest figure per region)."""
    out: dict[str, int] = {}
    for region, n in _OVERFLOW_RE.findall(text):
        out[region] = max(out.get(region, 0), int(n))
    return out
