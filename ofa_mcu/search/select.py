"""Which searched candidate to ship: the cheapest among those the accuracy predictor cannot
tell apart from the best.

A predictor with a mean absolute error of 0.35 points cannot rank two subnets 0.2 points apart;
taking the most accurate one anyway tends to fill the board to the last byte. Among the
candidates predicted within ``tolerance`` points of the best (and feasible under the exact
memory model), this keeps the one with the lowest latency, then flash, then SRAM, which
leaves room for the application.
"""
from __future__ import annotations

import numpy as np

from ..efficiency.base import EfficiencyModel
from ..errors import UserError
from .constraints import Constraints
from .result import SearchResult

# Ordering of the "cheapest" candidate: the first metric the model reports decides, ties go to
# the next (latency needs a board; MACs stand in for it without one).
COST_ORDER = (("latency_ms", "macs"), ("flash_bytes",), ("sram_bytes",))
# At most this many near-best candidates are re-checked with the exact model.
MAX_CHECKED = 4000


def cost_keys(metrics: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The cost columns of :data:`COST_ORDER` that ``metrics`` holds, most important first."""
    keys = []
    for options in COST_ORDER:
        name = next((m for m in options if m in metrics), None)
        if name is not None:
            keys.append(np.asarray(metrics[name], dtype=np.float64))
    return keys


def select_cheapest(result: SearchResult, exact: EfficiencyModel, constraints: Constraints,
                    tolerance: float) -> SearchResult:
    """Replace ``result``'s best by the cheapest candidate predicted within ``tolerance``
    points of it that the exact model confirms feasible; ``result.selection`` says what
    happened. ``tolerance`` 0 keeps the most accurate feasible candidate."""
    if not np.isfinite(tolerance) or tolerance < 0:
        raise UserError(f"the selection tolerance must be a number >= 0 (points of accuracy), got {tolerance}")
    best_acc = float(result.best_accuracy)
    keys = result.candidates.keys(exact.cfg)
    order = np.argsort(-result.candidate_accuracy, kind="stable")
    _, first = np.unique(keys[order], axis=0, return_index=True)
    unique = order[np.sort(first)]
    near = unique[result.candidate_accuracy[unique] >= best_acc - tolerance][:MAX_CHECKED]
    if len(near) == 0:
        near = unique[:1]
    metrics = exact.evaluate_batch(result.candidates.take(near))
    ok = np.flatnonzero(constraints.feasible(metrics))
    if len(ok) == 0:  # the confirmed best is always among them; this is a guard, not a path
        raise UserError("no searched candidate fits the budget under the exact memory model; loosen the budget")
    cols = [k[ok] for k in cost_keys(metrics)]
    acc = result.candidate_accuracy[near[ok]]
    pick = int(np.lexsort([-acc] + cols[::-1])[0]) if cols else int(np.argmax(acc))
    j = int(ok[pick])
    i = int(near[j])
    prev = {"arch": result.best_arch, "predicted_accuracy": best_acc,
            "efficiency": {k: v for k, v in result.best_metrics.items()}}
    result.best_arch = result.candidates.take([i]).to_dicts()[0]
    result.best_accuracy = float(result.candidate_accuracy[i])
    result.best_metrics = {k: v[j].item() for k, v in metrics.items()}
    result.selection = {
        "rule": "cheapest (latency, then flash, then SRAM) among feasible candidates predicted within "
                f"{tolerance:g} points of the most accurate",
        "tolerance_points": float(tolerance),
        "candidates_within": int(len(ok)),
        "most_accurate": prev,
    }
    return result
