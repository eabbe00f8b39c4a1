"""Populations of archs as numpy arrays, and the per-layer table evaluated for all at once.

The search evaluates tens of thousands of candidates; building a :class:`ArchTable` per arch
is too slow for that, so :func:`build_batch_table` computes the same per-slot shapes with
array operations over the whole population. Tests check both agree on every field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from ..config import VWW, SpaceConfig
from .arch import validate_arch


@dataclass
class ArchBatch:
    """N archs as integer arrays: ``wid (N,)``, ``ks (N,S)``, ``e (N,S)``, ``d (N,D)``,
    ``image_size (N,)``."""

    wid: np.ndarray
    ks: np.ndarray
    e: np.ndarray
    d: np.ndarray
    image_size: np.ndarray

    @classmethod
    def from_dicts(cls, archs: Iterable[Mapping], cfg: SpaceConfig = VWW, validate: bool = True) -> "ArchBatch":
        """Stack arch dicts (validated against ``cfg`` unless ``validate=False``)."""
        archs = [validate_arch(a, cfg) if validate else a for a in archs]
        n = len(archs)
        return cls(
            wid=np.fromiter((a["wid"] for a in archs), dtype=np.int64, count=n),
            ks=np.array([a["ks"] for a in archs], dtype=np.int64).reshape(n, cfg.n_slots),
            e=np.array([a["e"] for a in archs], dtype=np.int64).reshape(n, cfg.n_slots),
            d=np.array([a["d"] for a in archs], dtype=np.int64).reshape(n, cfg.n_depth),
            image_size=np.fromiter((a["image_size"] for a in archs), dtype=np.int64, count=n),
        )

    def to_dicts(self) -> list[dict]:
        """Back to a list of plain arch dicts."""
        return [
            {"wid": int(w), "ks": k.tolist(), "e": e.tolist(), "d": d.tolist(), "image_size": int(r)}
            for w, k, e, d, r in zip(self.wid, self.ks, self.e, self.d, self.image_size)
        ]

    def __len__(self) -> int:
        return int(self.wid.shape[0])

    def take(self, idx) -> "ArchBatch":
        """The rows ``idx`` (an index array or boolean mask)."""
        return ArchBatch(self.wid[idx], self.ks[idx], self.e[idx], self.d[idx], self.image_size[idx])

    def copy(self) -> "ArchBatch":
        """A deep copy."""
        return ArchBatch(self.wid.copy(), self.ks.copy(), self.e.copy(), self.d.copy(), self.image_size.copy())

    def put(self, mask: np.ndarray, other: "ArchBatch") -> None:
        """Overwrite the rows selected by ``mask`` with the rows of ``other`` (same length)."""
        for name in ("wid", "ks", "e", "d", "image_size"):
            getattr(self, name)[mask] = getattr(other, name)

    @staticmethod
    def concat(batches: list["ArchBatch"]) -> "ArchBatch":
        """Stack batches."""
        return ArchBatch(*(np.concatenate([getattr(b, n) for b in batches])
                           for n in ("wid", "ks", "e", "d", "image_size")))

    def active(self, cfg: SpaceConfig = VWW) -> np.ndarray:
        """(N, S) boolean: which block slots run."""
        stage = np.asarray(cfg.slot_stage)
        pos = np.asarray(cfg.slot_index_in_stage)
        n_elastic = len(cfg.base_depth)
        base = np.asarray(list(cfg.base_depth) + [0] * (cfg.n_stages - n_elastic))
        depth = base[None, :] + self.d
        fixed = np.asarray(cfg.stage_slots)
        depth[:, n_elastic:] = fixed[n_elastic:]
        return pos[None, :] < depth[:, stage]

    def canonical(self, cfg: SpaceConfig = VWW) -> "ArchBatch":
        """Canonical form (see :func:`ofa_mcu.space.arch.canonical`), vectorized."""
        out = self.copy()
        act = self.active(cfg)
        out.ks[~act] = cfg.ks_list[0]
        out.e[~act] = cfg.expand_ratio_list[0]
        out.d[:, len(cfg.base_depth):] = cfg.depth_list[0]
        return out

    def keys(self, cfg: SpaceConfig = VWW) -> np.ndarray:
        """One row of ints per arch, equal for equal networks (for de-duplication)."""
        c = self.canonical(cfg)
        return np.concatenate([c.wid[:, None], c.ks, c.e, c.d, c.image_size[:, None]], axis=1)


def make_divisible_np(v: np.ndarray, divisor: int = 8) -> np.ndarray:
    """Vectorized :func:`ofa_mcu.config.make_divisible` for non-negative integer inputs."""
    new = np.maximum(divisor, (v + divisor // 2) // divisor * divisor)
    return np.where(new < 0.9 * v, new + divisor, new)


@dataclass
class BatchTable:
    """The per-slot shapes of N subnets as slot-major (S, N) arrays; inactive slots hold zeros.

    Slot-major because the arithmetic walks slots in order and reduces over them; each slot's
    row is then contiguous (about 3x faster than (N, S) on 100k archs).

    Mirrors :class:`ofa_mcu.space.table.ArchTable`: ``first_*`` is the stem, ``b0_*`` the fused
    block 0, ``mix_*``/``cls_*`` the head.
    """

    active: np.ndarray
    in_ch: np.ndarray
    mid: np.ndarray
    out_ch: np.ndarray
    kernel: np.ndarray
    stride: np.ndarray
    se_mid: np.ndarray
    residual: np.ndarray
    in_hw: np.ndarray
    out_hw: np.ndarray
    image_size: np.ndarray
    first_ch: np.ndarray
    first_hw: np.ndarray
    b0_out: np.ndarray
    mix_in: np.ndarray
    mix_out: np.ndarray
    mix_hw: np.ndarray
    in_channels: int
    n_classes: int


def build_batch_table(batch: ArchBatch, cfg: SpaceConfig = VWW) -> BatchTable:
    """Per-slot shapes of every arch in ``batch`` (the vectorized twin of ``build_table``)."""
    n, s_count = len(batch), cfg.n_slots
    n_w = len(cfg.width_mult_list)
    widths = [cfg.widths(w) for w in range(n_w)]
    first_lut = np.array([w["first"] for w in widths])
    b0_lut = np.array([w["block0"] for w in widths])
    stage_lut = np.array([w["stages"] for w in widths])  # (n_w, n_stages)
    mix_lut = np.array([w["feature_mix"] for w in widths])

    act = np.ascontiguousarray(batch.active(cfg).T)
    ks = np.ascontiguousarray(batch.ks.T)
    e = np.ascontiguousarray(batch.e.T)
    slot_se = np.asarray(cfg.slot_se)
    first_hw = (batch.image_size - 1) // cfg.first_stride + 1
    hw = first_hw.copy()
    in_ch = b0_lut[batch.wid]
    z = lambda: np.zeros((s_count, n), dtype=np.int64)  # noqa: E731
    t_in, t_mid, t_out, t_k, t_s, t_se, t_res, t_ihw, t_ohw = (z() for _ in range(9))
    for slot, (stage, pos) in enumerate(zip(cfg.slot_stage, cfg.slot_index_in_stage)):
        a = act[slot]
        out_ch = stage_lut[batch.wid, stage]
        stride = cfg.stage_strides[stage] if pos == 0 else 1
        mid = make_divisible_np(in_ch * e[slot])
        out_hw = (hw - 1) // stride + 1 if stride > 1 else hw
        np.multiply(in_ch, a, out=t_in[slot])
        np.multiply(mid, a, out=t_mid[slot])
        np.multiply(out_ch, a, out=t_out[slot])
        np.multiply(ks[slot], a, out=t_k[slot])
        t_s[slot] = stride * a
        if slot_se[slot]:
            np.multiply(in_ch // 4, a, out=t_se[slot])
        if stride == 1:
            np.multiply(in_ch == out_ch, a, out=t_res[slot])
        np.multiply(hw, a, out=t_ihw[slot])
        np.multiply(out_hw, a, out=t_ohw[slot])
        in_ch = np.where(a, out_ch, in_ch)
        hw = np.where(a, out_hw, hw)
    return BatchTable(act, t_in, t_mid, t_out, t_k, t_s, t_se, t_res.astype(bool), t_ihw, t_ohw,
                      batch.image_size.copy(), first_lut[batch.wid], first_hw, b0_lut[batch.wid],
                      in_ch, mix_lut[batch.wid], hw, cfg.in_channels, cfg.n_classes)


# ---- vectorized sampling and variation ------------------------------------------------------

def _choice(rng: np.random.Generator, values, size) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)[rng.integers(0, len(values), size=size)]


def sample_batch(rng: np.random.Generator, n: int, cfg: SpaceConfig = VWW,
                 wids: tuple[int, ...] | None = None) -> ArchBatch:
    """``n`` uniformly random archs."""
    wids = cfg.sample_wids if wids is None else wids
    return ArchBatch(
        wid=_choice(rng, wids, n),
        ks=_choice(rng, cfg.ks_list, (n, cfg.n_slots)),
        e=_choice(rng, cfg.expand_ratio_list, (n, cfg.n_slots)),
        d=_choice(rng, cfg.depth_list, (n, cfg.n_depth)),
        image_size=_choice(rng, cfg.resolutions, n),
    )


def mutate_batch(batch: ArchBatch, rng: np.random.Generator, cfg: SpaceConfig = VWW, prob: float = 0.1,
                 resolution_prob: float = 0.5, wids: tuple[int, ...] | None = None) -> ArchBatch:
    """The lab's mutation applied to every row (see :func:`ofa_mcu.space.arch.mutate`)."""
    n = len(batch)
    fresh = sample_batch(rng, n, cfg, wids)
    out = batch.copy()
    m = rng.random(n) < resolution_prob
    out.image_size[m] = fresh.image_size[m]
    m = rng.random(n) < prob
    out.wid[m] = fresh.wid[m]
    for name in ("ks", "e", "d"):
        arr = getattr(out, name)
        m = rng.random(arr.shape) < prob
        arr[m] = getattr(fresh, name)[m]
    return out


