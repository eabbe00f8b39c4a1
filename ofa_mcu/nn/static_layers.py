"""Plain (static) layers and the static subnet built from an :class:`ArchTable`.

Module and parameter names follow the lab's static subnets (``first_conv.conv.weight``,
``blocks.3.mobile_inverted_conv.depth_conv.se.fc.reduce.weight``, ...), so a subnet's
``state_dict`` reads like the lab's extracted networks. Only ``nn.Conv2d``, ``nn.BatchNorm2d``
and ``nn.Linear`` carry weights, so hook-based counters (:mod:`ofa_mcu.nn.counting`) see
every multiply-accumulate.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from ..config import SpaceConfig
from ..space.folded import FoldedConv, FoldedNet
from ..space.table import ArchTable, BlockSpec, ConvSpec
from .init import init_model
from .ops import activation_module, global_avg_pool


def _bn(channels: int, cfg: SpaceConfig) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=cfg.bn_eps, momentum=cfg.bn_momentum)


def _conv(spec: ConvSpec) -> nn.Conv2d:
    return nn.Conv2d(spec.in_ch, spec.out_ch, spec.kernel, spec.stride, spec.kernel // 2,
                     groups=spec.groups, bias=spec.bias)


def conv_bn_act(spec: ConvSpec, cfg: SpaceConfig) -> nn.Sequential:
    """conv -> BN -> activation of one ConvSpec, as ``conv``/``bn``/``act`` children."""
    return nn.Sequential(OrderedDict([("conv", _conv(spec)), ("bn", _bn(spec.out_ch, cfg)),
                                      ("act", activation_module(spec.act))]))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excite: mean over H,W -> 1x1 (bias) -> act -> 1x1 (bias) -> hard-sigmoid -> scale."""

    def __init__(self, reduce: ConvSpec, expand: ConvSpec):
        super().__init__()
        self.fc = nn.Sequential(OrderedDict([
            ("reduce", _conv(reduce)), ("relu", activation_module(reduce.act)),
            ("expand", _conv(expand)), ("h_sigmoid", activation_module(expand.act)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` scaled per channel by the squeeze-and-excite gate."""
        return x * self.fc(global_avg_pool(x, keepdim=True))


class MBConvLayer(nn.Module):
    """Inverted bottleneck: [expand 1x1] -> [depthwise kxk (+SE)] -> project 1x1.

    Block 0 (fused) has only ``point_linear``; the other parts are ``None`` there.
    """

    def __init__(self, convs: dict[str, ConvSpec], cfg: SpaceConfig):
        super().__init__()
        self.inverted_bottleneck = conv_bn_act(convs["expand"], cfg) if "expand" in convs else None
        self.depth_conv = conv_bn_act(convs["depthwise"], cfg) if "depthwise" in convs else None
        if self.depth_conv is not None and "se_reduce" in convs:
            self.depth_conv.add_module("se", SqueezeExcite(convs["se_reduce"], convs["se_expand"]))
        proj = convs["project"]
        self.point_linear = nn.Sequential(OrderedDict([("conv", _conv(proj)), ("bn", _bn(proj.out_ch, cfg))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, depthwise (+SE), project."""
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        if self.depth_conv is not None:
            x = self.depth_conv(x)
        return self.point_linear(x)


class MBBlock(nn.Module):
    """One block of the subnet: the MBConv layer plus the residual add when ``residual``."""

    def __init__(self, spec: BlockSpec, convs: dict[str, ConvSpec], cfg: SpaceConfig):
        super().__init__()
        self.spec = spec
        self.residual = bool(spec.residual)
        self.mobile_inverted_conv = MBConvLayer(convs, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The MBConv layer, plus ``x`` when the block is residual."""
        y = self.mobile_inverted_conv(x)
        return y + x if self.residual else y

    def layers(self) -> list[tuple[nn.Module, nn.BatchNorm2d | None]]:
        """(conv, bn) pairs in the order of the table's convs for this block."""
        m = self.mobile_inverted_conv
        out = []
        if m.inverted_bottleneck is not None:
            out.append((m.inverted_bottleneck.conv, m.inverted_bottleneck.bn))
        if m.depth_conv is not None:
            out.append((m.depth_conv.conv, m.depth_conv.bn))
            if hasattr(m.depth_conv, "se"):
                out += [(m.depth_conv.se.fc.reduce, None), (m.depth_conv.se.fc.expand, None)]
        out.append((m.point_linear.conv, m.point_linear.bn))
        return out


class LinearLayer(nn.Module):
    """The classifier: ``linear`` (an ``nn.Linear`` with bias)."""

    def __init__(self, spec: ConvSpec):
        super().__init__()
        self.linear = nn.Linear(spec.in_ch, spec.out_ch, bias=spec.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the pooled features ``x``."""
        return self.linear(x)


class StaticSubnet(nn.Module):
    """A plain network with the shape of ``table`` (random init unless weights are loaded).

    ``extract`` of the supernet builds one and copies the active weights into it. Forward takes
    ``(N, C, H, W)`` at any resolution and returns logits ``(N, n_classes)``.
    """

    def __init__(self, table: ArchTable):
        super().__init__()
        self.table = table
        cfg = table.cfg
        self.first_conv = conv_bn_act(table.first_conv, cfg)
        blocks = []
        for i, spec in enumerate(table.blocks):
            convs = {c.role: c for c in table.block_convs(i)}
            blocks.append(MBBlock(spec, convs, cfg))
        self.blocks = nn.ModuleList(blocks)
        self.feature_mix_layer = conv_bn_act(table.feature_mix, cfg)
        self.classifier = LinearLayer(table.classifier)
        init_model(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for ``x (N, in_channels, H, W)``."""
        x = self.first_conv(x)
        for block in self.blocks:
            x = block(x)
        x = self.feature_mix_layer(x)
        return self.classifier(global_avg_pool(x))

    def layers(self) -> list[tuple[nn.Module, nn.BatchNorm2d | None]]:
        """(conv or linear, bn or None) for every entry of ``table.convs``, in that order."""
        out = [(self.first_conv.conv, self.first_conv.bn)]
        for block in self.blocks:
            out += block.layers()
        out += [(self.feature_mix_layer.conv, self.feature_mix_layer.bn), (self.classifier.linear, None)]
        return out

    def fold(self) -> FoldedNet:
        """BN folded into each conv's weight and bias (eval-mode arithmetic, running stats).

        Computed in float64, stored as float32, aligned with ``table.convs``.
        """
        convs = []
        with torch.no_grad():
            for spec, (layer, bn) in zip(self.table.convs, self.layers(), strict=True):
                w = layer.weight.detach().double()
                b = layer.bias.detach().double() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
                if bn is not None:
                    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
                    b = (b - bn.running_mean.double()) * scale + bn.bias.double()
                    w = w * scale.reshape(-1, *([1] * (w.dim() - 1)))
                convs.append(FoldedConv(spec, w.numpy().astype(np.float32), b.numpy().astype(np.float32)))
        return FoldedNet(self.table, convs)
