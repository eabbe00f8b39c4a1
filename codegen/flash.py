"""Build and flash a generated project: registries of build systems and flash tools.

Both :func:`plan` (the exact commands, for ``--dry-run`` and the project README) and
:func:`run_plan` (run them) read the project's ``ofa-mcu.json`` manifest. A flash tool is one
registry entry; the QEMU runner is the entry for the QEMU boards. Both backends' projects use
them: the TFLite-Micro ones (make, cmake, ...) and the native C ones (``native-make``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from ofa_mcu.boards import Board, load_board
from ofa_mcu.boards.budget import KERNEL_SETS
from ofa_mcu.boards.console import KINDS as CONSOLE_KINDS
from ofa_mcu.errors import UserError
from ofa_mcu.io import stays_inside

MANIFEST = "ofa-mcu.json"
MANIFEST_FORMAT = "ofa-mcu-project/1"
REGENERATE = "regenerate the project with ofa-mcu deploy/build"
QEMU_TIMEOUT_S = 600


@dataclass(frozen=True)
class Step:
    """One command: argv, working directory (relative to the project), and what it does."""

    argv: tuple[str, ...]
    cwd: str = "."
    what: str = ""
    timeout: float | None = None
    env: tuple[tuple[str, str], ...] = ()  # variables set for this command only

    def command(self) -> str:
        """The command as one shell line, its environment variables first."""
        return shlex.join([f"{k}={v}" for k, v in self.env] + list(self.argv))

    def shell(self) -> str:
        """The command as one shell line (``cd DIR && ...`` when it runs elsewhere)."""
        return self.command() if self.cwd == "." else f"cd {shlex.quote(self.cwd)} && {self.command()}"


@dataclass(frozen=True)
class Options:
    """User choices that commands need: TFLM location and kernel set, serial port, tool override."""

    tflm_dir: str | None = None
    port: str | None = None
    tool: str | None = None
    placeholders: bool = False  # write <PLACEHOLDER>s instead of failing on missing values
    kernels: str | None = None  # the kernel set the tree must hold (None: whatever it holds)
    use_library_cache: bool = True  # link TFLM from ~/.cache/ofa-mcu instead of compiling it in the project
    jobs: int = 2

    def need(self, value: str | None, placeholder: str, hint: str) -> str:
        """``value``, or ``placeholder`` when planning for documentation, else a UserError."""
        if value:
            return value
        if self.placeholders:
            return placeholder
        raise UserError(hint)


@dataclass(frozen=True)
class Tool:
    """An external program and how to install it."""

    executable: str
    install: str


TOOLS = {
    "make": Tool("make", "apt-get install make gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"),
    "cmake": Tool("cmake", "apt-get install cmake (or pip install cmake), plus gcc-arm-none-eabi for the Cortex-M boards"),
    "pio": Tool("pio", "pip install platformio"),
    "arduino-cli": Tool("arduino-cli", "see https://arduino.github.io/arduino-cli/latest/installation/ (one binary)"),
    "idf.py": Tool("idf.py", "install ESP-IDF 5.x (https://docs.espressif.com/projects/esp-idf/en/latest/esp32s3/get-started/) and run . $IDF_PATH/export.sh"),
    "openocd": Tool("openocd", "apt-get install openocd"),
    "pyocd": Tool("pyocd", "pip install pyocd (or apt-get install python3-pyocd)"),
    "picotool": Tool("picotool", "apt-get install picotool (Debian 13 / Ubuntu 24.04) or build https://github.com/raspberrypi/picotool"),
    "esptool": Tool("esptool.py", "pip install esptool"),
    "qemu": Tool("qemu-system-arm", "apt-get install qemu-system-arm"),
    "arm-gcc": Tool("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"),
}


def _tflm(opts: Options) -> str:
    from .tflm_tree import TREE_HINT, tree_from_env

    return opts.need(tree_from_env(opts.tflm_dir), "/path/to/tflm-tree",
                     f"this project builds TFLite-Micro from source: {TREE_HINT}")


def _tflm_library(board: Board, m: dict, opts: Options) -> str | None:
    """Path of the cached TFLM library the build links (None when the project compiles the tree
    itself: documentation plans, or ``use_library_cache=False``)."""
    if opts.placeholders or not opts.use_library_cache:
        return None
    from .tflm_lib import library_path
    from .tflm_tree import open_tree

    try:
        tree = open_tree(_tflm(opts), opts.kernels)
    except UserError:  # planning only: the build's preflight check reports the tree's problem
        return None
    return str(library_path(tree, board.cpu_flags, m.get("model", {}).get("ops")))


def _port(opts: Options) -> str:
    return opts.need(opts.port, "<PORT>", "pass --port with the board's serial port (e.g. /dev/ttyACM0)")


def _build_make(board: Board, m: dict, opts: Options) -> list[Step]:
    lib = _tflm_library(board, m, opts)
    argv = ("make", f"TFLM_DIR={_tflm(opts)}", *((f"TFLM_LIB={lib}",) if lib else ()), f"-j{opts.jobs}")
    return [Step(argv, what="build build/app.elf" + (" (TFLM from ofa-mcu's library cache)" if lib else ""))]


def _build_native(board: Board, m: dict, opts: Options) -> list[Step]:
    return [Step(("make", "firmware", "bin"), what=f"build {artifact(m, 'elf')} and {artifact(m, 'bin')}")]


def _build_native_pico(board: Board, m: dict, opts: Options) -> list[Step]:
    return [Step(("make", "firmware"), what=f"build {artifact(m, 'uf2')} with the Pico SDK (needs PICO_SDK_PATH)")]


def _check_pico_sdk(board: Board, m: dict, opts: Options) -> None:
    if not os.environ.get("PICO_SDK_PATH"):
        raise UserError("set PICO_SDK_PATH to a pico-sdk checkout (git clone https://github.com/raspberrypi/pico-sdk "
                        "&& git -C pico-sdk submodule update --init) to build this project")


def _build_cmake(board: Board, m: dict, opts: Options) -> list[Step]:
    lib = _tflm_library(board, m, opts)
    return [
        Step(("cmake", "-S", ".", "-B", "build", f"-DTFLM_DIR={_tflm(opts)}",
              *((f"-DTFLM_LIB={lib}",) if lib else ())), what="configure"),
        Step(("cmake", "--build", "build", f"-j{opts.jobs}"), what="build build/app.elf"),
    ]


def _build_pico(board: Board, m: dict, opts: Options) -> list[Step]:
    tflm = opts.need(
        opts.tflm_dir or os.environ.get("PICO_TFLMICRO_PATH"), "/path/to/pico-tflmicro",
        "pass --tflm-dir with a pico-tflmicro checkout (and set PICO_SDK_PATH); see the project README",
    )
    return [
        Step(("cmake", "-S", ".", "-B", "build", f"-DPICO_TFLMICRO_PATH={tflm}"), what="configure (needs PICO_SDK_PATH)"),
        Step(("cmake", "--build", "build"), what="build build/app.uf2"),
    ]


def _build_pio(board: Board, m: dict, opts: Options) -> list[Step]:
    # ofa_tflm.py (the project's extra script) reads the tree from TFLM_DIR when platformio.ini
    # names none, so --tflm-dir reaches it through the environment.
    env = (("TFLM_DIR", str(opts.tflm_dir)),) if opts.tflm_dir else ()
    return [Step(("pio", "run", "-e", board.name), what="build", env=env)]


def _build_arduino(board: Board, m: dict, opts: Options) -> list[Step]:
    return [Step(("arduino-cli", "compile", "--fqbn", board.arduino_fqbn, m["sketch"]), what="compile the sketch")]


def _build_idf(board: Board, m: dict, opts: Options) -> list[Step]:
    return [
        Step(("idf.py", "set-target", board.flash_config.get("esptool_chip", "esp32s3")), what="select the chip"),
        Step(("idf.py", "build"), what="build (fetches esp-tflite-micro)"),
    ]


def _check_tree(board: Board, m: dict, opts: Options) -> None:
    """The TFLM tree the user named (``--tflm-dir`` or ``$TFLM_DIR``) is one and holds the kernel
    set asked for; a dry run naming none shows a placeholder instead."""
    from .tflm_tree import open_tree, tree_from_env

    if opts.placeholders and not tree_from_env(opts.tflm_dir):
        return
    open_tree(_tflm(opts), opts.kernels)


def _prepare_tflm(board: Board, m: dict, opts: Options) -> None:
    """Check the tree and compile (once, cached) the TFLM library the build links."""
    from .tflm_lib import build_library
    from .tflm_tree import open_tree

    tree = open_tree(_tflm(opts), opts.kernels)
    if opts.use_library_cache:
        build_library(tree, board.cpu_flags, m.get("model", {}).get("ops"), jobs=opts.jobs)


def _check_arm_gcc(board: Board, m: dict, opts: Options) -> None:
    if not board.is_cortex_m:
        raise UserError(f"board {board.name} has core {board.core}; native firmware builds target Cortex-M boards "
                        "(the project's host build still runs: make host)")
    if not shutil.which(TOOLS["arm-gcc"].executable):
        raise missing_tool_error("arm-gcc", "build this project")


@dataclass(frozen=True)
class BuildSystem:
    """How to build a project of one build system (``tool`` is a key of :data:`TOOLS`);
    ``preflight`` checks what the build needs before it runs (not for ``--dry-run``), ``check``
    what the user named (``--dry-run`` too)."""

    tool: str
    steps: Callable[[Board, dict, Options], list[Step]]
    preflight: Callable[[Board, dict, Options], None] | None = None
    check: Callable[[Board, dict, Options], None] | None = None


BUILD_SYSTEMS: dict[str, BuildSystem] = {
    "make": BuildSystem("make", _build_make, _prepare_tflm, _check_tree),
    "cmake": BuildSystem("cmake", _build_cmake, _prepare_tflm, _check_tree),
    "native-make": BuildSystem("make", _build_native, _check_arm_gcc),
    "native-pico-sdk": BuildSystem("cmake", _build_native_pico, _check_pico_sdk),
    "pico-sdk": BuildSystem("cmake", _build_pico),
    "platformio": BuildSystem("pio", _build_pio),
    "arduino": BuildSystem("arduino-cli", _build_arduino),
    "esp-idf": BuildSystem("idf.py", _build_idf),
}


def artifact(m: dict, key: str) -> str:
    """The path (in the project) of the manifest's artifact ``key``; a UserError when it names none."""
    path = m.get("artifacts", {}).get(key)
    if not path:
        raise UserError(f"{MANIFEST} names no {key!r} artifact for build system {m.get('build_system')!r}; {REGENERATE}")
    return path


