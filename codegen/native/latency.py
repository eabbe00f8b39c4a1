"""Latency of the native backend: guest instructions per layer, fitted on QEMU-measured
subnets, as a vectorized estimate for the search.

Each layer's instruction count is modelled as a non-negative linear function of its work
(MACs, output elements, input elements, one constant per call), per kernel kind. The same
features are computed for a lowered :class:`~codegen.native.graph.Graph` (to fit) and for a
whole population at once from a :class:`~ofa_mcu.space.batch.BatchTable` (to predict).
Cycles are instructions times the board's ``cycles_per_instruction``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ofa_mcu.errors import UserError

COEFFS_PATH = Path(__file__).with_name("latency_coeffs.json")

# Work features by role (so the estimate does not depend on which blocks the planner fuses):
# pointwise convs (block 0, expand, project, feature mix; an SE at 1x1 resolution, which the
# converter leaves unfused, counts here too), depthwise convs (dw_in: the padded plane each
# reads), fused SE, residual adds, elementwise multiplies, the head's mean and FC, calls.
FEATURES = (
    "stem_macs", "stem_out",
    "pw_macs", "pw_out", "pw_pix",
    "dw_macs", "dw_out", "dw_in",
    "se_macs", "se_elems",
    "add_n", "mul_n", "mean_n", "fc_macs", "fc_out", "elem_n",
    "calls",
)


def layer_features(graph) -> np.ndarray:
    """``(n_layers, len(FEATURES))`` work features of every layer of a lowered graph (each
    kernel module's ``features``; a kernel without them counts its call only)."""
    from .kernels import kernel

    idx = {f: i for i, f in enumerate(FEATURES)}
    rows = np.zeros((len(graph.layers), len(FEATURES)))
    for r, l in enumerate(graph.layers):
        rows[r, idx["calls"]] = 1
        feats = kernel(l.kernel).features
        for name, value in (feats(l) if feats else {}).items():
            rows[r, idx[name]] += value
    return rows


def fit(records: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Fit non-negative per-feature instruction coefficients to ``(features, per_layer
    instructions)`` records (one per measured network); returns the coefficient dict with the
    fit's relative error on whole networks."""
    from scipy.optimize import nnls

    recs = list(records)
    if not recs:
        raise UserError("no measured networks to fit the latency model on")
    X = np.concatenate([f for f, _ in recs])
    y = np.concatenate([np.asarray(c, dtype=float) for _, c in recs])
    scale = np.maximum(X.max(axis=0), 1.0)
    # Relative weighting: each layer's residual counts relative to its own size.
    w = 1.0 / np.sqrt(np.maximum(y, 1.0))
    coef, _ = nnls((X / scale) * w[:, None], y * w)
    coef = coef / scale
    totals = np.array([c.sum() for _, c in recs], dtype=float)
    preds = np.array([(f @ coef).sum() for f, _ in recs])
    rel = np.abs(preds - totals) / totals
    return {"features": list(FEATURES), "coef": [float(c) for c in coef],
            "fit_networks": len(recs), "fit_layers": int(len(y)),
            "max_rel_error": float(rel.max()), "median_rel_error": float(np.median(rel))}


def load_coeffs(path=None) -> dict:
    """The fitted coefficients shipped with the package (``latency_coeffs.json``)."""
    p = Path(path) if path else COEFFS_PATH
    if not p.is_file():
        raise UserError(f"latency coefficients {str(p)!r} not found; run benchmarks/bench_native.py --fit-latency")
    data = json.loads(p.read_text())
    if data.get("features") != list(FEATURES):
        raise UserError(f"latency coefficients {str(p)!r} are for another feature set; refit them")
    return data


def graph_instructions(graph, coeffs: Mapping | None = None) -> np.ndarray:
    """Predicted instructions per layer of a lowered graph."""
    c = np.asarray((coeffs or load_coeffs())["coef"])
    return layer_features(graph) @ c


def batch_features(bt) -> np.ndarray:
    """``(N, len(FEATURES))`` whole-network work features for every arch of a
    :class:`~ofa_mcu.space.batch.BatchTable`, by the same roles as :func:`layer_features`."""
    idx = {f: i for i, f in enumerate(FEATURES)}
    n = bt.image_size.shape[0]
    F = np.zeros((n, len(FEATURES)))
    a = bt.active.astype(bool)
    first_hw2 = bt.first_hw.astype(float) ** 2
    F[:, idx["stem_macs"]] = first_hw2 * bt.first_ch * 9 * bt.in_channels
    F[:, idx["stem_out"]] = first_hw2 * bt.first_ch
    mix_hw2 = bt.mix_hw.astype(float) ** 2
    in2 = bt.in_hw.astype(float) ** 2
    out2 = bt.out_hw.astype(float) ** 2
    mid = bt.mid.astype(float)
    se_1x1 = a & (bt.se_mid > 0) & (bt.out_hw == 1)  # the converter drops the 1x1 mean: no fused SE
    se = a & (bt.se_mid > 0) & ~se_1x1
    se_macs = 2.0 * mid * bt.se_mid
    # pointwise: block 0, feature mix, every block's expand and project, unfused 1x1 SEs
    F[:, idx["pw_macs"]] = (first_hw2 * bt.first_ch * bt.b0_out + mix_hw2 * bt.mix_in * bt.mix_out
                            + ((in2 * bt.in_ch * mid + out2 * mid * bt.out_ch) * a).sum(0) + (se_macs * se_1x1).sum(0))
    F[:, idx["pw_out"]] = (first_hw2 * bt.b0_out + mix_hw2 * bt.mix_out
                           + ((in2 * mid + out2 * bt.out_ch) * a).sum(0) + ((mid + bt.se_mid) * se_1x1).sum(0))
    F[:, idx["pw_pix"]] = first_hw2 + mix_hw2 + ((in2 + out2) * a).sum(0) + (2.0 * se_1x1).sum(0)
    F[:, idx["dw_macs"]] = (out2 * mid * bt.kernel.astype(float) ** 2 * a).sum(0)
    F[:, idx["dw_out"]] = (out2 * mid * a).sum(0)
    F[:, idx["dw_in"]] = (((bt.out_hw - 1) * bt.stride + bt.kernel).astype(float) ** 2 * mid * a).sum(0)
    F[:, idx["se_macs"]] = (se_macs * se).sum(0)
    F[:, idx["se_elems"]] = (out2 * mid * se).sum(0)
    F[:, idx["add_n"]] = (out2 * bt.out_ch * (a & bt.residual.astype(bool))).sum(0)
    F[:, idx["mul_n"]] = (mid * se_1x1).sum(0)
    F[:, idx["mean_n"]] = mix_hw2 * bt.mix_out
    F[:, idx["fc_macs"]] = bt.mix_out.astype(float) * bt.n_classes
    F[:, idx["fc_out"]] = bt.n_classes
    # calls: stem, block 0, mix, mean, fc + per block expand, depthwise, project, SE, add
    F[:, idx["calls"]] = 5 + (3 * a + se + 3 * se_1x1 + (a & bt.residual.astype(bool))).sum(0)
    return F


def latency_instructions(batch, cfg=None, coeffs: Mapping | None = None) -> np.ndarray:
    """Predicted guest instructions per inference for every arch of an ``ArchBatch``
    (or a ``BatchTable``), as an int64 array."""
    from ofa_mcu.config import VWW
    from ofa_mcu.space.batch import ArchBatch, build_batch_table

    bt = build_batch_table(batch, cfg or VWW) if isinstance(batch, ArchBatch) else batch
    c = np.asarray((coeffs or load_coeffs())["coef"])
    return np.rint(batch_features(bt) @ c).astype(np.int64)


def latency_cycles(batch, cfg=None, board="qemu-mps2-an386", coeffs: Mapping | None = None) -> np.ndarray:
    """Estimated cycles per inference on ``board`` (instructions x the board's
    ``cycles_per_instruction``) for every arch of ``batch``; vectorized, int64."""
    from .boards import resolve_board

    cpi = resolve_board(board)["cycles_per_instruction"]
    return np.rint(latency_instructions(batch, cfg, coeffs) * cpi).astype(np.int64)


def latency_ms(batch, cfg=None, board="qemu-mps2-an386", coeffs: Mapping | None = None) -> np.ndarray:
    """Estimated milliseconds per inference at the board's ``clock_hz``."""
    from ofa_mcu.boards import load_board

    from .boards import MACHINE_BOARDS

    b = load_board(MACHINE_BOARDS.get(board, board)) if isinstance(board, str) else board
    return latency_cycles(batch, cfg, b, coeffs) / (b.clock_hz / 1e3)
