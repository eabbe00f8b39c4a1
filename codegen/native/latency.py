"""Latency of the native backend, graph side: the work features of every layer of a lowered
:class:`~codegen.native.graph.Graph` and the fit of the instruction coefficients on QEMU-measured
subnets.

The features, the coefficients file and the vectorized estimate for the search (the same
features for a whole population, from the arch alone) live in :mod:`ofa_mcu.efficiency.latency`.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ofa_mcu.efficiency.latency import COEFFS_PATH, FEATURES, load_coeffs  # noqa: F401 - bench_native writes COEFFS_PATH
from ofa_mcu.errors import UserError


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


def graph_instructions(graph, coeffs: Mapping | None = None) -> np.ndarray:
    """Predicted instructions per layer of a lowered graph."""
    c = np.asarray((coeffs or load_coeffs())["coef"])
    return layer_features(graph) @ c
