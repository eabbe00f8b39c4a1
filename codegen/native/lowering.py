"""What a kernel module sees while lowering TFLite ops: the model's tensors, aliases, folded
PADs and the layers made so far (:class:`LowerCtx`), and the helpers several kernels share
(NHWC shapes, SAME padding, conv geometry, per-channel requantization parameters)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ofa_mcu.errors import UserError

from . import quant as Q
from .graph import Layer, combined_bytes  # noqa: F401  (kernels import it from here)
from ..tflite_model import TfliteModel, TOp, TTensor


@dataclass(frozen=True)
class PendingPad:
    """A PAD whose only consumer may take the padding inside its kernel (a conv);
    ``materialize(ctx, tensor)`` lowers it as a layer of its own when the consumer cannot."""

    src: int
    pads: tuple[int, int, int, int]  # top, bottom, left, right
    materialize: Callable


def nhwc(t: TTensor) -> tuple[int, int, int]:
    """``(H, W, C)`` of a batch-1 NHWC tensor (a UserError for any other shape)."""
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise UserError(f"tensor {t.name!r} has shape {list(t.shape)}; this op needs a batch-1 NHWC tensor in the "
                        "native backend")
    return t.shape[1], t.shape[2], t.shape[3]


def same_pad(in_size: int, k: int, s: int, dilation: int = 1) -> tuple[int, int]:
    """``(output size, padding before)`` of TFLite's SAME padding."""
    out = (in_size + s - 1) // s
    eff = (k - 1) * dilation + 1
    total = max((out - 1) * s + eff - in_size, 0)
    return out, total // 2


def check_int8(t: TTensor) -> None:
    """A UserError unless ``t`` is an int8 tensor (the native backend computes int8 only)."""
    if t.dtype is not np.int8:
        raise UserError(f"tensor {t.name!r} is {t.type_name or np.dtype(t.dtype).name}; the native backend needs a "
                        "full-int8 model (int8 input, output and activations)")


def stream_distance(out_rows: int, row_out: int, row_in: int, in_rows: int, first_needed) -> int:
    """Smallest ``in_offset - out_offset`` for a kernel that writes output row ``r`` only
    when input rows below ``first_needed(r)`` are no longer needed."""
    d = -10**18
    for r in range(out_rows):
        need = min(max(first_needed(r), 0), in_rows)
        d = max(d, (r + 1) * row_out - need * row_in)
    return d


