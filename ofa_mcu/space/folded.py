"""A subnet as its per-layer table plus BN-folded float weights: the torch-free interchange.

The torch subnet folds into a :class:`FoldedNet`; the Keras/TFLite builder and the native C
code generator read one. :func:`folded_forward` is the float reference of the network's
function (NCHW, numpy), the arithmetic every other implementation is checked against:

- stem: conv 3x3 stride 2, padding 1, + bias, ReLU6
- block 0: 1x1 conv + bias (no activation)
- MBConv: [expand 1x1 + bias, ReLU6] -> depthwise kxk, stride s, padding k//2, + bias, ReLU6
  -> [SE: mean over H,W -> 1x1 + bias, ReLU -> 1x1 + bias, hard-sigmoid relu6(x+3)/6 ->
  multiply] -> project 1x1 + bias -> [+ block input when ``residual``]
- head: 1x1 conv + bias, ReLU6 -> global average pool -> linear + bias (logits)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .table import ArchTable, ConvSpec


@dataclass
class FoldedConv:
    """One conv/linear with BN folded in. ``weight`` uses PyTorch's layout: conv
    ``(out, in // groups, k, k)``, linear ``(out, in)``; ``bias`` is ``(out,)``."""

    spec: ConvSpec
    weight: np.ndarray
    bias: np.ndarray


@dataclass
class FoldedNet:
    """A subnet's table and its folded weights, ``convs[i]`` matching ``table.convs[i]``."""

    table: ArchTable
    convs: list[FoldedConv]

    def __post_init__(self):
        if len(self.convs) != len(self.table.convs):
            raise ValueError(f"FoldedNet has {len(self.convs)} convs; its table has {len(self.table.convs)}")
        for f, spec in zip(self.convs, self.table.convs):
            want = (spec.out_ch, spec.in_ch) if spec.kind == "linear" else (
                spec.out_ch, spec.in_ch // spec.groups, spec.kernel, spec.kernel)
            if tuple(f.weight.shape) != want or tuple(f.bias.shape) != (spec.out_ch,):
                raise ValueError(f"{spec.role} weight {f.weight.shape} / bias {f.bias.shape} do not match {want}")

    def block_convs(self, index: int) -> dict[str, FoldedConv]:
        """The folded convs of block ``index`` keyed by role."""
        return {f.spec.role: f for f in self.convs if f.spec.block == index}


def random_folded(table: ArchTable, rng: np.random.Generator) -> FoldedNet:
    """Random weights with a sane scale (He init, small biases): for measuring memory and
    for tests, where trained weights are not needed."""
    convs = []
    for spec in table.convs:
        fan_in = (spec.in_ch // spec.groups) * spec.kernel * spec.kernel
        shape = (spec.out_ch, spec.in_ch) if spec.kind == "linear" else (
            spec.out_ch, spec.in_ch // spec.groups, spec.kernel, spec.kernel)
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        b = rng.normal(0.0, 0.1, size=spec.out_ch).astype(np.float32)
        convs.append(FoldedConv(spec, w, b))
    return FoldedNet(table, convs)


def _act(x: np.ndarray, act: str) -> np.ndarray:
    if act == "relu6":
        return np.clip(x, 0.0, 6.0)
    if act == "relu":
        return np.maximum(x, 0.0)
    if act == "hsigmoid":
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0
    if act == "none":
        return x
    raise ValueError(f"unknown activation {act!r}")


def conv2d_nchw(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, groups: int) -> np.ndarray:
    """Float conv with PyTorch's symmetric ``k // 2`` zero padding (odd kernels)."""
    n, c, h, wd = x.shape
    o, cg, k, _ = w.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h - 1) // stride + 1, (wd - 1) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :oh, :ow]
    # win: (n, c, oh, ow, k, k)
    og = o // groups
    out = np.empty((n, o, oh, ow), dtype=np.float64)
    for g in range(groups):
        xs = win[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        out[:, g * og:(g + 1) * og] = np.einsum("nchwij,ocij->nohw", xs, ws, optimize=True)
    return out + b[None, :, None, None]


def _depthwise(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    n, c, h, wd = x.shape
    k = w.shape[-1]
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h - 1) // stride + 1, (wd - 1) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :oh, :ow]
    return np.einsum("nchwij,cij->nchw", win, w[:, 0], optimize=True) + b[None, :, None, None]


def _apply(f: FoldedConv, x: np.ndarray) -> np.ndarray:
    s = f.spec
    if s.kind == "linear":
        return _act(x @ f.weight.T.astype(np.float64) + f.bias, s.act)
    if s.groups == s.in_ch and s.groups > 1:
        y = _depthwise(x, f.weight.astype(np.float64), f.bias, s.stride)
    else:
        y = conv2d_nchw(x, f.weight.astype(np.float64), f.bias, s.stride, s.groups)
    return _act(y, s.act)


def folded_forward(net: FoldedNet, x: np.ndarray) -> np.ndarray:
    """Float64 reference forward of the folded subnet: ``x (N, C, H, W)`` -> logits ``(N, classes)``."""
    x = np.asarray(x, dtype=np.float64)
    table = net.table
    x = _apply(net.convs[0], x)
    for i, block in enumerate(table.blocks):
        convs = net.block_convs(i)
        inp = x
        if "expand" in convs:
            x = _apply(convs["expand"], x)
        if "depthwise" in convs:
            x = _apply(convs["depthwise"], x)
        if "se_reduce" in convs:
            s = x.mean(axis=(2, 3), keepdims=True)
            s = _apply(convs["se_expand"], _apply(convs["se_reduce"], s))
            x = x * s
        x = _apply(convs["project"], x)
        if block.residual:
            x = x + inp
    x = _apply(net.convs[-2], x)
    x = x.mean(axis=(2, 3))
    return _apply(net.convs[-1], x)
