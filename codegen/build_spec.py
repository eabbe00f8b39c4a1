"""A build system's spec for one board: ``templates/<name>/build.toml`` with the overlay of the
board's framework applied (``[frameworks.<name>]``: PlatformIO builds an ESP32 board with the
ESP-IDF framework, the others with Arduino; the overlay's keys replace the spec's).

Also the TFLite-Micro compile settings the PlatformIO extra script renders."""
from __future__ import annotations

from ofa_mcu.boards import Board

# TFLite-Micro's defines and include folders (relative to a create_tflm_tree.py tree), as TFLM's
# cortex_m_generic makefile passes them; CMSIS-NN's when the tree carries those kernels.
TFLM_DEFINES = ("TF_LITE_STATIC_MEMORY", "TF_LITE_DISABLE_X86_NEON")
TFLM_INCLUDES = (".", "third_party/flatbuffers/include", "third_party/gemmlowp", "third_party/ruy", "third_party/kissfft")
TFLM_CMSIS_NN_DEFINES = ("CMSIS_NN",)
TFLM_CMSIS_NN_INCLUDES = ("third_party/cmsis_nn", "third_party/cmsis_nn/Include", "third_party/cmsis/CMSIS/Core/Include")


def framework_of(board: Board, build_system: str) -> str | None:
    """The framework ``build_system`` uses for ``board`` (PlatformIO's is the catalog's)."""
    return board.platformio_framework if build_system == "platformio" else None


def with_framework(spec: dict, board: Board) -> dict:
    """``spec`` with the overlay of ``board``'s framework for this build system applied."""
    fw = framework_of(board, spec["name"])
    overlay = spec.get("frameworks", {}).get(fw, {}) if fw else {}
    out = {k: v for k, v in spec.items() if k != "frameworks"}
    out.update(overlay)
    out["framework"] = fw
    return out


def tflm_flag_context() -> dict:
    """Jinja context of the TFLM compile settings (Python list literals for the PlatformIO script)."""
    return {"tflm_defines": list(TFLM_DEFINES), "tflm_includes": list(TFLM_INCLUDES),
            "tflm_cmsis_nn_defines": list(TFLM_CMSIS_NN_DEFINES), "tflm_cmsis_nn_includes": list(TFLM_CMSIS_NN_INCLUDES)}


__all__ = ["framework_of", "tflm_flag_context", "with_framework"]
