"""Elastic resolution: one input size per training step, drawn from the space's list (the
resize itself is :func:`ofa_mcu.data.resize_batch`)."""
from __future__ import annotations

from ..config import VWW, SpaceConfig
from ..data.preprocess import resize_batch  # noqa: F401  (the one resize, re-exported by ofa_mcu.nn)


def sample_resolution(rng, cfg: SpaceConfig = VWW) -> int:
    """A resolution drawn uniformly from ``cfg.resolutions`` (``rng``: ``random.Random`` or a
    numpy ``Generator``)."""
    return int(rng.choice(list(cfg.resolutions)))