def crossover_batch(a: ArchBatch, b: ArchBatch, rng: np.random.Generator) -> ArchBatch:
    """Gene-wise uniform crossover of row i of ``a`` with row i of ``b``."""
    out = a.copy()
    for name in ("wid", "ks", "e", "d", "image_size"):
        x, y = getattr(out, name), getattr(b, name)
        m = rng.random(x.shape) < 0.5
        x[m] = y[m]
    return out


def shrink_batch(batch: ArchBatch, rng: np.random.Generator, cfg: SpaceConfig = VWW, prob: float = 0.3,
                 wids: tuple[int, ...] | None = None) -> ArchBatch:
    """Move each gene toward the smallest arch with probability ``prob``.

    Repeated application reaches the smallest arch, so a sampler that shrinks infeasible rows
    always ends (the lab's samplers redraw forever instead).
    """
    wids = cfg.sample_wids if wids is None else wids
    out = batch.copy()
    n = len(batch)
    m = rng.random(n) < prob
    out.image_size[m] = min(cfg.resolutions)
    m = rng.random(n) < prob
    out.wid[m] = min(wids)
    for name, values in (("ks", cfg.ks_list), ("e", cfg.expand_ratio_list), ("d", cfg.depth_list)):
        arr = getattr(out, name)
        m = rng.random(arr.shape) < prob
        arr[m] = min(values)
    return out
