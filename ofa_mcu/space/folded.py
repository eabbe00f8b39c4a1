"""A subnet as its per-layer table plus BN-folded float weights: the torch-free interchange.

The torch subnet folds into a :class:`FoldedNet`; the TFLite graph builder reads one.
:func:`folded_forward` is the float reference of the network's function (NCHW, numpy), the
arithmetic every other implementation is checked against:

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

from .ops import convert_ops
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


def conv2d_nchw(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, groups: int,
                pad: int | None = None) -> np.ndarray:
    """Float conv with ``pad`` zeros on every side (default PyTorch's symmetric ``k // 2``; odd
    kernels)."""
    n, c = x.shape[:2]
    o, cg, k, _ = w.shape
    win = _windows(x, k, stride, k // 2 if pad is None else pad)  # (n, c, oh, ow, k, k)
    if groups == c and cg == 1 and o == c:  # depthwise
        return np.einsum("nchwij,cij->nchw", win, w[:, 0], optimize=True) + b[None, :, None, None]
    og = o // groups
    out = np.empty((n, o) + win.shape[2:4], dtype=np.float64)
    for g in range(groups):
        xs = win[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        out[:, g * og:(g + 1) * og] = np.einsum("nchwij,ocij->nohw", xs, ws, optimize=True)
    return out + b[None, :, None, None]


def _windows(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    oh, ow = (xp.shape[2] - k) // stride + 1, (xp.shape[3] - k) // stride + 1
    return np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :oh, :ow]


def folded_forward(net: FoldedNet, x: np.ndarray) -> np.ndarray:
    """Float64 reference forward of the folded subnet: ``x (N, C, H, W)`` -> logits ``(N, classes)``.

    Walks the converted op list (:func:`ofa_mcu.space.ops.convert_ops`): a conv after an
    explicit PAD reads the padded map unpadded, every other conv pads ``k // 2`` (what PyTorch
    does, and what TFLite's SAME does where no PAD is needed)."""
    g = convert_ops(net.table)
    weights = {f.spec: f for f in net.convs}
    values = {0: np.asarray(x, dtype=np.float64)}
    for op in g.ops:
        ins = [values[i] for i in op.inputs]
        if op.name == "PAD":
            y = np.pad(ins[0], ((0, 0), (0, 0), op.pad, op.pad))
        elif op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            f, s = weights[op.conv], op.conv
            after_pad = (p := g.producer(op.inputs[0])) is not None and p.name == "PAD"
            y = _act(conv2d_nchw(ins[0], f.weight.astype(np.float64), f.bias, s.stride, s.groups,
                                 0 if after_pad else None), s.act)
        elif op.name == "MEAN":  # an SE's keeps H, W; the head's pool drops them
            y = ins[0].mean(axis=(2, 3), keepdims=op.block >= 0)
        elif op.name == "MUL":
            y = ins[0] * ins[1]
        elif op.name == "ADD":
            y = ins[0] + ins[1]
        elif op.name == "FULLY_CONNECTED":
            f = weights[op.conv]
            y = _act(ins[0] @ f.weight.T.astype(np.float64) + f.bias, op.conv.act)
        else:
            raise ValueError(f"no float form for op {op.name}")
        values[op.output] = y
    return values[g.ops[-1].output]
