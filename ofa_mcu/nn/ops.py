"""Small functional pieces shared by the static and the elastic layers."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def hsigmoid(x: torch.Tensor) -> torch.Tensor:
    """Hard sigmoid as the lab (and ``folded_forward``) computes it: ``relu6(x + 3) / 6``."""
    return F.relu6(x + 3.0) / 6.0


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


# Activation names as ConvSpec.act and SpaceConfig.se_reduce_act spell them.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu6": F.relu6,
    "relu": F.relu,
    "hsigmoid": hsigmoid,
    "none": _identity,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation function called ``name``."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


class Hsigmoid(nn.Module):
    """Module form of :func:`hsigmoid` (exports to ONNX as Add, Clip, Div)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu6(x + 3) / 6``."""
        return hsigmoid(x)


class Identity(nn.Module):
    """No-op activation module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` unchanged."""
        return x


_ACT_MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu6": nn.ReLU6,
    "relu": nn.ReLU,
    "hsigmoid": Hsigmoid,
    "none": Identity,
}


def activation_module(name: str) -> nn.Module:
    """A fresh ``nn.Module`` computing activation ``name``."""
    try:
        return _ACT_MODULES[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(_ACT_MODULES)}") from None


def sub_filter_start_end(kernel_size: int, sub_kernel_size: int) -> tuple[int, int]:
    """Row/column range of the centred ``sub_kernel_size`` window inside ``kernel_size``."""
    center = kernel_size // 2
    dev = sub_kernel_size // 2
    return center - dev, center + dev + 1


def global_avg_pool(x: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Mean over H and W."""
    return x.mean(dim=(2, 3), keepdim=keepdim)
