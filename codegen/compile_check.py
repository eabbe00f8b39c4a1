"""Compile a generated project's C/C++ sources for its board against real TFLite-Micro headers.

The check CI runs (``python -m codegen.compile_check PROJECT_DIR``): every ``.c``, ``.cc``,
``.cpp`` and ``.ino`` source of the project is compiled with ``-Wall -Wextra -Werror`` by
arm-none-eabi-gcc with the board's core flags (object files, not just syntax). Boards whose
core has no compiler here (the ESP32-S3's Xtensa LX7) are compiled by the host gcc with the
same flags minus the core ones. TFLM headers come from :mod:`codegen.tflm_headers`; SDK headers
(Arduino, Pico SDK, ESP-IDF) are not available here, so sources that need them take extra
include directories (the tests pass small shims).
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ofa_mcu.boards import Board, load_board
from ofa_mcu.errors import UserError

from .flash import read_manifest
from .project import build_spec
from .tflm_headers import XMOS_COMPAT_FLAGS, tflm_include_dirs

WARNINGS = ("-Wall", "-Wextra", "-Werror")
CXX_FLAGS = ("-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics")
C_FLAGS = ("-std=c11",)
SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".ino")


@dataclass(frozen=True)
class CompileResult:
    """One source's compile command and outcome."""

    source: str
    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        """True when the compiler accepted the source without warnings."""
        return self.returncode == 0


def compilers(board: Board) -> tuple[str, str, tuple[str, ...], str]:
    """``(cc, cxx, core flags, description)`` for the board's core."""
    if board.is_cortex_m:
        return "arm-none-eabi-gcc", "arm-none-eabi-g++", tuple(board.cpu_flags), f"arm-none-eabi-gcc {' '.join(board.cpu_flags)}"
    return "gcc", "g++", (), f"host gcc (no {board.core} compiler here; core flags {' '.join(board.cpu_flags) or 'none'} left out)"


def project_sources(project: Path, manifest: dict) -> tuple[Path, list[Path]]:
    """The project's source folder and its sources, sorted."""
    spec = build_spec(manifest["build_system"])
    src = project / spec["src_dir"].format(sketch=manifest.get("sketch") or "")
    files = sorted(p for p in src.iterdir() if p.suffix in SOURCE_SUFFIXES)
    if not files:
        raise UserError(f"{src} holds no C/C++ sources; regenerate the project")
    return src, files


def compile_commands(
    project: str | os.PathLike,
    *,
    out_dir: str | os.PathLike,
    extra_includes: tuple[str, ...] = (),
    extra_flags: tuple[str, ...] = (),
    syntax_only: bool = False,
) -> list[tuple[Path, list[str]]]:
    """``[(source, argv)]`` compiling each source of ``project`` for its board."""
    project = Path(project)
    manifest = read_manifest(project)
    board = load_board(manifest["board"])
    cc, cxx, core, _ = compilers(board)
    src, files = project_sources(project, manifest)
    includes = [f"-I{src}"] + [f"-I{d}" for d in extra_includes]
    includes += [a for d in tflm_include_dirs() for a in ("-isystem", str(d))]
    defines = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", *XMOS_COMPAT_FLAGS]
    if manifest["build_system"] in ("make", "cmake"):
        defines.append("-DOFA_TFLM_DEBUG_LOG_CALLBACK")  # the cortex_m_generic log path
    out_dir = Path(out_dir)
    cmds = []
    for f in files:
        is_c = f.suffix == ".c"
        argv = [cc if is_c else cxx, *core, "-O2", *WARNINGS, *(C_FLAGS if is_c else CXX_FLAGS)]
        if f.suffix == ".ino":
            argv += ["-x", "c++"]
        argv += [*includes, *defines, *extra_flags, str(f)]
        argv += ["-fsyntax-only"] if syntax_only else ["-c", "-o", str(out_dir / (f.name + ".o"))]
        cmds.append((f, argv))
    return cmds


def check_project(
    project: str | os.PathLike,
    *,
    out_dir: str | os.PathLike,
    extra_includes: tuple[str, ...] = (),
    extra_flags: tuple[str, ...] = (),
    syntax_only: bool = False,
    jobs: int = 2,
) -> list[CompileResult]:
    """Compile every source of ``project``; returns one result per source."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    cmds = compile_commands(project, out_dir=out_dir, extra_includes=extra_includes, extra_flags=extra_flags, syntax_only=syntax_only)

    def run(item):
        f, argv = item
        proc = subprocess.run(argv, capture_output=True, text=True)
        return CompileResult(f.name, tuple(argv), proc.returncode, proc.stdout + proc.stderr)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(run, cmds))


def main(argv: list[str] | None = None) -> int:
    """``python -m codegen.compile_check PROJECT_DIR [OUT_DIR]``: print and return the outcome."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m codegen.compile_check PROJECT_DIR [OUT_DIR]", file=sys.stderr)
        return 2
    out = args[1] if len(args) > 1 else os.path.join(args[0], "build", "compile_check")
    results = check_project(args[0], out_dir=out)
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.source}")
        if not r.ok:
            print(r.output)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
