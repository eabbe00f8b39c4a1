"""CONV_2D, k x k, any stride and padding (the stem, and any conv the 1x1 kernel does not take):
TFLite reference ConvPerChannel with the padding inside the kernel."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import params_struct
from ..lowering import stream_distance

CONV_FIELDS = (("int32_t", "in_h"), ("int32_t", "in_w"), ("int32_t", "in_c"), ("int32_t", "out_h"),
               ("int32_t", "out_w"), ("int32_t", "out_c"), ("int32_t", "k"), ("int32_t", "stride"),
               ("int32_t", "pad_top"), ("int32_t", "pad_left"), ("int32_t", "in_offset"), ("int32_t", "out_offset"),
               ("int32_t", "act_min"), ("int32_t", "act_max"), ("const int8_t *", "weight"),
               ("const int32_t *", "bias"), ("const int32_t *", "mult"), ("const int8_t *", "shift"))
ARRAYS = ("weight", "bias", "mult", "shift")


def conv_layer_params(ctx, op):
    """``(x, y, weights OHWI, params, bias, mult, shift)`` of a CONV_2D op."""
    wt, wdat = ctx.weights(op)
    if wdat.ndim != 4:
        raise UserError(f"CONV_2D op {op.index} has {wdat.ndim}-D weights; expected OHWI")
    oc, kh, kw, ic = wdat.shape
    x, y, geo, ops = ctx.conv_geometry(op, kh, kw)
    if x.shape[3] != ic:
        raise UserError(f"CONV_2D op {op.index} is a grouped conv; not supported by the native backend")
    bias, mult, shift, lo, hi = ctx.requant(op, x, y, wt, oc)
    params = dict(in_c=ic, out_c=oc, **geo, in_offset=-x.zero_point, out_offset=y.zero_point, act_min=lo, act_max=hi)
    return x, y, wdat, params, bias, mult, shift, ops


def lower(ctx, op) -> None:
    """One conv2d call; its output rows may overwrite input rows no longer needed."""
    x, y, wdat, p, bias, mult, shift, ops = conv_layer_params(ctx, op)
    k = p["k"]
    layer = ctx.add_layer(kernel="conv2d", name=f"conv{k}x{k}/s{p['stride']} {p['in_c']}->{p['out_c']}",
                          inputs=[x.index], output=y.index, params=p,
                          consts=dict(weight=wdat, bias=bias, mult=mult, shift=shift),
                          macs=p["out_h"] * p["out_w"] * p["out_c"] * k * k * p["in_c"], ops=ops)
    d = stream_distance(p["out_h"], p["out_w"] * p["out_c"], p["in_w"] * p["in_c"], p["in_h"],
                        lambda r: r * p["stride"] - p["pad_top"])
    layer.overlap = {x.index: ("stream", d)}


def emit(l, cx):
    """``ofa_conv2d(&p, in, out)``."""
    pre = f"l{l.index}"
    return params_struct(KERNEL, f"{pre}_p", l.params, l.consts, pre, ARRAYS), \
        f"ofa_conv2d(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


def features(l) -> dict:
    """MACs and outputs (the stem role of the latency model)."""
    p = l.params
    return {"stem_macs": l.macs, "stem_out": p["out_h"] * p["out_w"] * p["out_c"]}


KERNEL = Kernel(name="conv2d", c_file="conv2d.c", fields=CONV_FIELDS, ops=("CONV_2D",), lower=lower, emit=emit,
                features=features, pad_folding=True,
                prototype="void ofa_conv2d(const ofa_conv2d_params *p, const int8_t *in, int8_t *out)",
                doc="k x k conv, padding inside")
