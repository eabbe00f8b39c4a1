"""Symbols of a linked firmware image (``arm-none-eabi-nm``), so the model's own arrays and the
arena can be told apart from the runtime's code and data."""
from __future__ import annotations

import re
import subprocess

from .flash import require_executable

_NM_RE = re.compile(r"^([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+(\w)\s+(.+)$", re.M)


def symbol_sizes(elf) -> dict[str, dict]:
    """``{name: {"addr", "size", "type"}}`` of every sized symbol (demangled C++ names)."""
    nm = require_executable("arm-none-eabi-nm", "apt-get install binutils-arm-none-eabi")
    out = subprocess.run([nm, "-S", "-C", str(elf)], capture_output=True, text=True, check=True).stdout
    return {name: {"addr": int(addr, 16), "size": int(size, 16), "type": typ}
            for addr, size, typ, name in _NM_RE.findall(out)}


def sized(symbols: dict[str, dict], pattern: str) -> int:
    """Total size of the symbols whose (demangled) name matches ``pattern`` (a regex)."""
    rx = re.compile(pattern)
    return sum(s["size"] for name, s in symbols.items() if rx.search(name))


def ram_usage(elf, ram_origin: int, ram_length: int) -> int:
    """Bytes of RAM a linked image claims: every allocated section placed in the RAM region
    (.data, .bss with the arena, the heap and the stack of the linker script)."""
    from .native.qemu import sections

    return sum(s["size"] for s in sections(elf).values() if ram_origin <= s["addr"] < ram_origin + ram_length)
