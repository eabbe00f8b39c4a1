"""Training phases as data: each phase names which dimensions are elastic and who teaches.

Progressive shrinking (Once-for-All) trains the largest network first, then lets the kernel
size, the depth, the expand ratio and finally the width shrink, each phase sampling subnets
from a larger part of the space and distilling from a frozen copy of the largest network.

The sandwich phase (BigNAS) opens every dimension at once: each step trains the largest
subnet on the labels and the smallest plus ``subnets_per_step`` random subnets on the
largest's own (detached) predictions of the same batch: in-place distillation, no frozen
teacher.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..config import SpaceConfig
from ..errors import UserError


@dataclass(frozen=True)
class Phase:
    """One progressive-shrinking phase: which genes are sampled (the rest stay at max)."""

    name: str
    kernel: bool = False
    depth: bool = False
    expand: bool = False
    width: bool = False
    distill: bool = True
    sandwich: bool = False


PHASES: dict[str, Phase] = {p.name: p for p in (
    Phase("largest", distill=False),
    Phase("kernel", kernel=True),
    Phase("depth", kernel=True, depth=True),
    Phase("expand", kernel=True, depth=True, expand=True),
    Phase("width", kernel=True, depth=True, expand=True, width=True),
    Phase("sandwich", kernel=True, depth=True, expand=True, width=True, distill=False, sandwich=True),
)}
PHASE_ORDER = ("largest", "kernel", "depth", "expand", "width")


def get_phase(name: str) -> Phase:
    """Look up a phase by name."""
    if name not in PHASES:
        raise UserError(f"unknown training phase {name!r}; choose from {', '.join(PHASES)}")
    return PHASES[name]


def sample_phase_arch(phase: Phase, rng: random.Random, cfg: SpaceConfig, image_size: int) -> dict:
    """A subnet for one training step of ``phase`` at ``image_size``."""
    n, nd = cfg.n_slots, cfg.n_depth
    wids = range(len(cfg.width_mult_list))
    return {
        "wid": rng.choice(wids) if phase.width else max(wids),
        "ks": [rng.choice(cfg.ks_list) if phase.kernel else max(cfg.ks_list) for _ in range(n)],
        "e": [rng.choice(cfg.expand_ratio_list) if phase.expand else max(cfg.expand_ratio_list) for _ in range(n)],
        "d": [rng.choice(cfg.depth_list) if phase.depth else max(cfg.depth_list) for _ in range(nd)],
        "image_size": image_size,
    }
