"""Feasible random sampling that always ends."""
from __future__ import annotations

import numpy as np

from ..efficiency.base import EfficiencyModel
from ..space.batch import ArchBatch, sample_batch, shrink_batch
from .constraints import Constraints

# Redraws before a row is repaired by shrinking toward the smallest arch.
REDRAWS = 8


def sample_feasible(rng: np.random.Generator, n: int, model: EfficiencyModel, constraints: Constraints,
                    wids: tuple[int, ...] | None = None) -> tuple[ArchBatch, dict[str, np.ndarray]]:
    """``n`` random archs that meet ``constraints`` and their metrics.

    Rows that miss the budget are redrawn a few times, then shrunk gene by gene toward the
    smallest arch until they fit (which ends because the smallest arch fits; call
    :func:`check_satisfiable` first). Uniform where the budget is loose, biased toward small
    networks only where it is tight.
    """
    cfg = model.cfg
    batch = sample_batch(rng, n, cfg, wids)
    metrics = model.evaluate_batch(batch)
    ok = constraints.feasible(metrics)
    for attempt in range(10_000):
        if ok.all():
            break
        bad = np.flatnonzero(~ok)
        if attempt < REDRAWS:
            repl = sample_batch(rng, len(bad), cfg, wids)
        else:
            repl = shrink_batch(batch.take(bad), rng, cfg, prob=0.2, wids=wids)
        rm = model.evaluate_batch(repl)
        batch.put(bad, repl)
        for k in metrics:
            metrics[k][bad] = rm[k]
        ok[bad] = constraints.feasible(rm)
    else:  # pragma: no cover - unreachable when check_satisfiable passed
        raise RuntimeError("sampling did not converge")
    return batch, metrics
