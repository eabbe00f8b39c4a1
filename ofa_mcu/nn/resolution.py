"""Elastic resolution: one input size per training batch, drawn from the space's list."""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from ..config import VWW, SpaceConfig


def sample_resolution(rng, cfg: SpaceConfig = VWW) -> int:
    """A resolution drawn uniformly from ``cfg.resolutions`` (``rng``: ``random.Random`` or a
    numpy ``Generator``)."""
    return int(rng.choice(list(cfg.resolutions)))


def resize_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x (N, C, H, W)`` resized to ``size x size`` (bilinear, no corner alignment, antialias
    when shrinking); returned unchanged when it already has that size."""
    if x.shape[-2:] == (size, size):
        return x
    shrink = size < x.shape[-1] or size < x.shape[-2]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


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
