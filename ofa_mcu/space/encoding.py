"""Arch encodings for accuracy predictors, vectorized over an :class:`ArchBatch`.

``onehot`` is the lab's 128-dimension encoding (for VWW: 5 resolutions + 3 widths + 20 slots x
3 kernels + 20 slots x 3 expands; skipped slots are all zero). ``features`` adds ordinal and
per-stage summaries that help predictors (see ``shared/notes/accuracy_predictor.md``). New
encodings register with :func:`register_encoding`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..config import VWW, SpaceConfig
from ..errors import UserError
from .batch import ArchBatch

Encoder = Callable[[ArchBatch, SpaceConfig], np.ndarray]
_ENCODINGS: dict[str, Encoder] = {}


def register_encoding(name: str):
    """Decorator: register an encoder ``f(batch, cfg) -> (N, dim) float32``."""
    def deco(fn: Encoder) -> Encoder:
        _ENCODINGS[name] = fn
        return fn
    return deco


def get_encoding(name: str) -> Encoder:
    """Look up a registered encoder by name."""
    if name not in _ENCODINGS:
        raise UserError(f"unknown arch encoding {name!r}; choose one of {', '.join(sorted(_ENCODINGS))}")
    return _ENCODINGS[name]


def encoding_names() -> list[str]:
    """Names of the registered encodings."""
    return sorted(_ENCODINGS)


def _one_hot(values: np.ndarray, choices) -> np.ndarray:
    """(..., len(choices)) one-hot of integer ``values`` over ``choices``."""
    return (values[..., None] == np.asarray(choices)).astype(np.float32)


@register_encoding("onehot")
def onehot(batch: ArchBatch, cfg: SpaceConfig = VWW) -> np.ndarray:
    """The lab's one-hot encoding: [resolution | width | kernel per slot | expand per slot]."""
    act = batch.active(cfg)[..., None]
    n = len(batch)
    parts = [
        _one_hot(batch.image_size, cfg.resolutions),
        _one_hot(batch.wid, range(len(cfg.width_mult_list))),
        (_one_hot(batch.ks, cfg.ks_list) * act).reshape(n, -1),
        (_one_hot(batch.e, cfg.expand_ratio_list) * act).reshape(n, -1),
    ]
    return np.concatenate(parts, axis=1)


def onehot_dim(cfg: SpaceConfig = VWW) -> int:
    """Length of the one-hot encoding (128 for the VWW space)."""
    return (len(cfg.resolutions) + len(cfg.width_mult_list)
            + cfg.n_slots * (len(cfg.ks_list) + len(cfg.expand_ratio_list)))


@register_encoding("features")
def features(batch: ArchBatch, cfg: SpaceConfig = VWW) -> np.ndarray:
    """One-hot plus ordinal genes and per-stage summaries.

    Per slot: kernel and expand as numbers scaled to [0, 1] (0 when skipped). Per stage:
    active blocks, sum of expand, sum of k^2 * expand, the last two scaled by (r / r_max)^2.
    Globals: resolution and width multiplier as numbers.
    """
    act = batch.active(cfg)
    r = batch.image_size.astype(np.float32) / max(cfg.resolutions)
    w = np.asarray(cfg.width_mult_list, dtype=np.float32)[batch.wid]
    k = batch.ks.astype(np.float32) / max(cfg.ks_list) * act
    e = batch.e.astype(np.float32) / max(cfg.expand_ratio_list) * act
    stage = np.asarray(cfg.slot_stage)
    n_stages = cfg.n_stages
    onehot_stage = (stage[:, None] == np.arange(n_stages)[None, :]).astype(np.float32)  # (S, n_stages)
    blocks = act.astype(np.float32) @ onehot_stage
    sum_e = e @ onehot_stage
    sum_ke = (k * k * e) @ onehot_stage
    r2 = (r * r)[:, None]
    extra = [k, e, blocks / max(cfg.stage_slots), sum_e, sum_ke, sum_e * r2, sum_ke * r2, r[:, None], w[:, None]]
    return np.concatenate([onehot(batch, cfg)] + extra, axis=1).astype(np.float32)


def encode(archs, cfg: SpaceConfig = VWW, name: str = "onehot") -> np.ndarray:
    """Encode a list of arch dicts or an :class:`ArchBatch` with encoding ``name``."""
    batch = archs if isinstance(archs, ArchBatch) else ArchBatch.from_dicts(archs, cfg)
    return get_encoding(name)(batch, cfg)
