"""BN re-calibration: running statistics recomputed for one (extracted) subnet."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(module: nn.Module, batches: Iterable[torch.Tensor], max_batches: int | None = None) -> int:
    """Reset every ``nn.BatchNorm2d`` of ``module`` and re-estimate its running mean and
    variance as the plain average over ``batches`` (images only, already at the subnet's
    resolution), as OFA does before evaluating a subnet. Weights are untouched; the module's
    mode and the BN momenta are restored. Returns the number of batches used.

    Use it on an extracted :class:`StaticSubnet`: on the supernet it would reset the
    statistics of every channel, including those the active subnet does not use.
    """
    bns = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [(m.momentum, m.training) for m in bns]
    was_training = module.training
    n = 0
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: every batch weighs the same
        module.train()
        for x in batches:
            if max_batches is not None and n >= max_batches:
                break
            module(x)
            n += 1
    finally:
        module.train(was_training)
        for m, (mom, _) in zip(bns, saved):
            m.momentum = mom
    if n == 0:
        raise ValueError("recalibrate_bn got no batches")
    return n
