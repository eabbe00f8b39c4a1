"""Turn the user's limits (flags or a board from the catalog) into :class:`Constraints`."""
from __future__ import annotations

from typing import Any

from ..validate import POSITIVE
from .constraints import METRIC_UNITS, Constraints


def budget_limits(*, max_macs: float | None = None, max_params: float | None = None,
                  max_sram_kb: float | None = None, max_flash_kb: float | None = None,
                  max_latency_ms: float | None = None, board: Any = None, cfg: Any = None,
                  backend: str = "tflm", budget: Any = None) -> Constraints:
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
        for name, value in board_model_limits(board, cfg, backend, budget).items():
            tighten(name, value, f"board {board.name}")
    return Constraints(limits, sources)


def board_model_limits(board: Any, cfg: Any = None, backend: str = "tflm", budget: Any = None) -> dict[str, float]:
    """What the model may use on ``board``, as metrics of the efficiency models.

    ``budget`` is the board's :class:`~ofa_mcu.boards.budget.ModelBudget` (default: the board's
    own, :meth:`Board.budget`): memory minus the measured runtime minus the application reserve.
    TFLM backend: the firmware reserves the calibrated 32-bit arena of the kernel set plus the
    calibrated margin (``boards.budget.arena_reserve``), and stores the flatbuffer plus one test
    image and a pixel lookup table, so the limits bound ``sram_bytes`` (the target arena; the
    efficiency model must be built for the same kernel set) and ``flash_bytes`` with those
    overheads taken out: what the search accepts, the project generator accepts too. Native
    backend: no calibrated predictor of the generated memory plan exists, so the lab's peak
    estimate (which the plan stayed below on every benchmarked subnet) and the flatbuffer size
    (an upper bound of the weight bytes) are bounded by the board's native budgets; the build
    then checks the real plan.
    """
    from ..boards.budget import arena_limit
    from ..config import get_space
    from ..space import DEFAULT_SPACE

    cfg = cfg or get_space(DEFAULT_SPACE)
    budget = budget or board.budget(backend)
    if backend == "native":
        return {"peak_lab_bytes": budget.sram_bytes, "flash_bytes": budget.flash_bytes}
    test_vector = max(cfg.resolutions) ** 2 * cfg.in_channels + 256 * cfg.in_channels  # one int8 input + pixel LUT
    return {"sram_bytes": arena_limit(budget.sram_bytes, "calibrated"), "flash_bytes": budget.flash_bytes - test_vector}
