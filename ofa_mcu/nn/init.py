"""Weight initialisation (OFA's ``he_fout``) and a BN randomiser for tests and benchmarks."""
from __future__ import annotations

import math

import torch
from torch import nn


@torch.no_grad()
def init_model(module: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """OFA's ``init_model(net, 'he_fout')``: conv weights ~ N(0, 2 / (k*k*out)), conv biases 0,
    BN weight 1 / bias 0, linear weights ~ U(+-1/sqrt(in)) and biases 0. Kernel
    transformation matrices are left as they are (identity at construction). Returns ``module``."""
    for m in module.modules():
        if any(p.is_meta for p in m.parameters(recurse=False)):
            continue  # shape-only module (counting, or weights about to be loaded)
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.normal_(0.0, math.sqrt(2.0 / n), generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, nn.Linear):
            stdv = 1.0 / math.sqrt(m.weight.shape[1])
            m.weight.uniform_(-stdv, stdv, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
    return module


@torch.no_grad()
def randomize_bn(module: nn.Module, seed: int = 0) -> nn.Module:
    """Draw every BN's running mean/var and affine parameters at random (mean ~ N(0, 0.1),
    var ~ U(0.5, 1.5), weight ~ U(0.5, 1.5), bias ~ N(0, 0.1)), so that BN folding and channel
    permutations are visible in a network's function. Returns ``module``."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.copy_(torch.randn(c, generator=g) * 0.1)
    return module
