"""Cross-build a generated native project for a Cortex-M board, run it in QEMU (the firmware's
UART on stdout, its status as QEMU's exit code through a semihosting exit call) and count its
instructions per layer with a TCG plugin (``firmware/tools/insn_plugin.c``)."""
from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ofa_mcu.errors import UserError

from ..flash import qemu_argv, require_executable
from ..paths import firmware_dir
from .boards import resolve_board
from .emit import LINKER, artifacts



def build_firmware(project_dir, board: Any) -> Path:
    """Build the project's firmware for ``board`` (the board it was generated for) with its own
    Makefile (``make build/<board>/app.elf``: arm-none-eabi-gcc, newlib-nano, the bare-metal BSP
    and the generated linker script); returns the ELF path. A compile error is a RuntimeError with the compiler's
    output."""
    b = resolve_board(board)
    if b["core"] and not b["core"].startswith("cortex-m"):
        raise UserError(f"board {b['name']!r} has core {b['core']}; the native firmware build targets Cortex-M boards")
    d = Path(project_dir)
    if not (d / "ofa_model.c").is_file():
        raise UserError(f"{str(d)!r} is not a generated native project (no ofa_model.c); run codegen first")
    from .emit import catalog_board
    from .targets import target_for

    kind = target_for(catalog_board(b["name"]))
    if kind.name != "baremetal":
        raise UserError(f"{b['name']}'s native firmware is built with the {kind.name} ({kind.build_system}: "
                        "make firmware, see the project README), not with arm-none-eabi-gcc alone")
    target = artifacts(b["name"])["elf"]
    makefile = d / "Makefile"
    if not makefile.is_file() or f"\n{target}:" not in makefile.read_text():
        raise UserError(f"{str(d)!r} was not generated for board {b['name']}; regenerate it with "
                        f"emit_native(..., board={b['name']!r})")
    if not (d / LINKER).is_file():
        raise UserError(f"board {b['name']} has no [memory] regions, so the project has no linker script")
    require_executable("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    make = require_executable("make", "apt-get install make")
    proc = subprocess.run([make, "-C", str(d), target], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"firmware build failed for {b['name']}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return d / target


_SECTION_RE = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\w+)\s+([0-9a-fA-F]+)\s+[0-9a-fA-F]+\s+([0-9a-fA-F]+)\s+"
                         r"[0-9a-fA-F]+\s+([A-Za-z]*)\s+\d+", re.M)


def sections(elf) -> dict[str, dict]:
    """The ELF's allocated sections (``arm-none-eabi-readelf -S``): ``{name: {"type", "addr",
    "size"}}``; ``type`` NOBITS means zero-filled RAM (nothing in flash)."""
    readelf = require_executable("arm-none-eabi-readelf", "apt-get install binutils-arm-none-eabi")
    out = subprocess.run([readelf, "-SW", str(elf)], capture_output=True, text=True, check=True).stdout
    return {name: {"type": typ, "addr": int(addr, 16), "size": int(size, 16)}
            for name, typ, addr, size, flags in _SECTION_RE.findall(out) if "A" in flags}


def firmware_sizes(elf, flash_origin: int, flash_length: int) -> dict:
    """Flash use of a firmware image by kind: ``text_bytes`` (code, vectors, unwind and init
    tables), ``rodata_bytes`` (weights and other constants), ``data_bytes`` (initial values of
    .data, stored in flash), ``bss_bytes`` (zeroed RAM, the static activation buffer included)
    and ``flash_bytes`` (their flash total)."""
    secs = sections(elf)

    def size(name: str) -> int:
        return secs.get(name, {}).get("size", 0)

    in_flash = [n for n, s in secs.items() if s["type"] != "NOBITS" and flash_origin <= s["addr"] < flash_origin
                + flash_length and n != ".rodata"]
    out = {"text_bytes": sum(size(n) for n in in_flash), "rodata_bytes": size(".rodata"),
           "data_bytes": size(".data"), "bss_bytes": size(".bss")}
    out["flash_bytes"] = out["text_bytes"] + out["rodata_bytes"] + out["data_bytes"]
    return out


def _machine(machine: str) -> str:
    if not machine:
        raise UserError("no QEMU machine given; use a board with [qemu] machine (e.g. qemu-mps2-an386)")
    return machine


def run_in_qemu(elf_path, machine: str, timeout: float = 120, extra_args: list[str] | None = None) -> tuple[int, str]:
    """Run the firmware under ``qemu-system-arm -M machine`` (UART on stdout, semihosting exit);
    returns the guest's exit code and its stdout. A run longer than ``timeout`` seconds is a UserError."""
    qemu = require_executable("qemu-system-arm", "apt-get install qemu-system-arm")
    cmd = [qemu, *qemu_argv(_machine(machine), str(elf_path), tuple(extra_args or ()))[1:]]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise UserError(f"QEMU ({machine}) did not finish within {timeout:g} s; raise the timeout or check the "
                        "firmware") from None
    if "qemu-system-arm:" in proc.stderr and proc.returncode != 0 and not proc.stdout:
        raise RuntimeError(f"QEMU failed: {proc.stderr.strip()[-2000:]}")
    return proc.returncode, proc.stdout


