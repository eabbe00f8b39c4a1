"""A plain torch module computing a :class:`~ofa_mcu.space.folded.FoldedNet` (BN already
folded): the ONNX export path for any FoldedNet, trained or random, independent of the
supernet code. Same function as :func:`~ofa_mcu.space.folded.folded_forward`."""
from __future__ import annotations

import numpy as np

from ..space.folded import FoldedNet


def folded_torch_module(net: FoldedNet):
    """``torch.nn.Module`` (eval mode, float32, NCHW in, logits out) built from ``net``."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def conv(f):
        s = f.spec
        if s.kind == "linear":
            m = nn.Linear(s.in_ch, s.out_ch)
        else:
            m = nn.Conv2d(s.in_ch, s.out_ch, s.kernel, s.stride, s.kernel // 2, groups=s.groups, bias=True)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(np.asarray(f.weight, dtype=np.float32)))
            m.bias.copy_(torch.from_numpy(np.asarray(f.bias, dtype=np.float32)))
        return m

    acts = {"relu6": F.relu6, "relu": F.relu, "hsigmoid": F.hardsigmoid, "none": lambda x: x}

    class Block(nn.Module):
        def __init__(self, convs: dict, residual: bool):
            super().__init__()
            self.roles = [r for r in ("expand", "depthwise", "se_reduce", "se_expand", "project") if r in convs]
            self.layers = nn.ModuleDict({r: conv(convs[r]) for r in self.roles})
            self.act = {r: convs[r].spec.act for r in self.roles}
            self.residual = residual

        def forward(self, x):
            inp = x
            for r in ("expand", "depthwise"):
                if r in self.layers:
                    x = acts[self.act[r]](self.layers[r](x))
            if "se_reduce" in self.layers:
                s = x.mean(dim=(2, 3), keepdim=True)
                s = acts[self.act["se_reduce"]](self.layers["se_reduce"](s))
                s = acts[self.act["se_expand"]](self.layers["se_expand"](s))
                x = x * s
            x = self.layers["project"](x)
            return x + inp if self.residual else x

    class FoldedModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.first_conv = conv(net.convs[0])
            self.blocks = nn.ModuleList(Block(net.block_convs(i), b.residual) for i, b in enumerate(net.table.blocks))
            self.feature_mix = conv(net.convs[-2])
            self.classifier = conv(net.convs[-1])

        def forward(self, x):
            x = F.relu6(self.first_conv(x))
            for b in self.blocks:
                x = b(x)
            x = F.relu6(self.feature_mix(x))
            return self.classifier(x.mean(dim=(2, 3)))

    return FoldedModule().eval()
