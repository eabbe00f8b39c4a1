"""Real TFLite-Micro headers on this machine, for compile checks of generated projects.

No registry ships TFLM's C++ sources; the PyPI wheel ``xmos-ai-tools`` carries TFLM's headers
(a fork patched by XMOS) and the ``tensorflow`` wheel carries gemmlowp's ``fixedpoint`` headers
that TFLM includes. Two differences from upstream TFLM need compile flags
(:data:`XMOS_COMPAT_FLAGS`): the fork renamed namespace ``tflite`` to ``tflite_micro``, and its
``kernel_util.h`` reads a ``TfLiteTensor`` field that ``TF_LITE_STATIC_MEMORY`` removes, so the
check leaves that macro undefined.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ofa_mcu.errors import UserError

XMOS_COMPAT_FLAGS = ("-Dtflite=tflite_micro", "-UTF_LITE_STATIC_MEMORY")


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def tflm_include_dirs() -> list[Path]:
    """Include directories holding TFLM, flatbuffers and gemmlowp headers (in that order).

    Raises a UserError naming the package to install when one is missing.
    """
    xmos = _package_dir("xmos_ai_tools")
    if xmos is None or not (xmos / "runtime/include/tensorflow/lite/micro/micro_interpreter.h").is_file():
        raise UserError("TFLite-Micro headers not found: pip install xmos-ai-tools==1.4.2")
    tf = _package_dir("tensorflow")
    gemm = tf / "include/external/gemmlowp" if tf else None
    if gemm is None or not (gemm / "fixedpoint/fixedpoint.h").is_file():
        raise UserError("gemmlowp headers not found: install the project's pinned tensorflow-cpu")
    return [xmos / "runtime/include", gemm]


def make_tflm_tree(dst: str | os.PathLike) -> Path:
    """A header-only TFLM tree in the layout create_tflm_tree.py makes, linked to the wheels.

    ``dst/tensorflow``, ``dst/signal``, ``dst/third_party/flatbuffers/include/flatbuffers`` and
    ``dst/third_party/gemmlowp/fixedpoint`` are symlinks into the installed packages, so the
    generated Makefile and CMakeLists find the headers with their default include paths.
    """
    xmos_inc, gemm = tflm_include_dirs()
    dst = Path(dst)
    links = {
        dst / "tensorflow": xmos_inc / "tensorflow",
        dst / "signal": xmos_inc / "signal",
        dst / "third_party/flatbuffers/include/flatbuffers": xmos_inc / "flatbuffers",
        dst / "third_party/gemmlowp/fixedpoint": gemm / "fixedpoint",
        dst / "third_party/gemmlowp/internal": gemm / "internal",
    }
    for link, target in sorted(links.items()):
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    return dst
