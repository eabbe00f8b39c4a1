"""The boards catalog: one TOML file per board in this folder (schema in ``README.md``).

``load_board("stm32f746g-disco")`` returns a frozen :class:`Board`; ``list_boards()`` returns
all of them sorted by name. An unknown name is a :class:`~ofa_mcu.errors.UserError` that names
the closest boards.
"""
from __future__ import annotations

import difflib
import functools
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import UserError

BOARDS_DIR = Path(__file__).resolve().parent

CORES = ("cortex-m0plus", "cortex-m4", "cortex-m7", "xtensa-lx7")
BUILD_SYSTEMS = ("make", "cmake", "platformio", "arduino", "pico-sdk", "esp-idf")
FLASH_TOOLS = ("openocd", "pyocd", "picotool", "esptool", "arduino-cli", "qemu")
INPUT_SOURCES = ("camera", "serial", "stub")
CONSOLES = ("semihosting", "serial", "usb-cdc", "uart")


@dataclass(frozen=True)
class MemoryRegions:
    """Linker-script regions for the boards built with the Make/CMake templates."""

    flash_origin: int
    flash_length: int
    ram_origin: int
    ram_length: int


@dataclass(frozen=True)
class Board:
    """One microcontroller board: core, memories, runtime overheads, toolchain and flashing.

    ``sram_bytes`` is the one RAM region the model's arena goes to; ``runtime_*`` is what the
    TFLite-Micro firmware needs beside the model (interpreter, stack, I/O, framework),
    ``native_runtime_*`` the same for the native C backend.
    """

    name: str
    description: str
    vendor: str
    mcu: str
    core: str
    arch_bits: int
    clock_hz: int
    boot_clock_hz: int
    sram_bytes: int
    flash_bytes: int
    fpu: str
    float_abi: str
    cpu_flags: tuple[str, ...]
    has_dwt_cycle_counter: bool
    cycles_per_instruction: float
    input_source: str
    console: str
    runtime_sram_bytes: int
    runtime_flash_bytes: int
    native_runtime_sram_bytes: int
    native_runtime_flash_bytes: int
    build_systems: tuple[str, ...]
    default_build_system: str
    flash_tool: str
    flash_config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    platformio_platform: str | None = None
    platformio_board: str | None = None
    platformio_framework: str | None = None
    arduino_fqbn: str | None = None
    memory: MemoryRegions | None = None
    qemu_machine: str | None = None

    @property
    def model_sram_budget(self) -> int:
        """SRAM left for the model's tensor arena with the TFLM runtime."""
        return self.sram_bytes - self.runtime_sram_bytes

    @property
    def model_flash_budget(self) -> int:
        """Flash left for the model's flatbuffer with the TFLM runtime."""
        return self.flash_bytes - self.runtime_flash_bytes

    @property
    def native_model_sram_budget(self) -> int:
        """SRAM left for activations with the native C backend."""
        return self.sram_bytes - self.native_runtime_sram_bytes

    @property
    def native_model_flash_budget(self) -> int:
        """Flash left for weights with the native C backend."""
        return self.flash_bytes - self.native_runtime_flash_bytes

    @property
    def is_qemu(self) -> bool:
        """True for the boards that run under ``qemu-system-arm``."""
        return self.qemu_machine is not None

    @property
    def is_cortex_m(self) -> bool:
        """True when arm-none-eabi-gcc builds for this core."""
        return self.core.startswith("cortex-m")

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``ofa-mcu boards --json`` and manifests)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, MemoryRegions):
                v = {k.name: getattr(v, k.name) for k in fields(v)}
            elif isinstance(v, Mapping):
                v = dict(v)
            out[f.name] = v
        out["model_sram_budget"] = self.model_sram_budget
        out["model_flash_budget"] = self.model_flash_budget
        return out


def _need(table: dict, key: str, typ, where: str):
    if key not in table:
        raise UserError(f"{where}: missing key {key!r}; see ofa_mcu/boards/README.md for the schema")
    v = table[key]
    ok = isinstance(v, typ) and not (typ is int and isinstance(v, bool))
    if not ok:
        raise UserError(f"{where}: {key!r} must be {getattr(typ, '__name__', typ)}, got {v!r}; fix the board file")
    return v


def _choice(v: str, choices: tuple[str, ...], key: str, where: str) -> str:
    if v not in choices:
        raise UserError(f"{where}: {key} {v!r} is not one of {', '.join(choices)}; fix the board file")
    return v