# The firmware prints on the emulated UART (CMSDK UART0 -> QEMU's stdio) and ends with a
# semihosting exit call, so QEMU's exit status is the firmware's; -nographic keeps QEMU off the
# display, -monitor none keeps its monitor off stdio.
QEMU_FLAGS = ("-nographic", "-serial", "stdio", "-monitor", "none", "-semihosting-config", "enable=on,target=native")


def qemu_argv(machine: str, elf: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The QEMU command line that runs a Cortex-M image with its UART on stdout and exits with
    the firmware's status."""
    if not machine:
        raise UserError("no QEMU machine for this board; only boards with [qemu] machine run in QEMU")
    return ("qemu-system-arm", "-M", machine, *QEMU_FLAGS, *extra, "-kernel", elf)


def _flash_openocd(board: Board, m: dict, opts: Options) -> list[Step]:
    elf = artifact(m, "elf")
    cfg = board.flash_config.get("openocd_config")
    if not cfg:
        raise UserError(f"board {board.name} has no openocd_config in its catalog entry; use --tool pyocd")
    if m.get("console", board.console) == "semihosting":
        return [Step(
            ("openocd", "-f", cfg, "-c", f"program {elf} verify", "-c", "arm semihosting enable", "-c", "reset run"),
            what="flash, then stay attached to show the semihosting output (Ctrl-C ends)",
        )]
    return [Step(("openocd", "-f", cfg, "-c", f"program {elf} verify reset exit"),
                 what=f"flash and reset; the firmware prints on {board.console_spec.host}")]


def _flash_pyocd(board: Board, m: dict, opts: Options) -> list[Step]:
    target = board.flash_config.get("pyocd_target")
    if not target:
        raise UserError(f"board {board.name} has no pyocd_target in its catalog entry")
    return [Step(("pyocd", "flash", "-t", target, artifact(m, "elf")), what="flash")]


def _flash_picotool(board: Board, m: dict, opts: Options) -> list[Step]:
    return [Step(("picotool", "load", "-f", "-x", artifact(m, "uf2")), what="load (rebooting into BOOTSEL) and run")]


def _flash_esptool(board: Board, m: dict, opts: Options) -> list[Step]:
    chip = board.flash_config.get("esptool_chip", "esp32s3")
    return [Step(
        ("esptool.py", "--chip", chip, "-p", _port(opts), "-b", "460800", "--before", "default_reset",
         "--after", "hard_reset", "write_flash", "@flash_args"),
        cwd="build", what="write bootloader, partition table and app",
    )]


def _flash_arduino(board: Board, m: dict, opts: Options) -> list[Step]:
    return [Step(("arduino-cli", "upload", "-p", _port(opts), "--fqbn", board.arduino_fqbn, m["sketch"]), what="upload")]


def _flash_qemu(board: Board, m: dict, opts: Options) -> list[Step]:
    return [Step(qemu_argv(board.qemu_machine, artifact(m, "elf")),
                 what="run in QEMU: the firmware's UART on this terminal, its status as QEMU's exit code",
                 timeout=QEMU_TIMEOUT_S)]


def _flash_pio(board: Board, m: dict, opts: Options) -> list[Step]:
    return [Step(("pio", "run", "-e", board.name, "-t", "upload"), what="upload with PlatformIO's uploader")]


@dataclass(frozen=True)
class FlashTool:
    """How to put a built project on the board (``tool`` is a key of :data:`TOOLS`; ``artifact``:
    the manifest's artifact it loads, None when the tool finds the build itself)."""

    tool: str
    steps: Callable[[Board, dict, Options], list[Step]]
    build_systems: tuple[str, ...] = field(default=())  # empty: any build system with the artifacts
    artifact: str | None = None


FLASH_TOOLS: dict[str, FlashTool] = {
    "openocd": FlashTool("openocd", _flash_openocd, ("make", "cmake", "native-make"), "elf"),
    "pyocd": FlashTool("pyocd", _flash_pyocd, ("make", "cmake", "native-make"), "elf"),
    "picotool": FlashTool("picotool", _flash_picotool, ("pico-sdk", "native-pico-sdk"), "uf2"),
    "esptool": FlashTool("esptool", _flash_esptool, ("esp-idf",), "flash_args"),
    "arduino-cli": FlashTool("arduino-cli", _flash_arduino, ("arduino",)),
    "qemu": FlashTool("qemu", _flash_qemu, ("make", "cmake", "native-make"), "elf"),
    "platformio": FlashTool("pio", _flash_pio, ("platformio",)),
}


def check_built(project: str | os.PathLike, m: dict, key: str | None) -> None:
    """For ``--no-build``: a UserError unless the project's artifact ``key`` (of the manifest's
    ``artifacts``; None: nothing to check) exists."""
    if key is None:
        return
    path = artifact(m, key)
    if not (Path(project) / path).is_file():
        raise UserError(f"no build in {project} ({path} is missing); drop --no-build")


def flash_tool_for(board: Board, build_system: str, override: str | None = None) -> str:
    """The flash tool name: the override, PlatformIO's own uploader, or the board's tool."""
    if override:
        if override not in FLASH_TOOLS:
            raise UserError(f"unknown flash tool {override!r}; choose one of {', '.join(sorted(FLASH_TOOLS))}")
        name = override
    elif build_system == "platformio":
        name = "platformio"
    else:
        name = board.flash_tool
    allowed = FLASH_TOOLS[name].build_systems
    if allowed and build_system not in allowed:
        raise UserError(f"flash tool {name} cannot flash a {build_system} project; choose one of the board's build systems that it supports ({', '.join(allowed)})")
    return name


# The manifest's keys and their JSON types: required ones, then optional ones (None: may be null).
MANIFEST_REQUIRED = {"format": str, "board": str, "build_system": str}
MANIFEST_OPTIONAL = {"backend": str, "project": str, "kernels": str, "console": (str, type(None)),
                     "sketch": (str, type(None)), "artifacts": dict, "model": dict, "tool_version": str}
MANIFEST_CHOICES = {"backend": ("tflm", "native"), "kernels": KERNEL_SETS, "console": CONSOLE_KINDS}
JSON_TYPES = {str: "a string", dict: "an object", list: "a list", type(None): "null", bool: "true or false",
              int: "a number", float: "a number"}  # Python type -> JSON wording


def _json_type(value) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _expect(path: Path, key: str, value, types) -> None:
    """A UserError naming ``key`` unless ``value`` has one of ``types``."""
    if not isinstance(value, types):
        kinds = " or ".join(JSON_TYPES[t] for t in (types if isinstance(types, tuple) else (types,)))
        raise UserError(f"{path}: {key!r} is {_json_type(value)}, expected {kinds}; {REGENERATE}")


def check_manifest(m, path: Path) -> dict:
    """``m`` (the parsed ``ofa-mcu.json`` at ``path``) if it has the manifest's shape: an object
    with the keys and JSON types :func:`project_manifest` writes; else a one-line UserError naming
    the field."""
    if not isinstance(m, dict):
        raise UserError(f"{path} holds {_json_type(m)}, not the project's JSON object; {REGENERATE}")
    if m.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path} has format {m.get('format')!r}, expected {MANIFEST_FORMAT!r}; {REGENERATE}")
    for key, types in MANIFEST_REQUIRED.items():
        if key not in m:
            raise UserError(f"{path} lacks {key!r}; {REGENERATE}")
        _expect(path, key, m[key], types)
    for key, types in MANIFEST_OPTIONAL.items():
        if key in m:
            _expect(path, key, m[key], types)
    if m["build_system"] not in BUILD_SYSTEMS:
        raise UserError(f"{path}: unknown build system {m['build_system']!r}; {REGENERATE}")
    for key, allowed in MANIFEST_CHOICES.items():
        if m.get(key) is not None and m[key] not in allowed:
            raise UserError(f"{path}: {key} {m[key]!r} is not one of {', '.join(allowed)}; {REGENERATE}")
    for key, value in m.get("artifacts", {}).items():
        _expect(path, f"artifacts.{key}", value, str)
        if not stays_inside(value):
            raise UserError(f"{path}: artifacts.{key} {value!r} leaves the project folder; {REGENERATE}")
    if "ops" in m.get("model", {}):
        _expect(path, "model.ops", m["model"]["ops"], list)
        for i, op in enumerate(m["model"]["ops"]):
            _expect(path, f"model.ops[{i}]", op, str)
    if m["build_system"] == "arduino":
        _expect(path, "sketch", m.get("sketch"), str)
    return m


