"""What a board leaves for the model: its memory minus the runtime's footprint, measured from
linked images, minus a reserve for the user's application.

``measured/runtime_footprint.toml`` (beside this file) holds, per backend x core x kernel set, the
flash and SRAM of the firmware without the model: code, constants, ``.data``, ``.bss`` (the
arena and model arrays taken out), and the stack and heap the bare-metal linker script
reserves, measured with ``scripts/measure_runtime.py`` (arm-none-eabi-size of real links
against the pinned TFLite-Micro trees; the stack and heap peaks from QEMU runs). Boards built
through a vendor framework (Pico SDK, Arduino, ESP-IDF) add that framework's overhead, stated
in their TOML (``[runtime]``), not measured here.
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

FOOTPRINT_FILE = Path(__file__).resolve().parent / "measured" / "runtime_footprint.toml"
BARE_METAL = ("make", "cmake")


@functools.cache
def footprints() -> dict:
    """The measured runtime footprints (``runtime_footprint.toml``)."""
    if not FOOTPRINT_FILE.is_file():
        return {}
    return tomllib.loads(FOOTPRINT_FILE.read_text(encoding="utf-8"))


def runtime_footprint(backend: str, core: str, kernels: str | None) -> dict | None:
    """``{"flash_bytes", "sram_bytes", ...}`` measured for ``backend`` on ``core`` (with
    ``kernels`` for TFLM), or None when nothing was measured for it."""
    table = footprints().get(backend, {}).get(core)
    if table is None:
        return None
    if backend == "tflm":
        table = table.get(kernels or "")
    return dict(table) if table else None


@dataclass(frozen=True)
class ModelBudget:
    """Bytes of SRAM and flash the model may use, and where the rest goes."""

    sram_bytes: int
    flash_bytes: int
    runtime_sram_bytes: int
    runtime_flash_bytes: int
    reserve_sram_bytes: int
    reserve_flash_bytes: int
    source: str  # where the runtime figures come from
    parts: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {k: getattr(self, k) for k in ("sram_bytes", "flash_bytes", "runtime_sram_bytes", "runtime_flash_bytes",
                                               "reserve_sram_bytes", "reserve_flash_bytes", "source", "parts")}


KERNEL_SETS = ("reference", "cmsis-nn")


# Build systems whose TFLM distribution fixes the kernel set: pico-tflmicro compiles Arm's
# CMSIS-NN kernels (their plain-C paths on the M0+), so its arena holds their scratch buffers.
DISTRIBUTION_KERNELS = {"pico-sdk": "cmsis-nn"}


def default_kernels(core: str, build_system: str | None = None) -> str:
    """The TFLM kernel set a core gets by default: the one the build system's TFLM distribution
    compiles where it fixes it (pico-tflmicro: CMSIS-NN), else CMSIS-NN on cores with the DSP
    extension (M4, M7, M33) and the reference kernels elsewhere (M0+ has no SIMD; Xtensa has
    its own, ESP-NN)."""
    if build_system in DISTRIBUTION_KERNELS:
        return DISTRIBUTION_KERNELS[build_system]
    return "cmsis-nn" if core in ("cortex-m4", "cortex-m7", "cortex-m33") else "reference"


def check_kernels(name: str) -> str:
    """``name`` if it is a kernel set, else a one-line UserError."""
    if name not in KERNEL_SETS:
        raise UserError(f"unknown kernel set {name!r}; choose one of {', '.join(KERNEL_SETS)}")
    return name


def model_budget(board, backend: str = "tflm", kernels: str | None = None, build_system: str | None = None,
                 reserve_flash_bytes: int | None = None, reserve_sram_bytes: int | None = None) -> ModelBudget:
    """The budget of ``board`` for a model run by ``backend`` (``kernels`` for TFLM, the core's
    default when None), built with ``build_system`` (the board's default when None), leaving
    the board's application reserve (or the one given, in bytes)."""
    if backend == "tflm":
        kernels = check_kernels(kernels or default_kernels(board.core, build_system or board.default_build_system))
    system = build_system or board.default_build_system
    measured = runtime_footprint(backend, board.core, kernels) if system in BARE_METAL or backend == "native" else None
    if measured is not None:
        rt_flash, rt_sram = int(measured["flash_bytes"]), int(measured["sram_bytes"])
        what = f"{kernels} kernels, " if backend == "tflm" else ""
        source = (f"measured: linked {backend} firmware for {board.core} ({what}arm-none-eabi-size; stack and heap "
                  "reserved as measured in QEMU)")
        parts = {k: v for k, v in measured.items() if k.endswith("_bytes")}
    else:
        rt_flash, rt_sram = board.stated_runtime(backend)
        source = f"stated in the board file ({system} runtime, not measured here)"
        parts = {}
    res_flash = board.reserve_flash_bytes if reserve_flash_bytes is None else int(reserve_flash_bytes)
    res_sram = board.reserve_sram_bytes if reserve_sram_bytes is None else int(reserve_sram_bytes)
    if res_flash < 0 or res_sram < 0:
        raise UserError("the application reserve must be >= 0 KB (--reserve-flash-kb / --reserve-sram-kb)")
    flash = board.app_flash_bytes - rt_flash - res_flash
    sram = board.sram_bytes - rt_sram - res_sram
    if flash <= 0 or sram <= 0:
        raise UserError(f"{board.name}: the runtime ({rt_flash // 1024} KB flash, {rt_sram // 1024} KB SRAM) and the "
                        f"application reserve ({res_flash // 1024} KB, {res_sram // 1024} KB) leave no room for a model; "
                        "lower --reserve-flash-kb / --reserve-sram-kb")
    return ModelBudget(sram, flash, rt_sram, rt_flash, res_sram, res_flash, source, parts)


# ---- the arena the firmware reserves ----------------------------------------------------------

ARENA_ALIGN = 16
# Where a 32-bit arena figure comes from, and the margin the firmware reserves over it.
ARENA_RULES = {
    "measured-qemu": "the arena TFLM used in QEMU on this core with this kernel set (exact), rounded up to 16 B",
    "calibrated": "the calibrated memory model's 32-bit figure for this kernel set + {margin} B (at least twice its "
                  "largest error on held-out QEMU measurements), rounded up to 16 B",
    "derived": "the 64-bit host arena (an upper bound: 32-bit structs are smaller) + the kernel set's largest scratch "
               "buffer + {margin} B, rounded up to 16 B",
}
# Margin over a calibrated figure: the calibration's held-out error was at most 13 B on 20 QEMU
# measurements per core and kernel set (ofa-mcu calibrate --target); 64 B is 5x that.
CALIBRATED_MARGIN_BYTES = 64
DERIVED_MARGIN_BYTES = 256


def arena_reserve(target_bytes: int, source: str, margin_bytes: int | None = None) -> dict:
    """The arena the firmware reserves for a 32-bit figure ``target_bytes`` from ``source``
    (a key of :data:`ARENA_RULES`): ``{"target_bytes", "source", "margin", "total", "rule"}``."""
    if source not in ARENA_RULES:
        raise ValueError(f"unknown arena source {source!r}")
    if margin_bytes is None:
        margin_bytes = {"measured-qemu": 0, "calibrated": CALIBRATED_MARGIN_BYTES,
                        "derived": DERIVED_MARGIN_BYTES}[source]
    total = -(-(int(target_bytes) + int(margin_bytes)) // ARENA_ALIGN) * ARENA_ALIGN
    return {"target_bytes": int(target_bytes), "source": source, "margin": total - int(target_bytes),
            "total": total, "rule": ARENA_RULES[source].format(margin=margin_bytes)}


def arena_limit(sram_budget: int, source: str = "calibrated") -> int:
    """The largest 32-bit arena figure whose reserve (:func:`arena_reserve`) fits ``sram_budget``."""
    margin = {"measured-qemu": 0, "calibrated": CALIBRATED_MARGIN_BYTES, "derived": DERIVED_MARGIN_BYTES}[source]
    return (int(sram_budget) // ARENA_ALIGN) * ARENA_ALIGN - margin
