"""TFLite-Micro compiled once per (tree, core flags, compiler) into cached objects, archived into
a static library per op set, so linking a generated project takes seconds instead of minutes.

The cache lives outside any project: ``$OFA_MCU_CACHE``, else ``$XDG_CACHE_HOME/ofa-mcu``,
else ``~/.cache/ofa-mcu``. ``tflm/<key>/obj/`` holds one object per source, compiled the
first time a library needs it; ``tflm/<key>/libtflm-<ops>.a`` is the archive of one selection.
With the model's ops given, the selection is TFLM's core, the kernel helpers and the kernels
that register those ops (about half of the C++ the whole tree compiles); without, every
source (a user's ``make`` compiles all of them). Builders of the same key wait on a file lock,
so parallel test workers compile each object once. The flags are ``tflm_tree.build_flags()``,
the ones the generated Makefile and CMakeLists.txt use when they compile the tree themselves.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from ofa_mcu.errors import UserError
from ofa_mcu.io import atomic_path

from .tflm_tree import TflmTree, build_flags

PREFIX = "arm-none-eabi-"
KERNELS_DIR = "tensorflow/lite/micro/kernels"
RESOLVER_H = "tensorflow/lite/micro/micro_mutable_op_resolver.h"
# Sources only the signal-processing ops (custom ops, never in a builtin-op model) need.
SIGNAL_DIRS = ("signal/", "third_party/kissfft/")
_REGISTER_DEF = re.compile(r"^\s*TFLMRegistration\*?\s+(Register_\w+)\s*\(", re.M)
_RESOLVER_ADD = re.compile(r"(Register_\w+)\(\)\)\s*\{\s*return\s+AddBuiltin\(\s*BuiltinOperator_(\w+)", re.S)


def cache_root() -> Path:
    """Where ofa-mcu keeps compiled libraries (created on first use)."""
    if os.environ.get("OFA_MCU_CACHE"):
        return Path(os.environ["OFA_MCU_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ofa-mcu"


@functools.cache
def compiler_version(prefix: str = PREFIX) -> str:
    """First line of ``<prefix>gcc --version``; a UserError saying how to install it if absent."""
    gcc = shutil.which(prefix + "gcc")
    if gcc is None:
        raise UserError(f"{prefix}gcc not found; install it (apt-get install gcc-arm-none-eabi "
                        "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib)")
    out = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def compile_argv(tree: TflmTree, src: Path, obj: Path, cpu_flags: tuple[str, ...], prefix: str = PREFIX) -> list[str]:
    """The compiler command for one TFLM source (as the generated Makefile compiles it)."""
    f = build_flags()
    cxx = src.suffix == ".cc"
    tool = prefix + ("g++" if cxx else "gcc")
    opt = f["opt_kernels"] if tree.is_kernel_source(src) else f["opt_core"]
    argv = [tool, *cpu_flags, opt, *f["common_flags"], *(f["cxxflags"] if cxx else f["cflags"])]
    argv += [f"-D{d}" for d in tree.defines()]
    for inc in tree.include_dirs():
        argv += ["-isystem", str(inc)]
    return argv + ["-c", str(src), "-o", str(obj)]


def library_key(tree: TflmTree, cpu_flags: tuple[str, ...], prefix: str = PREFIX) -> str:
    """The cache key: what the compiled objects depend on."""
    blob = json.dumps({"tree": tree.fingerprint, "kernels": tree.kernels, "cpu_flags": list(cpu_flags),
                       "flags": build_flags(), "compiler": compiler_version(prefix)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def library_dir(tree: TflmTree, cpu_flags: tuple[str, ...]) -> Path:
    """The cache folder of ``tree`` compiled with ``cpu_flags`` (it may not exist yet)."""
    return cache_root() / "tflm" / library_key(tree, tuple(cpu_flags))


def registrations_of_ops(tree: TflmTree, ops: Iterable[str]) -> set[str]:
    """The ``Register_X`` functions the op resolver's ``AddY()`` calls for builtin ``ops``."""
    text = (tree.root / RESOLVER_H).read_text(encoding="utf-8", errors="replace")
    by_op = {op: reg for reg, op in _RESOLVER_ADD.findall(text)}
    missing = sorted(set(ops) - set(by_op))
    if missing:
        raise UserError(f"this TFLite-Micro tree's op resolver has no builtin {', '.join(missing)}; use a newer tree")
    return {by_op[op] for op in ops}


