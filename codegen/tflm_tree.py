"""A TFLite-Micro source tree made by ``create_tflm_tree.py``: what it holds and how it compiles.

``open_tree(path)`` checks the tree (one-line error naming what is missing), tells its kernel
set (``cmsis-nn`` when it carries ``kernels/cmsis_nn``, else ``reference``) and fingerprints
its sources, so a compiled library can be cached per (tree, core, flags). The compile flags
come from ``templates/common/tflm_build.toml``, the same file the Makefile and CMakeLists.txt
render.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ofa_mcu.boards.budget import check_kernels
from ofa_mcu.errors import UserError

from .paths import templates_dir

# Files every usable tree has, and what each one tells the user is wrong when it is missing.
REQUIRED = (
    ("tensorflow/lite/micro/micro_interpreter.cc", "TFLite-Micro's C++ sources"),
    ("tensorflow/lite/micro/micro_interpreter.h", "TFLite-Micro's headers"),
    ("tensorflow/lite/micro/micro_mutable_op_resolver.h", "TFLite-Micro's op resolver header"),
    ("tensorflow/lite/schema/schema_generated.h", "the TFLite schema header"),
    ("third_party/flatbuffers/include/flatbuffers/flatbuffers.h", "the flatbuffers headers"),
    ("third_party/gemmlowp/fixedpoint/fixedpoint.h", "the gemmlowp headers"),
)
CMSIS_NN_MARKER = "tensorflow/lite/micro/kernels/cmsis_nn"
CMSIS_NN_REQUIRED = (("third_party/cmsis_nn/Include/arm_nnfunctions.h", "the CMSIS-NN library"),
                     ("third_party/cmsis/CMSIS/Core/Include/cmsis_compiler.h", "the CMSIS-Core headers"))
TREE_HINT = ("make one with TFLite-Micro's create_tflm_tree.py (see the generated project's README) and pass "
             "--tflm-dir DIR or set TFLM_DIR")


@functools.cache
def build_flags() -> dict:
    """``templates/common/tflm_build.toml``: how TFLM's sources are compiled."""
    return tomllib.loads((templates_dir() / "common" / "tflm_build.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class TflmTree:
    """A checked TFLite-Micro tree."""

    root: Path
    kernels: str  # "reference" or "cmsis-nn"

    def sources(self) -> list[Path]:
        """The tree's .c/.cc files the firmware links (sorted; the replaced ones left out)."""
        flags = build_flags()
        replaced = {self.root / p for p in flags["replaced_sources"]}
        out = []
        for d in flags["source_dirs"]:
            base = self.root / d
            if base.is_dir():
                out += [p for p in base.rglob("*") if p.suffix in (".c", ".cc") and p not in replaced]
        return sorted(out)

    def is_kernel_source(self, path: Path) -> bool:
        """Whether ``path`` is compiled with the kernels' optimisation level."""
        rel = path.relative_to(self.root).as_posix()
        return any(rel.startswith(d + "/") for d in build_flags()["kernel_dirs"])

    def include_dirs(self) -> list[Path]:
        """The include directories inside the tree, for this tree's kernel set."""
        flags = build_flags()
        rel = list(flags["includes"]) + (list(flags["cmsis_nn_includes"]) if self.kernels == "cmsis-nn" else [])
        return [self.root / r for r in rel]

    def defines(self) -> list[str]:
        """Preprocessor definitions for this tree's kernel set."""
        flags = build_flags()
        return list(flags["defines"]) + (list(flags["cmsis_nn_defines"]) if self.kernels == "cmsis-nn" else [])

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 over the relative paths and contents of every source and header file."""
        h = hashlib.sha256()
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and p.suffix in (".c", ".cc", ".h", ".hpp", ".inc"):
                h.update(p.relative_to(self.root).as_posix().encode() + b"\0")
                h.update(p.read_bytes())
                h.update(b"\0")
        return h.hexdigest()


def open_tree(path: str | os.PathLike, kernels: str | None = None) -> TflmTree:
    """Check that ``path`` is a TFLite-Micro tree (and, when ``kernels`` is given, that it holds
    that kernel set); every problem is a one-line UserError naming what is missing."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"TFLite-Micro tree {str(path)!r} is not a folder; {TREE_HINT}")
    root = root.resolve()
    for rel, what in REQUIRED:
        if not (root / rel).is_file():
            raise UserError(f"{str(path)!r} is not a TFLite-Micro tree: {what} ({rel}) are missing; {TREE_HINT}")
    has = "cmsis-nn" if (root / CMSIS_NN_MARKER).is_dir() else "reference"
    if has == "cmsis-nn":
        for rel, what in CMSIS_NN_REQUIRED:
            if not (root / rel).is_file():
                raise UserError(f"TFLite-Micro tree {str(path)!r} has CMSIS-NN kernels but not {what} ({rel}); "
                                "re-create it with create_tflm_tree.py and OPTIMIZED_KERNEL_DIR=cmsis_nn")
    if kernels is not None and check_kernels(kernels) != has:
        opt = " with OPTIMIZED_KERNEL_DIR=cmsis_nn" if kernels == "cmsis-nn" else " without OPTIMIZED_KERNEL_DIR"
        raise UserError(f"TFLite-Micro tree {str(path)!r} holds the {has} kernels but --kernels {kernels} was asked; "
                        f"pass --kernels {has}, or a tree made{opt}")
    return TflmTree(root, has)


def tree_from_env(flag: str | None) -> str | None:
    """The tree the user named: ``--tflm-dir`` first, else ``$TFLM_DIR`` (None when neither)."""
    return flag or os.environ.get("TFLM_DIR") or None
