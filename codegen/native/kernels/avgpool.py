"""AVERAGE_POOL_2D (int8): TFLite reference AveragePool (rounded integer average over the
window's valid cells, no rescale)."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import unary_call
from ..lowering import fused_activation, nhwc, same_pad

POOL_FIELDS = tuple(("int32_t", n) for n in ("in_h", "in_w", "c", "out_h", "out_w", "filter_h", "filter_w",
                                            "stride_h", "stride_w", "pad_top", "pad_left", "act_min", "act_max"))


def pool_params(ctx, op) -> tuple:
    """``(x, y, params)`` of a pooling op (same quantization in and out)."""
    x = ctx.t(ctx.act_in(op.inputs[0]))
    y = ctx.out_int8(op)
    if x.scale != y.scale or x.zero_point != y.zero_point:
        raise UserError(f"{op.opcode} op {op.index} changes quantization; not supported by the native backend")
    h, w, c = nhwc(x)
    o = op.options
    fh, fw = int(o["filterHeight"]), int(o["filterWidth"])
    sh, sw = int(o["strideH"]), int(o["strideW"])
    if int(o.get("padding", 1)) == 0:
        oh, pt = same_pad(h, fh, sh)
        ow, pl = same_pad(w, fw, sw)
    else:
        oh, ow, pt, pl = (h - fh) // sh + 1, (w - fw) // sw + 1, 0, 0
    if nhwc(y) != (oh, ow, c):
        raise UserError(f"{op.opcode} op {op.index}: output {list(y.shape)} does not match the computed {oh}x{ow}x{c}")
    lo, hi = Q.activation_range(fused_activation(op), y.scale, y.zero_point)
    return x, y, dict(in_h=h, in_w=w, c=c, out_h=oh, out_w=ow, filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw,
                      pad_top=pt, pad_left=pl, act_min=lo, act_max=hi)


def lower_pool(ctx, op, kernel: str) -> None:
    """One ``kernel`` call (avgpool or maxpool) for a pooling op."""
    x, y, p = pool_params(ctx, op)
    ctx.add_layer(kernel=kernel, name=f"{kernel} {p['filter_h']}x{p['filter_w']} {p['c']}ch", inputs=[x.index],
                  output=y.index, params=p, macs=p["out_h"] * p["out_w"] * p["c"] * p["filter_h"] * p["filter_w"],
                  ops=[op.index])


def emit_pool(l, cx):
    """``ofa_<pool>(&p, in, out)``."""
    return unary_call(l, cx, [n for _, n in POOL_FIELDS])


def lower(ctx, op) -> None:
    """One avgpool call."""
    lower_pool(ctx, op, "avgpool")


KERNEL = Kernel(name="avgpool", c_file="avgpool.c", fields=POOL_FIELDS, ops=("AVERAGE_POOL_2D",), lower=lower,
                emit=emit_pool, features=lambda l: {"mean_n": l.macs},
                prototype="void ofa_avgpool(const ofa_avgpool_params *p, const int8_t *in, int8_t *out)",
                doc="average pool")
