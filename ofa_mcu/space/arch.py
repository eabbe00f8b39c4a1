"""Architecture dicts: the lab's interchange format, validated, canonicalised and sampled.

An arch dict is ``{"wid": int, "ks": [n_slots ints], "e": [n_slots ints],
"d": [n_stages ints], "image_size": int}``; see ``shared/reference/ofa_mcunet_space.md``.
"""
from __future__ import annotations

import random
from typing import Any, Mapping

from ..config import VWW, SpaceConfig
from ..errors import UserError

ARCH_KEYS = ("wid", "ks", "e", "d", "image_size")


def _int_list(arch: Mapping, key: str, length: int, allowed: tuple[int, ...], what: str) -> list[int]:
    value = arch[key]
    if not isinstance(value, (list, tuple)):
        raise UserError(f"arch field {key!r} must be a list of {length} ints, got {type(value).__name__}")
    if len(value) != length:
        raise UserError(f"arch field {key!r} has {len(value)} entries; this space needs {length} ({what})")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int):
            raise UserError(f"arch field {key}[{i}] = {v!r} is not an int; choose one of {list(allowed)}")
        if v not in allowed:
            raise UserError(f"arch field {key}[{i}] = {v} is not in the space; choose one of {list(allowed)}")
        out.append(int(v))
    return out


def validate_arch(arch: Any, cfg: SpaceConfig = VWW) -> dict:
    """Check an arch dict against the space and return a clean copy.

    Raises :class:`UserError` with a one-line message naming the first problem (a missing or
    unknown key, a wrong length, a value not in the space, an unknown resolution).
    """
    if not isinstance(arch, Mapping):
        raise UserError(f"an arch must be a JSON object with keys {list(ARCH_KEYS)}, got {type(arch).__name__}")
    missing = [k for k in ARCH_KEYS if k not in arch]
    if missing:
        raise UserError(f"arch is missing {missing}; an arch needs keys {list(ARCH_KEYS)}")
    unknown = sorted(set(arch) - set(ARCH_KEYS))
    if unknown:
        raise UserError(f"arch has unknown keys {unknown}; an arch has only keys {list(ARCH_KEYS)}")
    wid = arch["wid"]
    n_w = len(cfg.width_mult_list)
    if isinstance(wid, bool) or not isinstance(wid, int) or not 0 <= wid < n_w:
        raise UserError(f"arch field 'wid' = {wid!r} is not a width index; choose one of {list(range(n_w))} "
                        f"(width multipliers {list(cfg.width_mult_list)})")
    r = arch["image_size"]
    if isinstance(r, bool) or not isinstance(r, int) or r not in cfg.resolutions:
        raise UserError(f"arch field 'image_size' = {r!r} is not a resolution of space {cfg.name!r}; "
                        f"choose one of {list(cfg.resolutions)}")
    return {
        "wid": int(wid),
        "ks": _int_list(arch, "ks", cfg.n_slots, cfg.ks_list, "one kernel size per block slot"),
        "e": _int_list(arch, "e", cfg.n_slots, cfg.expand_ratio_list, "one expand ratio per block slot"),
        "d": _int_list(arch, "d", cfg.n_depth, cfg.depth_list, "one depth offset per stage"),
        "image_size": int(r),
    }


def stage_depths(arch: Mapping, cfg: SpaceConfig = VWW) -> list[int]:
    """Number of blocks that run in each stage."""
    out = []
    for s, n in enumerate(cfg.stage_slots):
        out.append(cfg.base_depth[s] + arch["d"][s] if s < len(cfg.base_depth) else n)
    return out


def active_slots(arch: Mapping, cfg: SpaceConfig = VWW) -> list[bool]:
    """For each of the ``n_slots`` block slots, whether it runs in this arch."""
    depths = stage_depths(arch, cfg)
    return [i < depths[s] for s, i in zip(cfg.slot_stage, cfg.slot_index_in_stage)]


def canonical(arch: Mapping, cfg: SpaceConfig = VWW) -> dict:
    """The canonical form: skipped slots carry the smallest kernel/expand and ``d`` of the
    fixed last stage is 0, so two dicts describing the same network compare equal."""
    arch = validate_arch(arch, cfg)
    active = active_slots(arch, cfg)
    arch["ks"] = [k if a else cfg.ks_list[0] for k, a in zip(arch["ks"], active)]
    arch["e"] = [e if a else cfg.expand_ratio_list[0] for e, a in zip(arch["e"], active)]
    arch["d"] = [d if s < len(cfg.base_depth) else cfg.depth_list[0] for s, d in enumerate(arch["d"])]
    return arch


def arch_key(arch: Mapping, cfg: SpaceConfig = VWW) -> tuple:
    """A hashable key of the canonical form (equal keys, equal networks)."""
    c = canonical(arch, cfg)
    return (c["wid"], tuple(c["ks"]), tuple(c["e"]), tuple(c["d"]), c["image_size"])