def read_manifest(project: str | os.PathLike) -> dict:
    """The project's ``ofa-mcu.json``; a folder without one, or one of the wrong shape, is a
    UserError."""
    path = Path(project) / MANIFEST
    if not path.is_file():
        raise UserError(f"{str(project)!r} has no {MANIFEST}; pass a folder made by ofa-mcu deploy or build")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UserError(f"{path} is not valid JSON ({type(exc).__name__}: {str(exc)[:120]}); {REGENERATE}") from None
    return check_manifest(m, path)


@dataclass(frozen=True)
class Plan:
    """Build steps, then flash steps, with the tools each needs; ``checks`` run before the
    build; ``dry_checks`` are the ones a dry run applies too (what the user named, e.g. the TFLM
    tree and its kernel set); ``flash_artifact``: the manifest's artifact the flash step loads."""

    board: Board
    build_tool: str
    build: tuple[Step, ...]
    flash_tool: str
    flash: tuple[Step, ...]
    checks: tuple[Callable[[], None], ...] = ()
    dry_checks: tuple[Callable[[], None], ...] = ()
    flash_artifact: str | None = None


def plan(manifest: dict, opts: Options = Options(), build: bool = True, board: Board | None = None) -> Plan:
    """The commands that build (unless ``build`` is False) and flash the project in ``manifest``
    (for ``board``, default the catalog's board the manifest names)."""
    board = board or load_board(manifest["board"])
    bs = BUILD_SYSTEMS[manifest["build_system"]]
    tool = flash_tool_for(board, manifest["build_system"], opts.tool)
    ft = FLASH_TOOLS[tool]
    steps = tuple(bs.steps(board, manifest, opts)) if build else ()
    dry = (partial(bs.check, board, manifest, opts),) if build and bs.check is not None else ()
    pre = ()
    if build and bs.preflight is not None and not opts.placeholders:
        pre = (partial(bs.preflight, board, manifest, opts),)
    return Plan(board, bs.tool, steps, ft.tool, tuple(ft.steps(board, manifest, opts)), dry + pre, dry, ft.artifact)