def plugin_path() -> Path:
    """Build (once, cached by source hash) and return the instruction-counting plugin."""
    plugin_src = firmware_dir() / "tools" / "insn_plugin.c"
    src = plugin_src.read_bytes()
    tag = hashlib.sha256(src).hexdigest()[:12]
    lib = Path(tempfile.gettempdir()) / f"ofa-mcu-insn-plugin-{tag}" / "libofa_insn.so"
    if not lib.is_file():
        lib.parent.mkdir(parents=True, exist_ok=True)
        cc = require_executable("gcc", "apt-get install gcc")
        tmp = lib.with_suffix(".tmp.so")
        proc = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(plugin_src)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"plugin build failed:\n{proc.stderr[-2000:]}")
        tmp.replace(lib)
    return lib


def marker_address(elf) -> int:
    """Address of ``ofa_layer_marker`` in the ELF (Thumb bit cleared)."""
    nm = require_executable("arm-none-eabi-nm", "apt-get install binutils-arm-none-eabi")
    out = subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^([0-9a-fA-F]+)\s+[Tt]\s+ofa_layer_marker$", out, re.M)
    if not m:
        raise UserError(f"{elf} has no ofa_layer_marker (the instruction-count marker); regenerate the project "
                        "with this ofa-mcu and build it again")
    return int(m.group(1), 16) & ~1


def _n_layers(elf: Path) -> int | None:
    for d in (elf.parent, *elf.parents):
        h = d / "ofa_model.h"
        if h.is_file():
            m = re.search(r"#define OFA_MODEL_N_LAYERS (\d+)", h.read_text())
            return int(m.group(1)) if m else None
    return None


def plugin_args(plugin: str, marker: str, counts: str, log: str) -> list[str]:
    """QEMU arguments that load the instruction-counting plugin (exact counts: ``-icount
    shift=0``); it writes the total and the count at every ``marker`` call to ``counts``."""
    return ["-icount", "shift=0", "-plugin", f"{plugin},marker={marker},out={counts}", "-d", "plugin", "-D", log]


def split_marks(marks: list[int], n_layers: int | None, layout: str = "native") -> dict:
    """One inference's ``total`` and ``per_layer`` instructions from the plugin's running counts
    at each marker call (pure arithmetic).

    ``layout="native"``: the generated C calls the marker at every layer boundary (``n_layers +
    1`` calls per inference). ``layout="tflm"``: the TFLite-Micro app calls it before and after
    ``Invoke`` and at the start and end of each of the ``n_layers`` ops (``2 n_layers + 2``
    calls); ``per_layer`` is then each op's own count, and ``total`` also holds the
    interpreter's work between ops."""
    if layout == "native":
        per_inf = (n_layers + 1) if n_layers else len(marks)
    elif layout == "tflm":
        if not n_layers:
            raise ValueError("the tflm marker layout needs the number of ops")
        per_inf = 2 * n_layers + 2
    else:
        raise ValueError(f"unknown marker layout {layout!r}")
    if len(marks) < per_inf or per_inf < 2:
        raise RuntimeError(f"expected at least {per_inf} marks per inference, got {len(marks)}")
    first = marks[:per_inf]
    if layout == "native":
        per_layer = [b - a for a, b in zip(first, first[1:])]
    else:
        per_layer = [first[2 + 2 * i] - first[1 + 2 * i] for i in range(n_layers)]
    return {"total": first[-1] - first[0], "per_layer": per_layer, "inferences": len(marks) // per_inf}


def count_instructions(elf, machine: str, timeout: float = 900, n_layers: int | None = None,
                       layout: str = "native") -> dict:
    """Guest instructions of one inference, in total and per layer, counted by the QEMU
    plugin between the firmware's markers (``-icount shift=0``; ``layout``: see
    :func:`split_marks`; a native project's layer count is read from its ``ofa_model.h``).

    Returns ``{"total", "per_layer", "program_total", "inferences", "exit_code", "stdout"}``;
    ``total``/``per_layer`` are for the first inference the firmware runs."""
    elf = Path(elf)
    if n_layers is None and layout == "native":
        n_layers = _n_layers(elf)
    with tempfile.TemporaryDirectory(prefix="ofa-insn-") as tmp:
        out = Path(tmp) / "counts.txt"
        args = plugin_args(str(plugin_path()), f"{marker_address(elf):#x}", str(out), str(Path(tmp) / "qemu.log"))
        code, stdout = run_in_qemu(elf, machine, timeout=timeout, extra_args=args)
        if not out.is_file():
            raise RuntimeError("the instruction-counting plugin wrote no counts (did QEMU load it?)")
        lines = out.read_text().split("\n")
    total = int(lines[0].split()[1])
    marks = [int(l.split()[1]) for l in lines[1:] if l.startswith("mark ")]
    return {**split_marks(marks, n_layers, layout), "program_total": total, "exit_code": code, "stdout": stdout}