def sample_arch(rng: random.Random, cfg: SpaceConfig = VWW, wids: tuple[int, ...] | None = None) -> dict:
    """A uniformly random arch (every slot drawn, as the lab's sampler does)."""
    wids = cfg.sample_wids if wids is None else wids
    return {
        "wid": rng.choice(wids),
        "ks": [rng.choice(cfg.ks_list) for _ in range(cfg.n_slots)],
        "e": [rng.choice(cfg.expand_ratio_list) for _ in range(cfg.n_slots)],
        "d": [rng.choice(cfg.depth_list) for _ in range(cfg.n_depth)],
        "image_size": rng.choice(cfg.resolutions),
    }


def sample_arch_spread(rng: random.Random, cfg: SpaceConfig = VWW, wids: tuple[int, ...] | None = None) -> dict:
    """A random arch spread over the space's range of sizes: draw one size ``t`` uniform in [0, 1],
    then every width/kernel/expand/depth choice independently as the ``k``-th of its ``m + 1``
    sorted options with ``k ~ Binomial(m, t)`` (``t = 0`` the smallest, ``t = 1`` the largest,
    ``t = 1/2`` near uniform). Uniform draws concentrate around the middle size (twenty slots
    average out); these cover the small and large subnets a tight or a loose board searches
    among. The resolution stays uniform."""
    wids = cfg.sample_wids if wids is None else wids
    t = rng.random()

    def pick(options) -> int:
        ordered = sorted(options)
        return ordered[sum(rng.random() < t for _ in range(len(ordered) - 1))]

    return {
        "wid": pick(wids),
        "ks": [pick(cfg.ks_list) for _ in range(cfg.n_slots)],
        "e": [pick(cfg.expand_ratio_list) for _ in range(cfg.n_slots)],
        "d": [pick(cfg.depth_list) for _ in range(cfg.n_depth)],
        "image_size": rng.choice(cfg.resolutions),
    }


SAMPLERS = {"uniform": sample_arch, "spread": sample_arch_spread}  # name -> (rng, cfg) -> arch


def smallest_arch(cfg: SpaceConfig = VWW, image_size: int | None = None, wid: int = 0) -> dict:
    """The smallest network: narrowest width, smallest kernels and expands, shallowest."""
    return {
        "wid": wid,
        "ks": [min(cfg.ks_list)] * cfg.n_slots,
        "e": [min(cfg.expand_ratio_list)] * cfg.n_slots,
        "d": [min(cfg.depth_list)] * cfg.n_depth,
        "image_size": min(cfg.resolutions) if image_size is None else image_size,
    }


def largest_arch(cfg: SpaceConfig = VWW, image_size: int | None = None, wid: int | None = None) -> dict:
    """The largest network (by default at the widest width of the space)."""
    return {
        "wid": len(cfg.width_mult_list) - 1 if wid is None else wid,
        "ks": [max(cfg.ks_list)] * cfg.n_slots,
        "e": [max(cfg.expand_ratio_list)] * cfg.n_slots,
        "d": [max(cfg.depth_list)] * cfg.n_depth,
        "image_size": max(cfg.resolutions) if image_size is None else image_size,
    }


def mutate(arch: Mapping, rng: random.Random, cfg: SpaceConfig = VWW, prob: float = 0.1,
           resolution_prob: float = 0.5, wids: tuple[int, ...] | None = None) -> dict:
    """The lab's mutation: resolution with ``resolution_prob``; width, each kernel, expand and
    depth gene with ``prob``, each redrawn uniformly from its choices."""
    wids = cfg.sample_wids if wids is None else wids
    new = {k: (list(v) if isinstance(v, list) else v) for k, v in arch.items()}
    if rng.random() < resolution_prob:
        new["image_size"] = rng.choice(cfg.resolutions)
    if rng.random() < prob:
        new["wid"] = rng.choice(wids)
    for i in range(cfg.n_slots):
        if rng.random() < prob:
            new["ks"][i] = rng.choice(cfg.ks_list)
        if rng.random() < prob:
            new["e"][i] = rng.choice(cfg.expand_ratio_list)
    for i in range(cfg.n_depth):
        if rng.random() < prob:
            new["d"][i] = rng.choice(cfg.depth_list)
    return new


def crossover(a: Mapping, b: Mapping, rng: random.Random) -> dict:
    """The lab's crossover: every gene (each list entry, width, resolution) from either parent."""
    out = {}
    for key in ARCH_KEYS:
        if isinstance(a[key], list):
            out[key] = [x if rng.random() < 0.5 else y for x, y in zip(a[key], b[key])]
        else:
            out[key] = a[key] if rng.random() < 0.5 else b[key]
    return out
