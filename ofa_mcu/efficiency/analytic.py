"""Exact MACs, parameter count and the lab's peak-activation estimate.

Two forms of the same arithmetic: on one :class:`ArchTable` (readable, the reference) and on a
:class:`BatchTable` (vectorized, for search). Tests check they agree with each other and with
all 205 cases of ``space_fixtures.json``.
"""
from __future__ import annotations

import numpy as np

from ..space.batch import ArchBatch, BatchTable, build_batch_table
from ..space.table import ArchTable
from .base import EfficiencyModel, register_efficiency_model

# Populations are evaluated in chunks that stay in the CPU cache (2-3x faster than one pass).
CHUNK = 4096
METRICS = ("macs", "params", "peak_lab_bytes")


def table_macs(t: ArchTable) -> int:
    """Multiply-accumulates of every conv and linear layer."""
    return sum(c.macs for c in t.convs)


def table_params(t: ArchTable) -> int:
    """Parameters of the extracted subnet, BN affine parameters included."""
    return sum(c.params for c in t.convs)


def lab_peak_bytes(t: ArchTable) -> int:
    """The lab's peak-activation estimate at int8 (bytes = elements).

    For each conv/linear: input + output elements; a residual block's depthwise conv also
    holds the block input (kept alive for the add). The max over layers.
    """
    peak = 0
    for c in t.convs:
        v = c.in_elems + c.out_elems
        if c.role == "depthwise" and t.blocks[c.block].residual:
            b = t.blocks[c.block]
            v += b.in_ch * b.in_hw * b.in_hw
        peak = max(peak, v)
    return peak


def batch_macs(bt: BatchTable) -> np.ndarray:
    """Vectorized :func:`table_macs`."""
    fhw2 = bt.first_hw ** 2
    m = bt.first_ch * fhw2 * bt.in_channels * 9 + bt.b0_out * fhw2 * bt.first_ch
    m = m + (bt.mid * bt.in_ch * bt.in_hw ** 2
             + bt.mid * bt.kernel ** 2 * bt.out_hw ** 2
             + 2 * bt.mid * bt.se_mid
             + bt.out_ch * bt.mid * bt.out_hw ** 2).sum(axis=0)
    return m + bt.mix_out * bt.mix_in * bt.mix_hw ** 2 + bt.mix_out * bt.n_classes


def batch_params(bt: BatchTable) -> np.ndarray:
    """Vectorized :func:`table_params`."""
    p = bt.first_ch * (bt.in_channels * 9 + 2) + bt.b0_out * (bt.first_ch + 2)
    has_se = bt.se_mid > 0
    p = p + (bt.mid * (bt.in_ch + 2)
             + bt.mid * (bt.kernel ** 2 + 2)
             + np.where(has_se, 2 * bt.mid * bt.se_mid + bt.se_mid + bt.mid, 0)
             + bt.out_ch * (bt.mid + 2)).sum(axis=0)
    return p + bt.mix_out * (bt.mix_in + 2) + bt.n_classes * (bt.mix_out + 1)


def batch_lab_peak(bt: BatchTable) -> np.ndarray:
    """Vectorized :func:`lab_peak_bytes`."""
    fhw2 = bt.first_hw ** 2
    peak = np.maximum(bt.in_channels * bt.image_size ** 2 + bt.first_ch * fhw2, (bt.first_ch + bt.b0_out) * fhw2)
    ihw2, ohw2 = bt.in_hw ** 2, bt.out_hw ** 2
    per_slot = (bt.in_ch + bt.mid) * ihw2
    np.maximum(per_slot, bt.mid * (ihw2 + ohw2) + bt.residual * bt.in_ch * ihw2, out=per_slot)
    np.maximum(per_slot, (bt.mid + bt.out_ch) * ohw2, out=per_slot)  # SE convs (1x1) never exceed these
    peak = np.maximum(peak, per_slot.max(axis=0))
    peak = np.maximum(peak, (bt.mix_in + bt.mix_out) * bt.mix_hw ** 2)
    return np.maximum(peak, bt.mix_out + bt.n_classes)


@register_efficiency_model("analytic")
class AnalyticEfficiency(EfficiencyModel):
    """The lab's arithmetic: exact MACs and params; SRAM is the lab's peak estimate and flash
    the int8 weight bytes (one byte per parameter). Fast, but SRAM is far below a real arena."""

    name = "analytic"

    def evaluate_batch(self, batch: ArchBatch) -> dict[str, np.ndarray]:
        """MACs, params, the lab peak, and the SRAM/flash figures derived from them."""
        parts = [self._evaluate_chunk(batch.take(slice(i, i + CHUNK))) for i in range(0, len(batch), CHUNK)]
        out = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64) for k in METRICS}
        out["sram_bytes"], out["flash_bytes"] = out["peak_lab_bytes"], out["params"]
        return out

    def _evaluate_chunk(self, batch: ArchBatch) -> dict[str, np.ndarray]:
        bt = build_batch_table(batch, self.cfg)
        return {"macs": batch_macs(bt), "params": batch_params(bt), "peak_lab_bytes": batch_lab_peak(bt)}

    def describe(self) -> dict[str, str]:
        """Meaning of each metric."""
        return {"sram_bytes": "the lab's peak-activation estimate (int8 elements of the largest layer's in+out)",
                "flash_bytes": "one byte per parameter (int8 weights, no runtime or format overhead)"}
