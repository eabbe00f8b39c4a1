"""Elastic (dynamic) layers of the supernet: weights sized for the largest network, forward
with the active channel counts and kernel size.

Names follow the lab's checkpoint (``.conv.conv.weight``, ``.bn.bn.running_mean``,
``depth_conv.conv.7to5_matrix``, ``se.fc.reduce``). Each module also returns its active
weights as a static state (``active_state``) with the key names of
:mod:`ofa_mcu.nn.static_layers`, which is how ``extract`` copies weights.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..space.table import BlockSpec
from .ops import activation, activation_module, global_avg_pool, sub_filter_start_end


class DynamicConv2d(nn.Module):
    """A dense conv (groups 1) whose first ``in``/``out`` channels are active."""

    def __init__(self, max_in: int, max_out: int, kernel: int = 1, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.padding = kernel // 2
        self.conv = nn.Conv2d(max_in, max_out, kernel, stride, self.padding, bias=False)

    def active_weight(self, in_ch: int, out_ch: int) -> torch.Tensor:
        """The ``(out_ch, in_ch, k, k)`` slice in use."""
        return self.conv.weight[:out_ch, :in_ch]

    def forward(self, x: torch.Tensor, out_ch: int) -> torch.Tensor:
        """The conv's first ``out_ch`` filters over the input's channels."""
        return F.conv2d(x, self.active_weight(x.shape[1], out_ch), None, self.stride, self.padding)


class DynamicSeparableConv2d(nn.Module):
    """Depthwise conv with an elastic kernel (OFA's kernel transformation).

    The weight is sized for the largest kernel. A smaller kernel takes the centre of the next
    larger (transformed) kernel, flattens each channel's ``k*k`` window and maps it through that
    step's ``k^2 x k^2`` matrix (``F.linear``, i.e. ``window @ M.T``), one matrix per step and
    layer, shared by all channels, initialised to the identity: 7 -> 5 -> 3.
    """

    def __init__(self, max_ch: int, ks_list, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.ks_set = sorted(set(int(k) for k in ks_list))
        self.max_k = self.ks_set[-1]
        self.conv = nn.Conv2d(max_ch, max_ch, self.max_k, stride, self.max_k // 2, groups=max_ch, bias=False)
        # Registered smallest step first ("5to3", then "7to5"): the lab checkpoint's order.
        for small, large in zip(self.ks_set[:-1], self.ks_set[1:]):
            self.register_parameter(self.matrix_name(large, small), nn.Parameter(torch.eye(small * small)))

    @staticmethod
    def matrix_name(large: int, small: int) -> str:
        """Parameter name of the ``large -> small`` transformation matrix."""
        return f"{large}to{small}_matrix"

    def active_filter(self, channels: int, kernel: int) -> torch.Tensor:
        """The ``(channels, 1, kernel, kernel)`` depthwise filter for this kernel size."""
        if kernel not in self.ks_set:
            raise ValueError(f"kernel {kernel} not in {self.ks_set}")
        filt = self.conv.weight[:channels]
        for large, small in zip(reversed(self.ks_set[1:]), reversed(self.ks_set[:-1])):
            if large <= kernel:
                break
            s, e = sub_filter_start_end(large, small)
            window = filt[:, :, s:e, s:e].reshape(channels, small * small)
            filt = F.linear(window, getattr(self, self.matrix_name(large, small))).reshape(channels, 1, small, small)
        return filt

    def forward(self, x: torch.Tensor, kernel: int) -> torch.Tensor:
        """Depthwise conv of ``x`` with the ``kernel`` x ``kernel`` centre of the weights, transformed."""
        c = x.shape[1]
        return F.conv2d(x, self.active_filter(c, kernel), None, self.stride, kernel // 2, 1, c)


class DynamicBatchNorm2d(nn.Module):
    """BatchNorm over the first ``C`` channels of its input (``C = x.shape[1]``).

    Train mode normalises with the batch statistics of the active channels and updates the
    first ``C`` running statistics in place (momentum as ``nn.BatchNorm2d``: ``None`` gives a
    cumulative average, the usual way to re-calibrate); eval mode uses the running statistics.
    """

    def __init__(self, max_ch: int, eps: float, momentum: float | None):
        super().__init__()
        self.bn = nn.BatchNorm2d(max_ch, eps=eps, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Batch-normalised ``x`` with the statistics and affine of its first ``C`` channels."""
        bn = self.bn
        c = x.shape[1]
        factor = 0.0
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        use_batch = bn.training or not bn.track_running_stats
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            use_batch, factor, bn.eps)

    def active_state(self, c: int) -> dict[str, torch.Tensor]:
        """Static ``nn.BatchNorm2d`` state of the first ``c`` channels."""
        bn = self.bn
        return {"weight": bn.weight[:c], "bias": bn.bias[:c], "running_mean": bn.running_mean[:c],
                "running_var": bn.running_var[:c], "num_batches_tracked": bn.num_batches_tracked}


