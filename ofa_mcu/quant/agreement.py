"""Top-1 accuracy and the agreement (same top-1 class) between several backends' logits."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import UserError


def _top1(logits) -> np.ndarray:
    a = np.asarray(logits)
    if a.ndim != 2 or a.shape[0] == 0:
        raise UserError(f"logits must be a non-empty (N, classes) array, got shape {a.shape}")
    return a.argmax(axis=1)


def accuracy(logits, labels) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``logits (N, classes)`` against ``labels (N,)``.
    int8 logits work as they are (quantization is monotonic)."""
    pred = _top1(logits)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape[0] != pred.shape[0]:
        raise UserError(f"{pred.shape[0]} predictions but {labels.shape[0]} labels; pass one label per image")
    return float((pred == labels).mean())


def agreement(logits: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """For each pair of backends, the fraction of images on which their top-1 classes agree:
    ``out[a][b]`` (symmetric, 1.0 on the diagonal). All arrays must have the same N."""
    tops = {name: _top1(v) for name, v in logits.items()}
    sizes = {name: t.shape[0] for name, t in tops.items()}
    if len(set(sizes.values())) > 1:
        raise UserError(f"logits cover different numbers of images: {sizes}; run every backend on the same images")
    return {a: {b: float((ta == tb).mean()) for b, tb in tops.items()} for a, ta in tops.items()}


def format_agreement(matrix: Mapping[str, Mapping[str, float]]) -> str:
    """The agreement matrix as a small fixed-width text table (percent)."""
    names = list(matrix)
    w = max(8, *(len(n) for n in names))
    lines = [" " * w + "".join(f"{n:>{w + 1}}" for n in names)]
    for a in names:
        lines.append(f"{a:<{w}}" + "".join(f"{100 * matrix[a][b]:>{w}.1f}%" for b in names))
    return "\n".join(lines)
