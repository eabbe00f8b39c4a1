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


def _one_hot(values: np.ndarray, choices) -> np.ndarray:
    """(..., len(choices)) one-hot of integer ``values`` over ``choices``."""
    return (values[..., None] == np.asarray(choices)).astype(np.float32)


def _put_one_hot(out: np.ndarray, offset: int, values: np.ndarray, choices, mask=None) -> None:
    """Write the one-hot of ``values`` (N,) or (N, S) over ``choices`` into ``out[:, offset:]``,
    ``len(choices)`` columns per entry, zero where ``mask`` is False (``out`` starts zeroed).

    The fast form of concatenating :func:`_one_hot` blocks: one compare per choice, written
    into a strided column view (broadcasting over a trailing axis of 3 is several times slower).
    """
    v = values.reshape(len(values), -1)
    s, c = v.shape[1], len(choices)
    for j, choice in enumerate(choices):
        hit = v == choice
        if mask is not None:
            hit &= mask
        out[:, offset + j: offset + s * c: c] = hit


@register_encoding("onehot")
def onehot(batch: ArchBatch, cfg: SpaceConfig = VWW) -> np.ndarray:
    """The lab's one-hot encoding: [resolution | width | kernel per slot | expand per slot].

    Written column block by column block into one zeroed matrix (several times faster than
    concatenating one-hot blocks; :func:`onehot_reference` is the plain form, tests check both agree).
    """
    out = np.zeros((len(batch), onehot_dim(cfg)), dtype=np.float32)
    _onehot_into(out, batch, cfg, batch.active(cfg))
    return out


def _onehot_into(out: np.ndarray, batch: ArchBatch, cfg: SpaceConfig, act: np.ndarray) -> None:
    """Write the one-hot encoding into the first ``onehot_dim(cfg)`` columns of zeroed ``out``."""
    n_r, n_w, n_k = len(cfg.resolutions), len(cfg.width_mult_list), len(cfg.ks_list)
    _put_one_hot(out, 0, batch.image_size, cfg.resolutions)
    _put_one_hot(out, n_r, batch.wid, range(n_w))
    _put_one_hot(out, n_r + n_w, batch.ks, cfg.ks_list, act)
    _put_one_hot(out, n_r + n_w + cfg.n_slots * n_k, batch.e, cfg.expand_ratio_list, act)


def onehot_reference(batch: ArchBatch, cfg: SpaceConfig = VWW) -> np.ndarray:
    """The one-hot encoding written plainly (concatenated one-hot blocks); equals :func:`onehot`."""
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
    Globals: resolution and width multiplier as numbers. Each part is written into its columns
    of one preallocated matrix (same values as :func:`features_reference`, about 2x faster).
    """
    act = batch.active(cfg)
    n, n_slots, n_stages = len(batch), cfg.n_slots, cfg.n_stages
    base = onehot_dim(cfg)
    out = np.zeros((n, base + 2 * n_slots + 5 * n_stages + 2), dtype=np.float32)
    _onehot_into(out, batch, cfg, act)
    r = batch.image_size.astype(np.float32) / max(cfg.resolutions)
    k = batch.ks.astype(np.float32) / max(cfg.ks_list) * act
    e = batch.e.astype(np.float32) / max(cfg.expand_ratio_list) * act
    stage = np.asarray(cfg.slot_stage)
    onehot_stage = (stage[:, None] == np.arange(n_stages)[None, :]).astype(np.float32)  # (S, n_stages)
    sum_e = e @ onehot_stage
    sum_ke = (k * k * e) @ onehot_stage
    r2 = (r * r)[:, None]
    col = base
    for part in (k, e, act.astype(np.float32) @ onehot_stage / max(cfg.stage_slots), sum_e, sum_ke,
                 sum_e * r2, sum_ke * r2):
        out[:, col:col + part.shape[1]] = part
        col += part.shape[1]
    out[:, col] = r
    out[:, col + 1] = np.asarray(cfg.width_mult_list, dtype=np.float32)[batch.wid]
    return out


def features_reference(batch: ArchBatch, cfg: SpaceConfig = VWW) -> np.ndarray:
    """The ``features`` encoding written plainly (concatenated parts); equals :func:`features`.

    One-hot plus ordinal genes and per-stage summaries.

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
    return np.concatenate([onehot_reference(batch, cfg)] + extra, axis=1).astype(np.float32)


def encode(archs, cfg: SpaceConfig = VWW, name: str = "onehot") -> np.ndarray:
    """Encode a list of arch dicts or an :class:`ArchBatch` with encoding ``name``."""
    batch = archs if isinstance(archs, ArchBatch) else ArchBatch.from_dicts(archs, cfg)
    return get_encoding(name)(batch, cfg)