def select_sources(tree: TflmTree, ops: Iterable[str] | None) -> list[Path]:
    """The sources a firmware with builtin ``ops`` links: every source but the kernels that
    register other ops and the signal-processing library (all sources when ``ops`` is None)."""
    sources = tree.sources()
    if ops is None:
        return sources
    needed = registrations_of_ops(tree, ops)
    out = []
    for src in sources:
        rel = src.relative_to(tree.root).as_posix()
        if rel.startswith(SIGNAL_DIRS):
            continue
        if rel.startswith(KERNELS_DIR + "/") and src.suffix == ".cc":
            defined = set(_REGISTER_DEF.findall(src.read_text(encoding="utf-8", errors="replace")))
            if defined and not defined & needed:
                continue
        out.append(src)
    return out


def _object_name(tree: TflmTree, src: Path) -> str:
    return src.relative_to(tree.root).as_posix().replace("/", "__") + ".o"


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if "error" in line:
            return line.strip()
    return (stderr.strip().splitlines() or ["(no compiler output)"])[-1]


def _compile(argv: list[str]) -> tuple[list[str], subprocess.CompletedProcess]:
    return argv, subprocess.run(argv, capture_output=True, text=True)


def _selection(tree: TflmTree, cpu_flags: tuple[str, ...], ops) -> tuple[Path, list[Path], list[str]]:
    sources = select_sources(tree, None if ops is None else sorted(set(ops)))
    names = [_object_name(tree, s) for s in sources]
    tag = "all" if ops is None else hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    return library_dir(tree, tuple(cpu_flags)) / f"libtflm-{tag}.a", sources, names


def library_path(tree: TflmTree, cpu_flags: tuple[str, ...], ops: Iterable[str] | None = None) -> Path:
    """Where :func:`build_library` puts the library for these arguments (built or not)."""
    return _selection(tree, cpu_flags, ops)[0]


def build_library(tree: TflmTree, cpu_flags: tuple[str, ...], ops: Iterable[str] | None = None, *,
                  jobs: int | None = None, progress: bool = True, echo=None) -> Path:
    """A static library of ``tree`` compiled with ``cpu_flags`` holding what a firmware with
    builtin ``ops`` links (every source when None); compiles the objects it lacks (in parallel,
    with a progress bar) and archives them. A compile error is a one-line UserError."""
    echo = echo or (lambda line: print(line, file=sys.stderr))  # stdout stays the command's own output
    cpu_flags = tuple(cpu_flags)
    lib, sources, names = _selection(tree, cpu_flags, ops)
    key_dir = lib.parent
    if lib.is_file():
        return lib
    obj_dir = key_dir / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    with open(key_dir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be compiling the same objects
        if lib.is_file():
            return lib
        todo = [(s, obj_dir / n) for s, n in zip(sources, names) if not (obj_dir / n).is_file()]
        t0 = time.perf_counter()
        if todo:
            echo(f"ofa-mcu: compiling {len(todo)} TFLite-Micro files ({tree.kernels} kernels, {' '.join(cpu_flags)}) "
                 f"once into {key_dir}")
            from tqdm import tqdm

            cmds = [compile_argv(tree, s, o.with_suffix(".tmp.o"), cpu_flags) for s, o in todo]
            with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool, \
                    tqdm(total=len(cmds), unit="file", desc="TFLM", disable=not progress) as bar:
                for argv, proc in pool.map(_compile, cmds):
                    bar.update(1)
                    if proc.returncode != 0:
                        raise UserError(f"compiling TFLite-Micro's {Path(argv[-3]).relative_to(tree.root)} failed: "
                                        f"{_first_error(proc.stderr)}")
                    tmp = Path(argv[-1])
                    tmp.rename(tmp.with_name(tmp.name.removesuffix(".tmp.o") + ".o"))
        with atomic_path(lib) as tmp_lib:
            ar = subprocess.run([PREFIX + "ar", "rcs", str(tmp_lib), *(str(obj_dir / n) for n in names)],
                                capture_output=True, text=True)
            if ar.returncode != 0:
                raise UserError(f"archiving TFLite-Micro failed: {_first_error(ar.stderr)}")
        info = {"tree": str(tree.root), "tree_sha256": tree.fingerprint, "kernels": tree.kernels,
                "cpu_flags": list(cpu_flags), "compiler": compiler_version()}
        (key_dir / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        if todo:
            echo(f"ofa-mcu: compiled {len(todo)} files in {time.perf_counter() - t0:.0f} s")
    return lib
