"""Latency of the native backend from the arch alone: guest instructions per inference, as a
vectorized estimate for the search, and ``WithLatency``, which adds it to any efficiency model.

Each layer's instruction count is modelled as a non-negative linear function of its work
(MACs, output elements, input elements, one constant per call), per kind of kernel; the
coefficients (``latency_coeffs.json``) are fitted on QEMU instruction counts of generated
Cortex-M4 firmware (``codegen.native.latency``, which computes the same :data:`FEATURES` for a
lowered graph, layer by layer). Here the features come from the converted op list of
:mod:`ofa_mcu.space.ops` for a whole population at once. Cycles are instructions times the
board's ``cycles_per_instruction``.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

from ..config import VWW
from ..errors import UserError
from ..space.batch import ArchBatch, BatchTable, build_batch_table
from ..space.ops import (
    BLOCK_OPS,
    HEAD_OPS,
    STEM_OPS,
    BlockView,
    block_shapes,
    flat_slot_table,
    head_shapes,
    logical_not,
    part_grid,
    stem_shapes,
)
from .base import EfficiencyModel

COEFFS_PATH = Path(__file__).with_name("latency_coeffs.json")

# Work features by role (so the estimate does not depend on which blocks the native lowering
# fuses): pointwise convs (block 0, expand, project, feature mix; an SE at 1x1 resolution, which
# the converter leaves without its MEAN and the native backend therefore runs unfused, counts here
# too), depthwise convs (dw_in: the padded plane each reads), fused SE, residual adds,
# elementwise multiplies, the head's mean and FC, table-driven elementwise ops (none in the
# supernet spaces), calls.
FEATURES = (
    "stem_macs", "stem_out",
    "pw_macs", "pw_out", "pw_pix",
    "dw_macs", "dw_out", "dw_in",
    "se_macs", "se_elems",
    "add_n", "mul_n", "mean_n", "fc_macs", "fc_out", "elem_n",
    "calls",
)
# The native backend runs MEAN -> CONV_2D -> CONV_2D -> MUL as one squeeze-and-excite kernel.
SE_CHAIN = ("se_mean", "se_reduce", "se_expand", "se_mul")


def part_features(template, shapes, block: BlockView | None = None) -> dict[str, object]:
    """The :data:`FEATURES` of one part of the converted op list (scalars or arrays): each
    existing op's work by the kernel the native backend runs it with. ``block``: the block's
    view (the depthwise conv's stride)."""
    f: dict[str, object] = {name: 0 for name in FEATURES}

    def add(name: str, value) -> None:
        f[name] = f[name] + value

    fused = shapes["se_mean"].exists if "se_mean" in shapes else False
    for t in template:
        s = shapes[t.key]
        e = s.exists
        elems = s.ch * s.hw * s.hw
        if t.op == "PAD":  # the native convs pad as they read
            continue
        if t.key in SE_CHAIN:
            if t.key == "se_mean":  # present: the chain is one kernel, one call
                add("calls", e)
                continue
            if t.op == "MUL":
                add("se_elems", elems * (e & fused))
            else:
                add("se_macs", elems * s.fan_in * (e & fused))
            e = e & logical_not(fused)  # without the MEAN each op is a kernel of its own, counted below
        add("calls", e)
        if t.role == "first_conv":
            add("stem_macs", elems * s.fan_in * s.kernel ** 2 * e)
            add("stem_out", elems * e)
        elif t.op == "CONV_2D":
            add("pw_macs", elems * s.fan_in * e)
            add("pw_out", elems * e)
            add("pw_pix", s.hw * s.hw * e)
        elif t.op == "DEPTHWISE_CONV_2D":
            add("dw_macs", elems * s.kernel ** 2 * e)
            add("dw_out", elems * e)
            add("dw_in", ((block.out_hw - 1) * block.stride + s.kernel) ** 2 * s.ch * e)
        elif t.op == "ADD":
            add("add_n", elems * e)
        elif t.op == "MUL":
            add("mul_n", elems * e)
        elif t.op == "MEAN":  # the head's pool: reads the feature mix
            src = shapes[t.inputs[0][0]]
            add("mean_n", src.ch * src.hw * src.hw * e)
        elif t.op == "FULLY_CONNECTED":
            add("fc_macs", s.ch * s.fan_in * e)
            add("fc_out", s.ch * e)
    return f


def _stack(f: dict[str, object], shape) -> np.ndarray:
    return np.stack([np.broadcast_to(np.asarray(f[k], np.float64), shape) for k in FEATURES], axis=-1)


@lru_cache(maxsize=16)
def _feature_tables(cfg) -> tuple[np.ndarray, np.ndarray]:
    """:func:`part_features` per configuration of the block slots and of the stem, block 0 and
    head together (see :class:`~ofa_mcu.space.ops.PartGrid`)."""
    g = part_grid(cfg)
    slots = part_features(BLOCK_OPS, block_shapes(g.slots), g.slots)
    shape = g.net.image_size.shape
    fixed = (_stack(part_features(STEM_OPS, stem_shapes(g.net)), shape)
             + _stack(part_features(BLOCK_OPS, block_shapes(g.block0), g.block0), shape)
             + _stack(part_features(HEAD_OPS, head_shapes(g.net)), shape))
    return flat_slot_table(_stack(slots, g.slots.in_ch.shape)), fixed


def batch_features(bt: BatchTable) -> np.ndarray:
    """``(N, len(FEATURES))`` whole-network work features of every arch of a
    :class:`~ofa_mcu.space.batch.BatchTable` (float64)."""
    slots, fixed = _feature_tables(bt.cfg)
    g = part_grid(bt.cfg)
    return fixed[g.fixed_rows(bt)] + slots[g.slot_rows(bt)].sum(axis=0)


def load_coeffs(path=None) -> dict:
    """The fitted coefficients shipped with the package (``latency_coeffs.json``)."""
    p = Path(path) if path else COEFFS_PATH
    if not p.is_file():
        raise UserError(f"latency coefficients {str(p)!r} not found; run benchmarks/bench_native.py --fit-latency")
    data = json.loads(p.read_text())
    if data.get("features") != list(FEATURES):
        raise UserError(f"latency coefficients {str(p)!r} are for another feature set; refit them")
    return data


def latency_instructions(batch: ArchBatch | BatchTable, cfg=None, coeffs: Mapping | None = None) -> np.ndarray:
    """Predicted guest instructions per inference for every arch of an ``ArchBatch`` (of space
    ``cfg``) or a ``BatchTable``, as an int64 array."""
    bt = build_batch_table(batch, cfg or VWW) if isinstance(batch, ArchBatch) else batch
    c = np.asarray((coeffs or load_coeffs())["coef"])
    return np.rint(batch_features(bt) @ c).astype(np.int64)


def _board(board):
    if isinstance(board, str):
        from ..boards import load_board

        return load_board(board)
    return board


def latency_cycles(batch, cfg=None, board="qemu-mps2-an386", coeffs: Mapping | None = None) -> np.ndarray:
    """Estimated cycles per inference on ``board`` (a :class:`~ofa_mcu.boards.Board` or a
    catalog name): instructions x the board's ``cycles_per_instruction``; vectorized, int64."""
    cpi = float(_board(board).cycles_per_instruction)
    return np.rint(latency_instructions(batch, cfg, coeffs) * cpi).astype(np.int64)


class WithLatency(EfficiencyModel):
    """``base``'s metrics plus ``latency_ms`` and ``latency_cycles`` on ``board``.

    The estimate is the native backend's (:func:`latency_cycles`), at the board's ``clock_hz``.
    TFLite-Micro's reference kernels run slower than that.
    """

    def __init__(self, base: EfficiencyModel, board):
        super().__init__(base.cfg)
        self.base = base
        self.board = board
        self.name = f"{base.name}+latency"

    def evaluate_batch(self, batch: ArchBatch) -> dict[str, np.ndarray]:
        """The base metrics plus the latency estimate."""
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
