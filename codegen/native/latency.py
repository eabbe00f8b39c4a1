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
    """``(n_layers, len(FEATURES))`` work features of every layer of a lowered graph."""
    idx = {f: i for i, f in enumerate(FEATURES)}
    rows = np.zeros((len(graph.layers), len(FEATURES)))
    for r, l in enumerate(graph.layers):
        p, row = l.params, rows[r]
        row[idx["calls"]] = 1
        if l.kernel == "conv2d":
            row[idx["stem_macs"]] = l.macs
            row[idx["stem_out"]] = p["out_h"] * p["out_w"] * p["out_c"]
        elif l.kernel == "conv1x1":
            row[idx["pw_macs"]] = l.macs
            row[idx["pw_out"]] = p["out_h"] * p["out_w"] * p["out_c"]
            row[idx["pw_pix"]] = p["out_h"] * p["out_w"]
        elif l.kernel in ("dwconv", "mbconv_edw"):
            dw = p if l.kernel == "dwconv" else p["dw"]
            dw_macs = dw["out_h"] * dw["out_w"] * dw["c"] * dw["k"] ** 2
            row[idx["dw_macs"]] = dw_macs
            row[idx["dw_out"]] = dw["out_h"] * dw["out_w"] * dw["c"]
            row[idx["dw_in"]] = dw["plane_h"] * dw["plane_w"] * dw["c"]
            if l.kernel == "mbconv_edw":
                pw = p["pw"]
                row[idx["pw_macs"]] = l.macs - dw_macs
                row[idx["pw_out"]] = pw["out_h"] * pw["out_w"] * pw["out_c"]
                row[idx["pw_pix"]] = pw["out_h"] * pw["out_w"]
        elif l.kernel == "se":
            row[idx["se_macs"]] = 2 * p["c"] * p["c_mid"]
            row[idx["se_elems"]] = p["hw"] * p["c"]
        elif l.kernel == "add":
            row[idx["add_n"]] = p["n"]
        elif l.kernel == "mul":
            row[idx["mul_n"]] = p["n"]
        elif l.kernel in ("mean", "avgpool"):
            row[idx["mean_n"]] = l.macs
        elif l.kernel == "fc":
            row[idx["fc_macs"]] = l.macs
            row[idx["fc_out"]] = p["out_n"]
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