class DynamicSE(nn.Module):
    """Squeeze-and-excite over the first ``C`` channels with ``se_mid`` reduce channels."""

    def __init__(self, max_ch: int, max_mid: int, reduce_act: str):
        super().__init__()
        self.reduce_act = activation(reduce_act)
        self.fc = nn.Sequential(OrderedDict([
            ("reduce", nn.Conv2d(max_ch, max_mid, 1, bias=True)), ("relu", activation_module(reduce_act)),
            ("expand", nn.Conv2d(max_mid, max_ch, 1, bias=True)), ("h_sigmoid", activation_module("hsigmoid")),
        ]))

    def forward(self, x: torch.Tensor, se_mid: int) -> torch.Tensor:
        """``x`` scaled per channel by the squeeze-and-excite gate (``se_mid`` reduce channels)."""
        c = x.shape[1]
        r, e = self.fc.reduce, self.fc.expand
        y = global_avg_pool(x, keepdim=True)
        y = self.reduce_act(F.conv2d(y, r.weight[:se_mid, :c], r.bias[:se_mid]))
        y = F.conv2d(y, e.weight[:c, :se_mid], e.bias[:c])
        return x * (F.relu6(y + 3.0) / 6.0)

    def active_state(self, c: int, se_mid: int) -> dict[str, torch.Tensor]:
        """Static state (``fc.reduce.*``, ``fc.expand.*``)."""
        r, e = self.fc.reduce, self.fc.expand
        return {"fc.reduce.weight": r.weight[:se_mid, :c], "fc.reduce.bias": r.bias[:se_mid],
                "fc.expand.weight": e.weight[:c, :se_mid], "fc.expand.bias": e.bias[:c]}


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


class DynamicConvBN(nn.Module):
    """Dense conv -> dynamic BN -> activation (first conv, expand, project, feature mix)."""

    def __init__(self, max_in: int, max_out: int, kernel: int, stride: int, act: str, eps: float, momentum: float):
        super().__init__()
        self.conv = DynamicConv2d(max_in, max_out, kernel, stride)
        self.bn = DynamicBatchNorm2d(max_out, eps, momentum)
        self.act = activation(act)

    def forward(self, x: torch.Tensor, out_ch: int) -> torch.Tensor:
        """Conv to ``out_ch`` channels, BN, activation."""
        return self.act(self.bn(self.conv(x, out_ch)))

    def active_state(self, in_ch: int, out_ch: int) -> dict[str, torch.Tensor]:
        """Static state (``conv.weight``, ``bn.*``)."""
        return {"conv.weight": self.conv.active_weight(in_ch, out_ch), **_prefixed("bn", self.bn.active_state(out_ch))}


class DynamicDepthConv(nn.Module):
    """Depthwise conv (elastic kernel) -> dynamic BN -> ReLU6 -> [dynamic SE]."""

    def __init__(self, max_ch: int, ks_list, stride: int, se_mid: int, se_act: str, eps: float, momentum: float):
        super().__init__()
        self.conv = DynamicSeparableConv2d(max_ch, ks_list, stride)
        self.bn = DynamicBatchNorm2d(max_ch, eps, momentum)
        if se_mid:
            self.se = DynamicSE(max_ch, se_mid, se_act)
        else:
            self.se = None

    def forward(self, x: torch.Tensor, kernel: int, se_mid: int) -> torch.Tensor:
        """Depthwise ``kernel`` x ``kernel`` conv, BN, ReLU6, then SE when ``se_mid`` is set."""
        x = F.relu6(self.bn(self.conv(x, kernel)))
        return self.se(x, se_mid) if self.se is not None else x

    def active_state(self, c: int, kernel: int, se_mid: int) -> dict[str, torch.Tensor]:
        """Static state (``conv.weight``, ``bn.*``, ``se.fc.*``)."""
        out = {"conv.weight": self.conv.active_filter(c, kernel), **_prefixed("bn", self.bn.active_state(c))}
        if self.se is not None:
            out.update(_prefixed("se", self.se.active_state(c, se_mid)))
        return out


