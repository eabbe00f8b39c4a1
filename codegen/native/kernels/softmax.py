"""SOFTMAX (int8 in, int8 out, over the last dimension): TFLite reference Softmax with its
gemmlowp fixed point. ``exp(beta * scale * diff)`` depends only on ``diff = x - max`` (256
values), so its FixedPoint<0> results (``exp_on_negative_values`` of the rescaled diff, zero
where the reference skips a diff below ``diff_min``) are a table made offline with
:mod:`codegen.native.fixedpoint`; the kernel sums the table's entries, takes the reference's
fixed-point reciprocal (GetReciprocal) and scales each entry (``firmware/native/softmax.c``)."""
from __future__ import annotations

import math

import numpy as np

from ofa_mcu.errors import UserError

from . import Kernel
from .. import fixedpoint as FP
from .. import quant as Q
from ..cemit import c_array, unary_call

FIELDS = (("int32_t", "outer"), ("int32_t", "depth"), ("const int32_t *", "exp"))
SCALED_DIFF_INTEGER_BITS = 5


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """``(input_multiplier, input_left_shift, diff_min)`` as TFLite's SoftmaxPrepare computes
    them for int8 (PreprocessSoftmaxScaling, CalculateInputRadius)."""
    real = min(float(np.float32(beta)) * Q.f32(input_scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               (1 << 31) - 1.0)
    mult, shift = Q.quantize_multiplier(real)
    if shift < 0:
        raise UserError(f"softmax input multiplier {real} is below one; re-export the model")
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
                        / (1 << shift))
    return mult, shift, -radius


def exp_table(beta: float, input_scale: float) -> np.ndarray:
    """``table[d]`` = the reference's ``exp_on_negative_values`` of diff ``-d``, d = 0..255
    (0 where the diff is below diff_min)."""
    mult, shift, diff_min = softmax_params(beta, input_scale)
    out = np.zeros(256, np.int64)
    for d in range(256):
        if -d >= diff_min:
            rescaled = FP.srdhm(FP.wrap32(-d << shift), mult)
            out[d] = FP.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
    return out.astype(np.int32)


def softmax_reference(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The int8 outputs of one row (pure Python, the reference's steps): what softmax.c does."""
    x = np.asarray(x, dtype=np.int64)
    e = [int(table[int(x.max() - v)]) for v in x]
    total = sum(FP.rdbpot(v, 12) for v in e)
    scale, bits = FP.get_reciprocal(total, 12)
    exponent = bits + 31 - 8
    return np.array([min(max(FP.rdbpot(FP.srdhm(scale, v), exponent) - 128, -128), 127) for v in e], np.int8)


def lower(ctx, op) -> None:
    """One softmax call (in place allowed: each output reads only its own input)."""
    x = ctx.t(ctx.act_in(op.inputs[0]))
    y = ctx.out_int8(op)
    if y.zero_point != -128 or np.float32(y.scale) != np.float32(1.0 / 256):
        raise UserError(f"SOFTMAX op {op.index} has output zero point {y.zero_point} and scale {y.scale}; TFLite "
                        "requires -128 and 1/256 for int8")
    depth = int(x.shape[-1]) if x.shape else 1
    beta = float(op.options.get("beta", 1.0))
    p = dict(outer=x.size // depth, depth=depth)
    layer = ctx.add_layer(kernel="softmax", name=f"softmax {x.size // depth}x{depth}", inputs=[x.index],
                          output=y.index, params=p, consts={"exp": exp_table(beta, x.scale)}, macs=x.size,
                          ops=[op.index])
    layer.overlap = {x.index: ("same", 0)}


def emit(l, cx):
    """``ofa_softmax(&p, in, out)``."""
    pre = f"l{l.index}"
    return unary_call(l, cx, ("outer", "depth"), {"exp": pre + "_exp"}, c_array(f"{pre}_exp", l.consts["exp"]))


KERNEL = Kernel(name="softmax", c_file="softmax.c", fields=FIELDS, ops=("SOFTMAX",), lower=lower, emit=emit,
                features=lambda l: {"elem_n": 3 * l.macs},
                prototype="void ofa_softmax(const ofa_softmax_params *p, const int8_t *in, int8_t *out)",
                doc="int8 softmax over the last dimension, exp table made offline")
