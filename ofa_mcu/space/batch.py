"""Populations of archs as numpy arrays, and the per-layer table evaluated for all at once.

The search evaluates tens of thousands of candidates; building a :class:`ArchTable` per arch
is too slow for that, so :func:`build_batch_table` computes the same per-slot shapes with
array operations over the whole population. Tests check both agree on every field.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
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
        lut = space_lut(cfg)
        depth = lut.base_depth[None, :] + self.d * lut.elastic_stage[None, :]
        return lut.slot_pos[None, :] < depth[:, lut.slot_stage]

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


@dataclass(frozen=True)
class SpaceLUT:
    """Per-config lookup tables, computed once per :class:`SpaceConfig` (search calls the
    vectorized table thousands of times on small populations)."""

    slot_stage: np.ndarray      # (S,) stage of each slot
    slot_pos: np.ndarray        # (S,) position inside the stage
    slot_stride_arr: np.ndarray  # (S,) stride of each slot
    slot_se_arr: np.ndarray      # (S,) 1 where the slot has SE
    slot_in_index: np.ndarray    # (S,) row of the stage-output table that feeds the slot
    base_depth: np.ndarray      # (n_stages,) blocks that always run (all slots for fixed stages)
    elastic_stage: np.ndarray   # (n_stages,) 1 where d applies
    first: np.ndarray           # (n_w,) stem channels per width index
    block0: np.ndarray          # (n_w,)
    stages: np.ndarray          # (n_w, n_stages)
    feature_mix: np.ndarray     # (n_w,)
    mid: np.ndarray             # (max_in + 1, max_e + 1): make_divisible(in * e)


@lru_cache(maxsize=16)
def space_lut(cfg: SpaceConfig) -> SpaceLUT:
    """The lookup tables of ``cfg`` (cached)."""
    widths = [cfg.widths(w) for w in range(len(cfg.width_mult_list))]
    n_el = len(cfg.base_depth)
    if min(cfg.base_depth) + min(cfg.depth_list) < 1:
        raise ValueError(f"space {cfg.name!r}: every stage must keep at least one block "
                         "(min(base_depth) + min(depth_list) >= 1)")
    base = list(cfg.base_depth) + list(cfg.stage_slots[n_el:])
    max_in = max(max(w["block0"], *w["stages"]) for w in widths)
    max_e = max(cfg.expand_ratio_list)
    mid = make_divisible_np(np.arange(max_in + 1)[:, None] * np.arange(max_e + 1)[None, :])
    return SpaceLUT(
        slot_stage=np.asarray(cfg.slot_stage),
        slot_pos=np.asarray(cfg.slot_index_in_stage),
        slot_stride_arr=np.asarray([cfg.stage_strides[s] if p == 0 else 1
                                    for s, p in zip(cfg.slot_stage, cfg.slot_index_in_stage)]),
        slot_se_arr=np.asarray(cfg.slot_se, dtype=np.int64),
        slot_in_index=np.asarray([s if p == 0 else s + 1 for s, p in zip(cfg.slot_stage, cfg.slot_index_in_stage)]),
        base_depth=np.asarray(base),
        elastic_stage=np.asarray([1] * n_el + [0] * (cfg.n_stages - n_el)),
        first=np.array([w["first"] for w in widths]),
        block0=np.array([w["block0"] for w in widths]),
        stages=np.array([w["stages"] for w in widths]),
        feature_mix=np.array([w["feature_mix"] for w in widths]),
        mid=mid,
    )


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
    first_stride: int
    cfg: SpaceConfig
    genes: ArchBatch  # the archs themselves (what the per-configuration tables are indexed by)


def build_batch_table(batch: ArchBatch, cfg: SpaceConfig = VWW) -> BatchTable:
    """Per-slot shapes of every arch in ``batch`` (the vectorized twin of ``build_table``).

    Every stage runs at least one block (checked in :func:`space_lut`), so a slot's input
    channels and size depend only on its stage and whether it is the stage's first block:
    no walk over the slots is needed, just table lookups on (S, N) arrays.
    """
    lut = space_lut(cfg)
    act = np.ascontiguousarray(batch.active(cfg).T)  # (S, N)
    # channels after each stage, stage -1 being block 0: (n_stages + 1, N)
    ch = np.concatenate([lut.block0[batch.wid][None, :], lut.stages[batch.wid].T])
    # feature size entering each stage and after the last: (n_stages + 1, N)
    first_hw = (batch.image_size - 1) // cfg.first_stride + 1
    hws = [first_hw]
    for stride in cfg.stage_strides:
        hws.append((hws[-1] - 1) // stride + 1)
    hw = np.stack(hws)
    in_idx = lut.slot_in_index[:, None]
    out_idx = lut.slot_stage[:, None] + 1
    col = np.arange(len(batch))[None, :]
    in_ch = ch[in_idx, col] * act
    out_ch = ch[out_idx, col] * act
    in_hw = hw[in_idx, col] * act
    out_hw = hw[out_idx, col] * act
    mid = lut.mid[in_ch, batch.e.T] * act
    return BatchTable(
        active=act, in_ch=in_ch, mid=mid, out_ch=out_ch, kernel=batch.ks.T * act,
        stride=lut.slot_stride_arr[:, None] * act, se_mid=(in_ch // 4) * lut.slot_se_arr[:, None],
        residual=(lut.slot_stride_arr[:, None] == 1) & (in_ch == out_ch) & act,
        in_hw=in_hw, out_hw=out_hw, image_size=batch.image_size.copy(),
        first_ch=lut.first[batch.wid], first_hw=first_hw, b0_out=lut.block0[batch.wid],
        mix_in=ch[-1], mix_out=lut.feature_mix[batch.wid], mix_hw=hw[-1],
        in_channels=cfg.in_channels, n_classes=cfg.n_classes, first_stride=cfg.first_stride, cfg=cfg, genes=batch)


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


def _binomial_choice(rng: np.random.Generator, values, t: np.ndarray, size) -> np.ndarray:
    ordered = np.sort(np.asarray(values, dtype=np.int64))
    t = t.reshape(t.shape + (1,) * (len(size) - 1))
    return ordered[rng.binomial(len(ordered) - 1, np.broadcast_to(t, size))]


def sample_batch_spread(rng: np.random.Generator, n: int, cfg: SpaceConfig = VWW,
                        wids: tuple[int, ...] | None = None) -> ArchBatch:
    """``n`` archs spread over the space's sizes, as :func:`ofa_mcu.space.arch.sample_arch_spread`
    draws one (same distribution, numpy's generator)."""
    wids = cfg.sample_wids if wids is None else wids
    t = rng.random(n)
    return ArchBatch(
        wid=_binomial_choice(rng, wids, t, (n,)),
        ks=_binomial_choice(rng, cfg.ks_list, t, (n, cfg.n_slots)),
        e=_binomial_choice(rng, cfg.expand_ratio_list, t, (n, cfg.n_slots)),
        d=_binomial_choice(rng, cfg.depth_list, t, (n, cfg.n_depth)),
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