class DynamicMBConvLayer(nn.Module):
    """Elastic inverted bottleneck (``inverted_bottleneck``, ``depth_conv``, ``point_linear``).

    ``fused=True`` builds block 0: only ``point_linear`` (no expansion, no depthwise).
    """

    def __init__(self, max_in: int, max_mid: int, max_out: int, ks_list, stride: int, se_mid: int,
                 se_act: str, eps: float, momentum: float, fused: bool = False):
        super().__init__()
        if fused:
            self.inverted_bottleneck = None
            self.depth_conv = None
            self.point_linear = DynamicConvBN(max_in, max_out, 1, 1, "none", eps, momentum)
        else:
            self.inverted_bottleneck = DynamicConvBN(max_in, max_mid, 1, 1, "relu6", eps, momentum)
            self.depth_conv = DynamicDepthConv(max_mid, ks_list, stride, se_mid, se_act, eps, momentum)
            self.point_linear = DynamicConvBN(max_mid, max_out, 1, 1, "none", eps, momentum)

    def forward(self, x: torch.Tensor, spec: BlockSpec) -> torch.Tensor:
        """The block's layers at the shape ``spec`` (a ``BlockSpec``) gives."""
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x, spec.mid)
            x = self.depth_conv(x, spec.kernel, spec.se_mid)
        return self.point_linear(x, spec.out_ch)

    def active_state(self, spec: BlockSpec) -> dict[str, torch.Tensor]:
        """Static state of this layer for ``spec``."""
        if self.inverted_bottleneck is None:
            return _prefixed("point_linear", self.point_linear.active_state(spec.in_ch, spec.out_ch))
        return {**_prefixed("inverted_bottleneck", self.inverted_bottleneck.active_state(spec.in_ch, spec.mid)),
                **_prefixed("depth_conv", self.depth_conv.active_state(spec.mid, spec.kernel, spec.se_mid)),
                **_prefixed("point_linear", self.point_linear.active_state(spec.mid, spec.out_ch))}


class DynamicMBBlock(nn.Module):
    """A supernet block slot: ``mobile_inverted_conv`` plus the residual add when ``residual``
    (stride 1 and equal input/output widths, which holds at every width of the space)."""

    def __init__(self, layer: DynamicMBConvLayer, residual: bool):
        super().__init__()
        self.mobile_inverted_conv = layer
        self.residual = residual

    def forward(self, x: torch.Tensor, spec: BlockSpec) -> torch.Tensor:
        """The MBConv layer at ``spec``, plus ``x`` when the block is residual."""
        y = self.mobile_inverted_conv(x, spec)
        return y + x if spec.residual else y

    def active_state(self, spec: BlockSpec) -> dict[str, torch.Tensor]:
        """Static state (``mobile_inverted_conv.*``)."""
        return _prefixed("mobile_inverted_conv", self.mobile_inverted_conv.active_state(spec))


class DynamicLinear(nn.Module):
    """``linear``: an ``nn.Linear`` whose first ``in`` features are active."""

    def __init__(self, max_in: int, out: int):
        super().__init__()
        self.linear = nn.Linear(max_in, out, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W[:, :in].T + b`` over the active ``in = x.shape[1]`` features."""
        return F.linear(x, self.linear.weight[:, :x.shape[1]], self.linear.bias)


class DynamicLinearLayer(nn.Module):
    """The classifier (``classifier.linear.linear.*`` in the lab checkpoint)."""

    def __init__(self, max_in: int, out: int):
        super().__init__()
        self.linear = DynamicLinear(max_in, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the pooled features ``x``."""
        return self.linear(x)

    def active_state(self, in_ch: int) -> dict[str, torch.Tensor]:
        """Static state (``linear.weight``, ``linear.bias``)."""
        lin = self.linear.linear
        return {"linear.weight": lin.weight[:, :in_ch], "linear.bias": lin.bias}
