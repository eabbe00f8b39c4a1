"""Deterministic index splits (pure functions on counts, no data).

The lab's holdout rule (MIT 6.5940 lab 3, ``build_val_data_loader(split=...)``): list the
images of an ImageFolder in its sorted order and take every second one. ``split=1`` (indices
1, 3, 5, ...) is the holdout "minival" set used to BN-recalibrate subnets and collect their
accuracy; ``split=0`` (indices 0, 2, 4, ...) is the real validation set, kept away from search.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError

# The lab's choice: the holdout is the odd positions.
LAB_HOLDOUT_OFFSET = 1


def interleaved_split(n: int, stride: int = 2, offset: int = LAB_HOLDOUT_OFFSET) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (kept, held): ``held`` is every ``stride``-th index from ``offset``.

    With the defaults this is the lab's rule: held = 1, 3, 5, ...; kept = 0, 2, 4, ....
    Both are sorted int64 arrays and together cover ``range(n)`` exactly once.
    """
    if stride < 2:
        raise UserError(f"split stride must be at least 2, got {stride}")
    if not 0 <= offset < stride:
        raise UserError(f"split offset must be in 0..{stride - 1}, got {offset}")
    idx = np.arange(int(n), dtype=np.int64)
    held_mask = (idx % stride) == offset
    return idx[~held_mask], idx[held_mask]


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """``min(k, n)`` indices spread evenly over ``range(n)`` (sorted, distinct).

    Used for calibration subsets: on a class-sorted ImageFolder the first ``k`` images would
    all be one class; evenly spaced ones cover every class in proportion.
    """
    n, k = int(n), int(k)
    if k < 0:
        raise UserError(f"subset size must be non-negative, got {k}")
    k = min(k, n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    return (np.arange(k, dtype=np.int64) * n) // k
