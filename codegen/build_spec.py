"""A build system's spec for one board: ``templates/<name>/build.toml`` with the overlay of the
board's framework applied (``[frameworks.<name>]``: PlatformIO builds an ESP32 board with the
ESP-IDF framework, the others with Arduino; the overlay's keys replace the spec's).

Also the TFLite-Micro compile settings the PlatformIO extra script renders."""
from __future__ import annotations

from ofa_mcu.boards import Board

from .tflm_tree import build_flags


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
    """Jinja context of the TFLM compile settings (``templates/common/tflm_build.toml``, as
    Python list literals for the PlatformIO script)."""
    f = build_flags()
    return {"tflm_defines": list(f["defines"]), "tflm_includes": list(f["includes"]),
            "tflm_cmsis_nn_defines": list(f["cmsis_nn_defines"]), "tflm_cmsis_nn_includes": list(f["cmsis_nn_includes"])}


__all__ = ["framework_of", "tflm_flag_context", "with_framework"]
