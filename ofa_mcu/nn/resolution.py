"""Elastic resolution: one input size per training batch, drawn from the space's list (the
resize itself is :func:`ofa_mcu.data.resize_batch`)."""
from __future__ import annotations

import random

from torch.utils.data import default_collate

from ..config import VWW, SpaceConfig
from ..data.preprocess import resize_batch  # the one resize (re-exported by ofa_mcu.nn)


def sample_resolution(rng, cfg: SpaceConfig = VWW) -> int:
    """A resolution drawn uniformly from ``cfg.resolutions`` (``rng``: ``random.Random`` or a
    numpy ``Generator``)."""
    return int(rng.choice(list(cfg.resolutions)))


class ElasticResolutionCollate:
    """A ``DataLoader`` ``collate_fn``: default collation, then the image batch resized to a
    resolution sampled per batch (OFA's elastic resolution). ``size`` fixes the resolution
    (evaluation). Items are ``(image CxHxW, label)``."""

    def __init__(self, cfg: SpaceConfig = VWW, seed: int = 0, size: int | None = None):
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.size = size
        self.last_size: int | None = None

    def __call__(self, items):
        x, y = default_collate(items)
        size = self.size if self.size is not None else sample_resolution(self.rng, self.cfg)
        self.last_size = size
        return resize_batch(x, size), y
