"""Latency on a board, added to any efficiency model (so the search can bound it)."""
from __future__ import annotations

import numpy as np

from ..space.batch import ArchBatch
from .base import EfficiencyModel


class WithLatency(EfficiencyModel):
    """``base``'s metrics plus ``latency_ms`` and ``latency_cycles`` on ``board``.

    The estimate is the native backend's: guest instructions per inference from a model
    fitted on QEMU instruction counts of generated Cortex-M4 firmware
    (``codegen.native.latency``), times the board's ``cycles_per_instruction``, at its
    ``clock_hz``. TFLite-Micro's reference kernels run slower than that.
    """

    def __init__(self, base: EfficiencyModel, board):
        super().__init__(base.cfg)
        self.base = base
        self.board = board
        self.name = f"{base.name}+latency"

    def evaluate_batch(self, batch: ArchBatch) -> dict[str, np.ndarray]:
        """The base metrics plus the latency estimate."""
        from codegen.native.latency import latency_cycles

        out = self.base.evaluate_batch(batch)
        cycles = latency_cycles(batch, self.cfg, self.board)
        out["latency_cycles"] = cycles
        out["latency_ms"] = cycles / (self.board.clock_hz / 1e3)
        return out

    def describe(self) -> dict[str, str]:
        """Meaning of each metric."""
        return {**self.base.describe(),
                "latency_ms": f"native-backend estimate on {self.board.name} at {self.board.clock_hz / 1e6:.0f} MHz "
                              f"(instructions x {self.board.cycles_per_instruction} cycles/instruction)"}