def project_manifest(*, backend: str, board: Board, build_system: str, project: str, artifacts: dict,
                     model_name: str, tflite: bytes, sketch: str | None = None, ops: list[str] | None = None,
                     kernels: str | None = None, console: str | None = None) -> dict:
    """The ``ofa-mcu.json`` of a generated project (see ``templates/README.md``); ``console``: where
    the firmware prints when its framework owns the console (default: the board's)."""
    from ofa_mcu import __version__

    return {
        "format": MANIFEST_FORMAT,
        "tool_version": __version__,
        "backend": backend,
        "board": board.name,
        "build_system": build_system,
        "project": project,
        "sketch": sketch,
        "console": console or board.console,
        **({"kernels": kernels} if kernels else {}),
        "artifacts": dict(sorted(artifacts.items())),
        "model": {"name": model_name, "bytes": len(tflite), "sha256": hashlib.sha256(tflite).hexdigest(),
                  **({"ops": list(ops)} if ops is not None else {})},
    }


def require_executable(name: str, install: str) -> str:
    """The full path of program ``name`` on PATH; a UserError saying how to install it if absent."""
    path = shutil.which(name)
    if path is None:
        raise UserError(f"{name} not found; install it ({install})")
    return path


def missing_tool_error(tool: str, what: str) -> UserError:
    """The error for a tool that is not on PATH, with how to install it."""
    t = TOOLS[tool]
    return UserError(f"{t.executable} is needed to {what} but is not installed; install it: {t.install}")


