"""Turn the user's limits (flags or a board from the catalog) into :class:`Constraints`."""
from __future__ import annotations

from typing import Any

from ..validate import POSITIVE
from .constraints import METRIC_UNITS, Constraints


def budget_limits(*, max_macs: float | None = None, max_params: float | None = None,
                  max_sram_kb: float | None = None, max_flash_kb: float | None = None,
                  max_latency_ms: float | None = None, board: Any = None, cfg: Any = None,
                  backend: str = "tflm") -> Constraints:
    """Limits from explicit values and/or a board (its SRAM and flash left for the model
    after the firmware's own needs); where both give one, the tighter wins. Every limit must
    be a finite number > 0 (a NaN would make every candidate infeasible). The constraints
    record where each limit came from (the flag, or the board)."""
    limits: dict[str, float] = {}
    sources: dict[str, str] = {}

    def tighten(name: str, value: float | None, source: str) -> None:
        if value is not None and value < limits.get(name, float("inf")):
            limits[name], sources[name] = value, source

    flags = {"macs": max_macs, "params": max_params, "sram_bytes": max_sram_kb, "flash_bytes": max_flash_kb,
             "latency_ms": max_latency_ms}
    for name, value in flags.items():
        if value is not None:
            flag = METRIC_UNITS[name][0]
            value = POSITIVE.check(flag, value)
            shown = f"{int(value):,}" if value.is_integer() else f"{value:g}"
            tighten(name, value * 1024 if flag.endswith("-kb") else value, f"{flag} {shown}")
    if board is not None:
        for name, value in board_model_limits(board, cfg, backend).items():
            tighten(name, value, f"board {board.name}")
    return Constraints(limits, sources)


def board_model_limits(board: Any, cfg: Any = None, backend: str = "tflm") -> dict[str, float]:
    """What the model may use on ``board``, as metrics of the ``tflm`` efficiency model.

    TFLM backend: the firmware reserves the host-measured arena plus the codegen margin, and
    stores the flatbuffer plus one test image and a pixel lookup table; the limits are the
    board's budgets with those overheads taken out, so what the search accepts the project
    generator accepts too. Native backend: no calibrated predictor of the generated memory plan
    exists, so the lab's peak estimate (which the plan stayed below on every benchmarked subnet)
    and the flatbuffer size (an upper bound of the weight bytes) are bounded by the board's
    native budgets; the build then checks the real plan.
    """
    from codegen.model_settings import ARENA_MARGIN_BYTES, ARENA_MARGIN_FRACTION

    from ..config import VWW

    cfg = cfg or VWW
    if backend == "native":
        return {"peak_lab_bytes": board.native_model_sram_budget, "flash_bytes": board.native_model_flash_budget}
    arena_limit = (board.model_sram_budget - ARENA_MARGIN_BYTES) / (1 + ARENA_MARGIN_FRACTION)
    test_vector = max(cfg.resolutions) ** 2 * cfg.in_channels + 256  # one int8 input + pixel LUT
    return {"tflm_arena_bytes_host": arena_limit, "flash_bytes": board.model_flash_budget - test_vector}
