"""The lab's hook-based efficiency counters, run on a real forward pass of a static module.

Slower than the vectorized arithmetic of :mod:`ofa_mcu.efficiency.analytic` (a benchmark
compares them), but independent of it: the figures come from the tensors the layers really
see. ``input_shape`` is ``(C, H, W)`` or ``(1, C, H, W)``; the forward runs on batch 1 (zeros)
on the module's device, in eval mode (the mode is restored afterwards).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from .static_layers import MBBlock


def _input(module: nn.Module, input_shape) -> torch.Tensor:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1,) + shape
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"input_shape must be (C, H, W) or (1, C, H, W), got {input_shape}")
    p = next(module.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    return torch.zeros(shape, device=device, dtype=dtype)


@contextmanager
def _hooks(module: nn.Module, fn) -> Iterator[None]:
    handles = [m.register_forward_hook(fn) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def _run(module: nn.Module, input_shape) -> None:
    was_training = module.training
    module.eval()
    try:
        module(_input(module, input_shape))
    finally:
        module.train(was_training)


def _layer_macs(m: nn.Module, output: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return output.numel() * (m.in_channels // m.groups) * kh * kw
    return output.numel() * m.in_features


@contextmanager
def _residual_inputs(module: nn.Module) -> Iterator[dict[nn.Module, int]]:
    """Records, per depthwise conv of a residual :class:`MBBlock`, the block input's size."""
    block_in: dict[nn.Module, int] = {}
    handles = []
    for b in module.modules():
        if isinstance(b, MBBlock) and b.residual and b.mobile_inverted_conv.depth_conv is not None:
            dw = b.mobile_inverted_conv.depth_conv.conv
            handles.append(b.register_forward_pre_hook(
                lambda m, args, dw=dw: block_in.__setitem__(dw, args[0].numel())))
    try:
        yield block_in
    finally:
        for h in handles:
            h.remove()


def count_macs_hooks(module: nn.Module, input_shape) -> int:
    """Multiply-accumulates of every ``nn.Conv2d`` and ``nn.Linear`` in one forward pass
    (``out elements * in_channels / groups * k * k`` for a conv, ``out * in`` for a linear)."""
    return count_all_hooks(module, input_shape)["macs"]


def count_peak_hooks(module: nn.Module, input_shape) -> int:
    """The lab's peak-activation estimate in elements (= bytes at int8).

    Each ``nn.Conv2d``/``nn.Linear`` needs its input and output alive; inside a residual
    :class:`MBBlock` the depthwise conv also keeps the block input (for the add). The
    network's figure is the largest of these.
    """
    return count_all_hooks(module, input_shape)["peak_lab_bytes"]


def count_all_hooks(module: nn.Module, input_shape) -> dict[str, int]:
    """``{"macs", "params", "peak_lab_bytes"}`` of a static module (one forward pass)."""
    macs = 0
    sizes: dict[nn.Module, int] = {}

    def hook(m, inputs, output):
        nonlocal macs
        macs += _layer_macs(m, output)
        sizes[m] = max(sizes.get(m, 0), inputs[0].numel() + output.numel())

    with _residual_inputs(module) as block_in, _hooks(module, hook):
        _run(module, input_shape)
    return {"macs": int(macs), "params": count_params(module),
            "peak_lab_bytes": int(max(v + block_in.get(m, 0) for m, v in sizes.items()))}


def count_params(module: nn.Module) -> int:
    """Trainable parameter count (``sum(p.numel())``, BN affine parameters included)."""
    return int(sum(p.numel() for p in module.parameters()))
