"""Efficiency budgets: which candidates fit, and an exact answer when nothing can."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..efficiency.base import EfficiencyModel
from ..errors import UserError
from ..space.arch import smallest_arch
from ..space.batch import ArchBatch

# How each metric is shown to people: (flag, unit divisor, unit name).
METRIC_UNITS = {
    "macs": ("--max-macs", 1, "MACs"),
    "params": ("--max-params", 1, "params"),
    "sram_bytes": ("--max-sram-kb", 1024, "KB"),
    "flash_bytes": ("--max-flash-kb", 1024, "KB"),
    "latency_ms": ("--max-latency-ms", 1, "ms"),
    "tflm_arena_bytes_host": ("the board's SRAM (TFLM arena before margin)", 1024, "KB"),
    "peak_lab_bytes": ("the board's SRAM (native backend, the lab's peak estimate)", 1024, "KB"),
    "tflm_arena_bytes_target": ("the TFLM arena on the 32-bit target", 1024, "KB"),
    "tflite_bytes": ("the .tflite flatbuffer", 1024, "KB"),
}
# What each metric measures, for people (reports, plot legends).
METRIC_NAMES = {
    "macs": "MACs",
    "params": "parameters",
    "sram_bytes": "SRAM",
    "flash_bytes": "flash",
    "latency_ms": "estimated latency",
    "tflm_arena_bytes_host": "TFLM arena on the 64-bit host, before margin",
    "peak_lab_bytes": "peak activations (the lab's estimate)",
    "tflm_arena_bytes_target": "TFLM arena on the 32-bit target",
    "tflite_bytes": ".tflite flatbuffer",
}


def format_metric(name: str, value: float) -> str:
    """``value`` of metric ``name`` in the unit its flag uses (e.g. bytes as KB)."""
    _, div, unit = METRIC_UNITS.get(name, (name, 1, ""))
    v = value / div
    if unit == "ms":
        return f"{v:,.2f} ms"
    return (f"{v:,.1f} {unit}" if div != 1 else f"{v:,.0f} {unit}").rstrip()


def describe_limit(name: str, value: float, source: str | None = None) -> str:
    """One limit for people: ``SRAM ≤ 256.0 KB (--max-sram-kb 256)``."""
    text = f"{METRIC_NAMES.get(name, name)} ≤ {format_metric(name, value)}"
    return f"{text} ({source})" if source else text


@dataclass(frozen=True)
class Constraints:
    """Upper limits on efficiency metrics (metric name -> max value, inclusive), and where
    each came from (``--max-sram-kb 256``, ``board stm32f746g-disco``) when known."""

    limits: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def feasible(self, metrics: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean mask of the candidates that meet every limit."""
        n = len(next(iter(metrics.values())))
        ok = np.ones(n, dtype=bool)
        for name, limit in self.limits.items():
            if name not in metrics:
                raise UserError(f"the efficiency model has no metric {name!r} for {METRIC_UNITS.get(name, (name,))[0]}; "
                                f"use one that reports it (e.g. --efficiency tflm)")
            ok &= metrics[name] <= limit
        return ok

    def describe(self) -> str:
        """Human-readable list of the limits."""
        return ", ".join(describe_limit(name, v, self.sources.get(name)) for name, v in self.limits.items()) or "none"


def smallest_metrics(model: EfficiencyModel, wids: tuple[int, ...] | None = None) -> dict[str, int]:
    """Each metric's minimum over the searchable space.

    Every metric grows with width, kernel, expand, depth and resolution (tested), so the
    smallest arch at the smallest resolution and narrowest searchable width is the minimum.
    """
    cfg = model.cfg
    wid = min(cfg.sample_wids if wids is None else wids)
    out = model.evaluate_batch(ArchBatch.from_dicts([smallest_arch(cfg, wid=wid)], cfg))
    return {k: v[0].item() for k, v in out.items()}


def check_satisfiable(model: EfficiencyModel, constraints: Constraints, wids: tuple[int, ...] | None = None) -> None:
    """Raise a one-line UserError when no arch of the space can meet the budget."""
    smallest = smallest_metrics(model, wids)
    for name, limit in constraints.limits.items():
        if name in smallest and smallest[name] > limit:
            flag = METRIC_UNITS.get(name, (name,))[0]
            raise UserError(
                f"no network in the space meets {flag} {format_metric(name, limit)}: the smallest possible is "
                f"{format_metric(name, smallest[name])} (the smallest subnet at {min(model.cfg.resolutions)} px); "
                f"raise the limit")