def parse_board(data: dict, where: str) -> Board:
    """Validate one board table (as read from TOML) and build the :class:`Board`."""
    rt = _need(data, "runtime", dict, where)
    bd = _need(data, "build", dict, where)
    fl = dict(_need(data, "flash", dict, where))
    core = _choice(_need(data, "core", str, where), CORES, "core", where)
    systems = tuple(_need(bd, "systems", list, f"{where} [build]"))
    for s in systems:
        _choice(s, BUILD_SYSTEMS, "build system", where)
    default = _choice(_need(bd, "default", str, f"{where} [build]"), systems, "default build system", where)
    tool = _choice(fl.pop("tool", ""), FLASH_TOOLS, "flash tool", where)
    memory = None
    if "memory" in data:
        m = data["memory"]
        memory = MemoryRegions(**{k.name: _need(m, k.name, int, f"{where} [memory]") for k in fields(MemoryRegions)})
    if ("make" in systems or "cmake" in systems) and memory is None:
        raise UserError(f"{where}: boards built with make/cmake need a [memory] table with the linker regions")
    qemu = data.get("qemu", {}).get("machine")
    if tool == "qemu" and not qemu:
        raise UserError(f"{where}: a board flashed with qemu needs [qemu] machine = ...")
    cpi = _need(data, "cycles_per_instruction", (int, float), where)
    board = Board(
        name=_need(data, "name", str, where),
        description=_need(data, "description", str, where),
        vendor=_need(data, "vendor", str, where),
        mcu=_need(data, "mcu", str, where),
        core=core,
        arch_bits=_need(data, "arch_bits", int, where),
        clock_hz=_need(data, "clock_hz", int, where),
        boot_clock_hz=_need(data, "boot_clock_hz", int, where),
        sram_bytes=_need(data, "sram_bytes", int, where),
        flash_bytes=_need(data, "flash_bytes", int, where),
        fpu=_need(data, "fpu", str, where),
        float_abi=_need(data, "float_abi", str, where),
        cpu_flags=tuple(_need(data, "cpu_flags", list, where)),
        has_dwt_cycle_counter=_need(data, "has_dwt_cycle_counter", bool, where),
        cycles_per_instruction=float(cpi),
        input_source=_choice(_need(data, "input_source", str, where), INPUT_SOURCES, "input_source", where),
        console=_choice(_need(data, "console", str, where), CONSOLES, "console", where),
        runtime_sram_bytes=_need(rt, "sram_bytes", int, f"{where} [runtime]"),
        runtime_flash_bytes=_need(rt, "flash_bytes", int, f"{where} [runtime]"),
        native_runtime_sram_bytes=_need(rt, "native_sram_bytes", int, f"{where} [runtime]"),
        native_runtime_flash_bytes=_need(rt, "native_flash_bytes", int, f"{where} [runtime]"),
        build_systems=systems,
        default_build_system=default,
        flash_tool=tool,
        flash_config=MappingProxyType(fl),
        platformio_platform=bd.get("platformio_platform"),
        platformio_board=bd.get("platformio_board"),
        platformio_framework=bd.get("platformio_framework"),
        arduino_fqbn=bd.get("arduino_fqbn"),
        memory=memory,
        qemu_machine=qemu,
    )
    if board.runtime_sram_bytes >= board.sram_bytes or board.runtime_flash_bytes >= board.flash_bytes:
        raise UserError(f"{where}: the runtime needs more memory than the board has; fix [runtime]")
    if "platformio" in systems and not board.platformio_board:
        raise UserError(f"{where}: build system platformio needs [build] platformio_board")
    if "arduino" in systems and not board.arduino_fqbn:
        raise UserError(f"{where}: build system arduino needs [build] arduino_fqbn")
    return board


@functools.cache
def _catalog() -> dict[str, Board]:
    boards = {}
    for path in sorted(BOARDS_DIR.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"board file {path.name} is not valid TOML ({exc}); fix it") from None
        board = parse_board(data, path.name)
        if board.name != path.stem:
            raise UserError(f"board file {path.name} names itself {board.name!r}; the file name must match")
        boards[board.name] = board
    return boards


def list_boards() -> list[Board]:
    """Every board in the catalog, sorted by name."""
    return [b for _, b in sorted(_catalog().items())]


def board_names() -> list[str]:
    """The catalog's board names, sorted."""
    return sorted(_catalog())


def load_board(name: str) -> Board:
    """The board called ``name``; an unknown name is a UserError naming the closest boards."""
    cat = _catalog()
    if name in cat:
        return cat[name]
    close = difflib.get_close_matches(name, sorted(cat), n=3, cutoff=0.4)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise UserError(f"unknown board {name!r}; {hint}(ofa-mcu boards lists all)")


__all__ = ["Board", "MemoryRegions", "board_names", "list_boards", "load_board", "parse_board"]
