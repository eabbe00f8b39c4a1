"""What a search returns: the best arch, its figures, and the candidates it saw."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..space.batch import ArchBatch


@dataclass
class SearchResult:
    """Best arch and its predicted accuracy/efficiency, plus every evaluated candidate
    (for the Pareto plot) and the best accuracy after each generation/round."""

    strategy: str
    best_arch: dict
    best_accuracy: float
    best_metrics: dict[str, int | float]
    candidates: ArchBatch
    candidate_accuracy: np.ndarray
    candidate_metrics: dict[str, np.ndarray]
    history: list[float] = field(default_factory=list)
    evaluated: int = 0
    seconds: float = 0.0
    selection: dict | None = None  # how the shipped candidate was chosen (search.select)

    def summary(self) -> dict:
        """JSON-ready summary (no candidate arrays)."""
        return {
            "strategy": self.strategy,
            "arch": self.best_arch,
            "predicted_accuracy": round(float(self.best_accuracy), 4),
            "efficiency": {k: (round(v, 4) if isinstance(v, float) else int(v)) for k, v in self.best_metrics.items()},
            "evaluated": int(self.evaluated),
            "seconds": round(self.seconds, 3),
            **({"selection": self.selection} if self.selection else {}),
        }


def pareto_front(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the candidates no other beats on both accuracy (higher) and cost (lower),
    sorted by cost."""
    order = np.lexsort((-acc, cost))
    front, best = [], -np.inf
    for i in order:
        if acc[i] > best:
            front.append(i)
            best = acc[i]
    return np.asarray(front, dtype=np.int64)