@dataclass
class RunResult:
    """What :func:`run_plan` did: the last command's exit code and everything the build and the
    flash (or QEMU run) printed."""

    returncode: int
    build_output: str = ""
    run_output: str = ""


def _run(step: Step, project: Path, echo: Callable[[str], None], quiet: bool = False) -> tuple[int, str]:
    """Run one step, streaming its output (unless ``quiet``) and returning it too."""
    import sys
    import threading

    echo(f"$ {step.shell()}")
    try:
        proc = subprocess.Popen(list(step.argv), cwd=project / step.cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, errors="replace",
                                env={**os.environ, **dict(step.env)} if step.env else None)
    except FileNotFoundError:
        raise UserError(f"{step.argv[0]} not found; install it") from None
    chunks: list[str] = []

    def pump() -> None:
        for line in proc.stdout:
            chunks.append(line)
            if not quiet:
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=step.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise UserError(f"{step.argv[0]} did not finish within {step.timeout:.0f} s; the firmware may hang") from None
    reader.join()
    return proc.returncode, "".join(chunks)


def build_failure(board: Board, step: Step, rc: int, output: str, project: Path) -> UserError:
    """The one-line error of a failed build: the linker's overflow in bytes when the image does
    not fit the board's memory, else the first compiler error."""
    from .firmware_output import link_overflows

    over = link_overflows(output)
    if over:
        what = ", ".join(f"{region} by {n} B" for region, n in sorted(over.items()))
        return UserError(f"the firmware does not fit {board.name}: the linker reports {what} over the board's memory; "
                         f"the project is still in {project} for inspection")
    first = next((ln.strip() for ln in output.splitlines() if "error" in ln.lower()), "")
    detail = f": {first}" if first else "; see its output above"
    return UserError(f"the build failed ({step.argv[0]} exit {rc}){detail}")