class LowerCtx:
    """The state of one lowering: kernel modules read tensors through it and add layers."""

    def __init__(self, model: TfliteModel, options: dict | None = None, tflite: bytes | None = None):
        self.m = model
        self.tflite = tflite  # the flatbuffer (kernels that run TFLite-Micro on one op need it)
        self.options = dict(options or {})
        self.alias: dict[int, int] = {}
        self.pads: dict[int, PendingPad] = {}
        self.layers: list[Layer] = []

    # -- tensors --
    def t(self, i: int) -> TTensor:
        """Tensor ``i`` of the model."""
        return self.m.tensors[i]

    def resolve(self, i: int) -> int:
        """The tensor ``i`` stands for, through RESHAPE/SQUEEZE aliases."""
        while i in self.alias:
            i = self.alias[i]
        return i

    def const(self, i: int) -> np.ndarray | None:
        """The constant data of tensor ``i`` (None for activations and absent inputs)."""
        return None if i < 0 else self.t(i).data

    def consumers(self, tensor: int) -> list[TOp]:
        """The ops that read ``tensor``."""
        return [self.m.ops[i] for i in self.m.consumers(tensor)]

    def make_alias(self, dst: int, src: int) -> None:
        """Tensor ``dst`` is the bytes of ``src`` (a reshape)."""
        self.alias[dst] = self.resolve(src)

    def act_in(self, i: int) -> int:
        """An int8 activation input of the op being lowered (a pending PAD is materialised)."""
        i = self.resolve(i)
        if i in self.pads:
            self.pads[i].materialize(self, i)
        check_int8(self.t(i))
        return i

    def take_pad(self, i: int) -> tuple[int, tuple[int, int, int, int]]:
        """For a kernel that pads inside: ``(source tensor, (top, bottom, left, right))`` of a
        pending PAD feeding input ``i`` (no padding when there is none)."""
        i = self.resolve(i)
        p = self.pads.pop(i, None)
        return (i, (0, 0, 0, 0)) if p is None else (p.src, p.pads)

    def add_layer(self, **kw) -> Layer:
        """Append one kernel call."""
        layer = Layer(index=len(self.layers), **kw)
        self.layers.append(layer)
        return layer

    # -- shared lowering arithmetic --
    def out_int8(self, op: TOp, k: int = 0) -> TTensor:
        """Output ``k`` of ``op``, checked int8."""
        y = self.t(op.outputs[k])
        check_int8(y)
        return y

    def weights(self, op: TOp, idx: int = 1) -> tuple[TTensor, np.ndarray]:
        """The op's constant int8 weights (tensor and data)."""
        wdat = self.const(op.inputs[idx])
        if wdat is None or wdat.dtype != np.int8:
            raise UserError(f"{op.opcode} op {op.index} has non-constant or non-int8 weights; not supported by the "
                            "native backend")
        return self.t(op.inputs[idx]), wdat

    def requant(self, op: TOp, x: TTensor, y: TTensor, wt: TTensor, n: int):
        """``(bias int32[n], mult, shift, act_min, act_max)`` of a per-channel conv / FC."""
        bias = self.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if bias is not None and bias.dtype != np.int32:
            raise UserError(f"{op.opcode} op {op.index} has a {bias.dtype} bias; the native backend needs int32")
        bias = np.zeros(n, np.int32) if bias is None else bias.astype(np.int32).reshape(-1)
        if len(wt.zero_points) and np.any(wt.zero_points != 0):
            raise UserError(f"weights {wt.name!r} have non-zero zero points; expected symmetric int8 weights")
        mult, shift = Q.conv_multipliers(x.scale, wt.scales, y.scale, n)
        lo, hi = Q.activation_range(int(op.options.get("fusedActivationFunction", 0)), y.scale, y.zero_point)
        return bias, mult, shift, lo, hi

    def conv_geometry(self, op: TOp, k_h: int, k_w: int, square: bool = True):
        """``(x, y, geometry, op indices)`` of a conv-like op, with a pending PAD folded in;
        geometry: in/out sizes, kernel ``kh``/``kw``, strides ``sh``/``sw``, padding before
        (top, left), and ``k``/``stride`` for the kernels that need them square (``square``)."""
        src, (pt, pb, pl, pr) = self.take_pad(op.inputs[0])
        x = self.t(self.act_in(src))
        h, w, c = nhwc(x)
        o = op.options
        s_h, s_w = int(o.get("strideH", 1)), int(o.get("strideW", 1))
        if int(o.get("dilationHFactor", 1)) != 1 or int(o.get("dilationWFactor", 1)) != 1:
            raise UserError(f"{op.opcode} op {op.index} uses dilation; not supported by the native backend")
        if square and (s_h != s_w or k_h != k_w):
            raise UserError(f"{op.opcode} op {op.index} has a non-square kernel or stride ({k_h}x{k_w}, stride "
                            f"{s_h}x{s_w}); the native backend takes those for CONV_2D only")
        hp, wp = h + pt + pb, w + pl + pr
        if int(o.get("padding", 1)) == 0:  # SAME
            oh, st = same_pad(hp, k_h, s_h)
            ow, sl = same_pad(wp, k_w, s_w)
        else:
            oh, ow, st, sl = (hp - k_h) // s_h + 1, (wp - k_w) // s_w + 1, 0, 0
        y = self.out_int8(op)
        if nhwc(y)[:2] != (oh, ow):
            raise UserError(f"{op.opcode} op {op.index}: output shape {list(y.shape)} does not match the computed "
                            f"{oh}x{ow}")
        geo = dict(in_h=h, in_w=w, out_h=oh, out_w=ow, kh=k_h, kw=k_w, sh=s_h, sw=s_w, pad_top=pt + st,
                   pad_left=pl + sl)
        if k_h == k_w and s_h == s_w:
            geo.update(k=k_h, stride=s_h)
        return x, y, geo, [op.index]

    def binary(self, op: TOp):
        """``(a, b, b's constant data or None)`` of a two-input elementwise op; ``a`` is always
        an activation."""
        i1, i2 = self.resolve(op.inputs[0]), self.resolve(op.inputs[1])
        c1, c2 = self.const(i1), self.const(i2)
        if c1 is not None and c2 is not None:
            raise UserError(f"{op.opcode} op {op.index} has two constant inputs; re-export the model (the converter "
                            "folds those)")
        if c1 is not None:
            i1, i2, c1, c2 = i2, i1, c2, c1
        a = self.t(self.act_in(i1))
        b = self.t(i2)
        if c2 is None:
            self.act_in(i2)
        elif c2.dtype != np.int8:
            raise UserError(f"{op.opcode} op {op.index} has a {c2.dtype} constant; the native backend needs int8")
        return a, b, c2


def fused_activation(op: TOp) -> int:
    """The op's fused activation function code (0: none)."""
    return int(op.options.get("fusedActivationFunction", 0))
