"""Turn the user's limits (flags or a board from the catalog) into :class:`Constraints`."""
from __future__ import annotations

from typing import Any

from .constraints import Constraints


def budget_limits(*, max_macs: float | None = None, max_params: float | None = None,
                  max_sram_kb: float | None = None, max_flash_kb: float | None = None,
                  max_latency_ms: float | None = None, board: Any = None) -> Constraints:
    """Limits from explicit values and/or a board (its SRAM and flash left for the model
    after the firmware's own needs); where both give one, the tighter wins."""
    limits: dict[str, float] = {}

    def tighten(name: str, value: float | None) -> None:
        if value is not None:
            limits[name] = min(value, limits.get(name, float("inf")))

    tighten("macs", max_macs)
    tighten("params", max_params)
    tighten("sram_bytes", None if max_sram_kb is None else max_sram_kb * 1024)
    tighten("flash_bytes", None if max_flash_kb is None else max_flash_kb * 1024)
    tighten("latency_ms", max_latency_ms)
    if board is not None:
        tighten("sram_bytes", board.model_sram_budget)
        tighten("flash_bytes", board.model_flash_budget)
    return Constraints(limits)