def run_plan(project: str | os.PathLike, p: Plan, echo: Callable[[str], None] = print, build: bool = True,
             flash: bool = True, quiet: bool = False) -> RunResult:
    """Build (when the build tool is installed) and flash (unless ``flash`` is False); returns
    the last command's exit code and what the steps printed (streamed too, unless ``quiet``).

    A missing build tool is skipped when the build's artifacts already exist; a missing flash
    tool is a UserError that says how to install it; a failed build is a one-line UserError
    (a link overflow names the region and the bytes).
    """
    project = Path(project)
    res = RunResult(0)
    if build and p.build:
        for check in p.checks:
            check()
        if shutil.which(TOOLS[p.build_tool].executable):
            for step in p.build:
                rc, out = _run(step, project, echo, quiet)
                res.build_output += out
                if rc != 0:
                    raise build_failure(p.board, step, rc, out, project)
        elif not (project / "build").exists():
            raise missing_tool_error(p.build_tool, "build this project")
        else:
            echo(f"ofa-mcu: {TOOLS[p.build_tool].executable} not found; flashing the existing build/")
    if not flash:
        return res
    if not shutil.which(TOOLS[p.flash_tool].executable):
        raise missing_tool_error(p.flash_tool, f"flash {p.board.name}")
    for step in p.flash:
        res.returncode, out = _run(step, project, echo, quiet)
        res.run_output += out
    return res
