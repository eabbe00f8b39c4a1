"""The boards catalog: one TOML file per board in this folder (schema in ``README.md``).

``load_board("stm32f746g-disco")`` returns a frozen :class:`Board`; ``list_boards()`` returns
all boards whose files are valid, sorted by name. Each file is read and checked on its own: a
broken board file is an error for the commands that use that board (naming the file and the
field), never for the others (``catalog_problems()`` lists them). An unknown name is a
:class:`~ofa_mcu.errors.UserError` that names the closest boards.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import UserError
from .clock import FAMILIES, ClockPlan, parse_clock
from .console import ConsoleSpec, parse_console
from .validate import check_type, choice, in_range, need, optional

BOARDS_DIR = Path(__file__).resolve().parent

CORES = ("cortex-m0plus", "cortex-m4", "cortex-m7", "xtensa-lx7")
BUILD_SYSTEMS = ("make", "cmake", "platformio", "arduino", "pico-sdk", "esp-idf")
FLASH_TOOLS = ("openocd", "pyocd", "picotool", "esptool", "arduino-cli", "qemu")
INPUT_SOURCES = ("camera", "serial", "stub")
CYCLE_COUNTERS = ("dwt", "systick", "ccount")
# How the native C backend builds firmware for a board: "baremetal" (its own Makefile with
# arm-none-eabi-gcc, the bare-metal BSP, startup and linker script), "pico-sdk" (a Pico SDK
# CMake project: the SDK's boot2 and UF2).
NATIVE_TARGETS = ("baremetal", "pico-sdk")
# Families the bare-metal BSP (firmware/bsp/baremetal) brings up.
BAREMETAL_FAMILIES = ("stm32f7", "stm32h7", "mps2")


@dataclass(frozen=True)
class MemoryRegions:
    """Linker-script regions for the boards built with the Make/CMake templates."""

    flash_origin: int
    flash_length: int
    ram_origin: int
    ram_length: int


@dataclass(frozen=True)
class Board:
    """One microcontroller board: core, clock plan, console, memories, runtime overheads,
    toolchain and flashing.

    ``clock_hz`` is the core clock the generated firmware runs at (the clock plan's; a framework
    build system may set its own, see :meth:`cpu_hz`), ``max_clock_hz`` the chip's rating.
    ``sram_bytes`` is the one RAM region the model's arena goes to. What the model may use is
    :func:`~ofa_mcu.boards.budget.model_budget`: the memory minus the runtime (measured from
    linked images for bare-metal builds; ``runtime_*`` / ``native_runtime_*`` state it for the
    framework build systems and the cores nothing was measured for) minus ``reserve_*``, the
    room kept for the user's application. ``console`` is the console kind the firmware prints
    on (``console_spec.default`` unless :meth:`with_console` chose another).
    """

    name: str
    description: str
    vendor: str
    mcu: str
    core: str
    family: str
    arch_bits: int
    clock_hz: int
    max_clock_hz: int
    clock: ClockPlan
    sram_bytes: int
    flash_bytes: int
    fpu: str
    float_abi: str
    cpu_flags: tuple[str, ...]
    cycle_counter: str
    cycles_per_instruction: float
    input_source: str
    console: str
    console_spec: ConsoleSpec
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
    native_target: str | None = None
    memory: MemoryRegions | None = None
    qemu_machine: str | None = None
    reserve_flash_bytes: int = 0
    reserve_sram_bytes: int = 0

    @property
    def app_flash_bytes(self) -> int:
        """Flash the application image may occupy: the app partition where the flash holds a
        partition table (ESP-IDF), else all of it."""
        return int(self.flash_config.get("app_partition_bytes", self.flash_bytes))

    def stated_runtime(self, backend: str = "tflm") -> tuple[int, int]:
        """``(flash, SRAM)`` bytes the board file states for ``backend``'s runtime (used where no
        measured footprint applies)."""
        if backend == "native":
            return self.native_runtime_flash_bytes, self.native_runtime_sram_bytes
        return self.runtime_flash_bytes, self.runtime_sram_bytes

    def budget(self, backend: str = "tflm", **kwargs):
        """:func:`~ofa_mcu.boards.budget.model_budget` of this board (defaults: the core's kernel
        set, the board's build system, its application reserve)."""
        from .budget import model_budget

        return model_budget(self, backend, **kwargs)

    @property
    def model_sram_budget(self) -> int:
        """SRAM left for the model's tensor arena with the TFLM runtime (defaults of :meth:`budget`)."""
        return self.budget("tflm").sram_bytes

    @property
    def model_flash_budget(self) -> int:
        """Flash left for the model's flatbuffer with the TFLM runtime (in the app partition)."""
        return self.budget("tflm").flash_bytes

    @property
    def native_model_sram_budget(self) -> int:
        """SRAM left for activations with the native C backend."""
        return self.budget("native").sram_bytes

    @property
    def native_model_flash_budget(self) -> int:
        """Flash left for weights with the native C backend."""
        return self.budget("native").flash_bytes

    @property
    def has_dwt_cycle_counter(self) -> bool:
        """True when the core has a DWT cycle counter (Cortex-M3/M4/M7)."""
        return self.cycle_counter == "dwt"

    @property
    def is_qemu(self) -> bool:
        """True for the boards that run under ``qemu-system-arm``."""
        return self.qemu_machine is not None

    @property
    def is_cortex_m(self) -> bool:
        """True when arm-none-eabi-gcc builds for this core."""
        return self.core.startswith("cortex-m")

    def cpu_hz(self, build_system: str | None = None) -> int:
        """Core clock of firmware built with ``build_system``: the clock plan's, or what a
        framework (stm32duino, Arduino Mbed ...) sets by itself (``[clock.frameworks]``)."""
        return self.clock.cpu_hz(build_system)

    def with_console(self, kind: str | None) -> "Board":
        """This board printing on console ``kind`` (one of ``console_spec.choices``); None keeps
        the default. Another kind is a UserError listing the choices."""
        if kind is None or kind == self.console:
            return self
        if kind not in self.console_spec.choices:
            raise UserError(f"board {self.name} cannot print on a {kind} console; choose one of "
                            f"{', '.join(self.console_spec.choices)}")
        return dataclasses.replace(self, console=kind)

    def to_dict(self) -> dict:
        """Plain-JSON form (for ``ofa-mcu boards --json`` and manifests)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, MemoryRegions):
                v = {k.name: getattr(v, k.name) for k in fields(v)}
            elif isinstance(v, (ClockPlan, ConsoleSpec)):
                v = v.to_dict()
            elif isinstance(v, Mapping):
                v = dict(v)
            out[f.name] = v
        out["model_sram_budget"] = self.model_sram_budget
        out["model_flash_budget"] = self.model_flash_budget
        return out


def _flash_table(data: dict, where: str) -> tuple[str, dict]:
    fl = dict(need(data, "flash", dict, where))
    tool = choice(fl.pop("tool", ""), FLASH_TOOLS, "flash tool", where)
    if "app_partition_bytes" in fl:
        w = f"{where} [flash]"
        off = check_type(fl.get("app_partition_offset"), "app_partition_offset", int, w)
        size = check_type(fl["app_partition_bytes"], "app_partition_bytes", int, w)
        flash = need(data, "flash_bytes", int, where)
        if off % 0x10000 or size % 0x10000:
            raise UserError(f"{w}: app_partition_offset and app_partition_bytes must be multiples of 64 KB "
                            "(ESP-IDF app partitions); fix the board file")
        if off + size > flash:
            raise UserError(f"{w}: the app partition ends at {off + size:#x}, past the {flash:#x} B flash; "
                            "fix app_partition_bytes")
    return tool, fl


def parse_board(data: dict, where: str) -> Board:
    """Validate one board table (as read from TOML) and build the :class:`Board`."""
    rt = need(data, "runtime", dict, where)
    bd = need(data, "build", dict, where)
    app = optional(data, "application", dict, where) or {}
    tool, fl = _flash_table(data, where)
    core = choice(need(data, "core", str, where), CORES, "core", where)
    family = choice(need(data, "family", str, where), tuple(FAMILIES), "family", where)
    systems = tuple(need(bd, "systems", list, f"{where} [build]"))
    for s in systems:
        choice(s, BUILD_SYSTEMS, "build system", where)
    default = choice(need(bd, "default", str, f"{where} [build]"), systems, "default build system", where)
    native = optional(bd, "native", str, f"{where} [build]")
    if native is not None:
        choice(native, NATIVE_TARGETS, "[build] native", where)
    memory = None
    if "memory" in data:
        m = need(data, "memory", dict, where)
        memory = MemoryRegions(**{k.name: need(m, k.name, int, f"{where} [memory]") for k in fields(MemoryRegions)})
    if ("make" in systems or "cmake" in systems or native == "baremetal") and memory is None:
        raise UserError(f"{where}: boards built with make/cmake or the bare-metal native backend need a [memory] "
                        "table with the linker regions")
    if native == "baremetal" and family not in BAREMETAL_FAMILIES:
        raise UserError(f"{where}: [build] native = \"baremetal\" needs a family the bare-metal BSP brings up "
                        f"({', '.join(BAREMETAL_FAMILIES)}), not {family}")
    qemu = optional(data.get("qemu", {}), "machine", str, f"{where} [qemu]")
    if tool == "qemu" and not qemu:
        raise UserError(f"{where}: a board flashed with qemu needs [qemu] machine = ...")
    cpi = need(data, "cycles_per_instruction", (int, float), where)
    if not 0 < cpi <= 16:
        raise UserError(f"{where}: cycles_per_instruction = {cpi} must be above 0 and at most 16 (cycles the core "
                        "takes per executed instruction, about 0.8-1.5); fix the board file")
    max_hz = in_range(need(data, "max_clock_hz", int, where), 1, 10**10, "max_clock_hz", where)
    plan = parse_clock(need(data, "clock", dict, where), family, core, max_hz, where)
    console = parse_console(need(data, "console", dict, where), family, plan, where)
    board = Board(
        name=need(data, "name", str, where),
        description=need(data, "description", str, where),
        vendor=need(data, "vendor", str, where),
        mcu=need(data, "mcu", str, where),
        core=core,
        family=family,
        arch_bits=need(data, "arch_bits", int, where),
        clock_hz=plan.sysclk_hz,
        max_clock_hz=max_hz,
        clock=plan,
        sram_bytes=in_range(need(data, "sram_bytes", int, where), 1, 2**40, "sram_bytes", where),
        flash_bytes=in_range(need(data, "flash_bytes", int, where), 1, 2**40, "flash_bytes", where),
        fpu=need(data, "fpu", str, where),
        float_abi=need(data, "float_abi", str, where),
        cpu_flags=tuple(check_type(f, "cpu_flags", str, where) for f in need(data, "cpu_flags", list, where)),
        cycle_counter=choice(need(data, "cycle_counter", str, where), CYCLE_COUNTERS, "cycle_counter", where),
        cycles_per_instruction=float(cpi),
        input_source=choice(need(data, "input_source", str, where), INPUT_SOURCES, "input_source", where),
        console=console.default,
        console_spec=console,
        runtime_sram_bytes=need(rt, "sram_bytes", int, f"{where} [runtime]"),
        runtime_flash_bytes=need(rt, "flash_bytes", int, f"{where} [runtime]"),
        native_runtime_sram_bytes=need(rt, "native_sram_bytes", int, f"{where} [runtime]"),
        native_runtime_flash_bytes=need(rt, "native_flash_bytes", int, f"{where} [runtime]"),
        build_systems=systems,
        default_build_system=default,
        flash_tool=tool,
        flash_config=MappingProxyType(fl),
        platformio_platform=optional(bd, "platformio_platform", str, f"{where} [build]"),
        platformio_board=optional(bd, "platformio_board", str, f"{where} [build]"),
        platformio_framework=optional(bd, "platformio_framework", str, f"{where} [build]"),
        arduino_fqbn=optional(bd, "arduino_fqbn", str, f"{where} [build]"),
        native_target=native,
        memory=memory,
        qemu_machine=qemu,
        reserve_flash_bytes=in_range(optional(app, "reserve_flash_bytes", int, f"{where} [application]") or 0,
                                     0, 2**40, "reserve_flash_bytes", where),
        reserve_sram_bytes=in_range(optional(app, "reserve_sram_bytes", int, f"{where} [application]") or 0,
                                    0, 2**40, "reserve_sram_bytes", where),
    )
    if board.cycle_counter == "dwt" and core not in ("cortex-m4", "cortex-m7"):
        raise UserError(f"{where}: cycle_counter \"dwt\" needs a Cortex-M3/M4/M7 ({core} has no DWT cycle counter)")
    if board.runtime_sram_bytes >= board.sram_bytes or board.runtime_flash_bytes >= board.app_flash_bytes:
        raise UserError(f"{where}: the runtime needs more memory than the board has; fix [runtime]")
    if "platformio" in systems and not (board.platformio_board and board.platformio_platform and board.platformio_framework):
        raise UserError(f"{where}: build system platformio needs [build] platformio_platform, platformio_board and "
                        "platformio_framework")
    if board.platformio_framework is not None:
        choice(board.platformio_framework, ("arduino", "espidf"), "[build] platformio_framework", where)
    if "arduino" in systems and not board.arduino_fqbn:
        raise UserError(f"{where}: build system arduino needs [build] arduino_fqbn")
    return board


def _board_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BOARDS_DIR.glob("*.toml"))}


@functools.lru_cache(maxsize=None)
def _parse_file(path: Path, mtime_ns: int) -> Board:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"board file {path.name} is not valid TOML ({exc}); fix it") from None
    board = parse_board(data, path.name)
    if board.name != path.stem:
        raise UserError(f"board file {path.name} names itself {board.name!r}; the file name must match")
    return board


def _read(path: Path) -> Board:
    return _parse_file(path, path.stat().st_mtime_ns)


def list_boards() -> list[Board]:
    """Every board whose file is valid, sorted by name (broken files: :func:`catalog_problems`)."""
    out = []
    for path in _board_files().values():
        try:
            out.append(_read(path))
        except UserError:
            continue
    return out


def catalog_problems() -> dict[str, str]:
    """``{file name: error}`` for the board files that do not load."""
    problems = {}
    for path in _board_files().values():
        try:
            _read(path)
        except UserError as exc:
            problems[path.name] = str(exc)
    return problems


def board_names() -> list[str]:
    """The catalog's board names (every board file, valid or not), sorted."""
    return sorted(_board_files())


def load_board(name: str) -> Board:
    """The board called ``name``; an unknown name is a UserError naming the closest boards, a
    broken board file a UserError naming the file and the problem."""
    files = _board_files()
    if name in files:
        return _read(files[name])
    close = difflib.get_close_matches(name, sorted(files), n=3, cutoff=0.4)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise UserError(f"unknown board {name!r}; {hint}`ofa-mcu boards` lists them all")


__all__ = ["Board", "ClockPlan", "ConsoleSpec", "MemoryRegions", "board_names", "catalog_problems", "list_boards",
           "load_board", "parse_board"]
