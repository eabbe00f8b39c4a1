"""DEPTHWISE_CONV_2D (multiplier 1): TFLite reference DepthwiseConvPerChannel, channel by
channel through a padded plane, so the output may overwrite the input in place."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import params_struct

DW_FIELDS = tuple(("int32_t", n) for n in ("in_h", "in_w", "c", "out_h", "out_w", "k", "stride", "pad_top",
                                          "pad_left", "plane_h", "plane_w", "pad_value", "out_offset", "act_min",
                                          "act_max")) + \
    (("const int8_t *", "weight"), ("const int32_t *", "bias"), ("const int32_t *", "mult"),
     ("const int8_t *", "shift"))
ARRAYS = ("weight", "bias", "mult", "shift")


def dw_params(ctx, op):
    """``(x, y, params, consts, op indices)`` of a DEPTHWISE_CONV_2D op."""
    wt, wdat = ctx.weights(op)
    if wdat.ndim != 4 or wdat.shape[0] != 1:
        raise UserError(f"DEPTHWISE_CONV_2D op {op.index} has weights of shape {list(wdat.shape)}; expected 1HWC")
    _, kh, kw, c = wdat.shape
    x, y, geo, ops = ctx.conv_geometry(op, kh, kw)
    if x.shape[3] != c:
        raise UserError(f"DEPTHWISE_CONV_2D op {op.index} has a depth multiplier > 1; not supported by the native "
                        "backend")
    bias, mult, shift, lo, hi = ctx.requant(op, x, y, wt, c)
    k, s = kh, geo["stride"]
    w_kkc = wdat.reshape(kh, kw, c)
    params = dict(c=c, **{n: geo[n] for n in ("in_h", "in_w", "out_h", "out_w", "k", "stride", "pad_top",
                                               "pad_left")},
                  plane_h=(geo["out_h"] - 1) * s + k, plane_w=(geo["out_w"] - 1) * s + k,
                  pad_value=x.zero_point, out_offset=y.zero_point, act_min=lo, act_max=hi)
    consts = dict(weight=w_kkc, bias=Q.fold_bias(bias, w_kkc.reshape(-1, c).T, -x.zero_point), mult=mult,
                  shift=shift)
    return x, y, params, consts, ops


def lower(ctx, op) -> None:
    """One dwconv call, in place."""
    x, y, p, consts, ops = dw_params(ctx, op)
    k, s = p["k"], p["stride"]
    layer = ctx.add_layer(kernel="dwconv", name=f"dw{k}x{k}/s{s} {p['c']}ch {p['out_h']}x{p['out_w']}",
                          inputs=[x.index], output=y.index, params=p, consts=consts,
                          macs=p["out_h"] * p["out_w"] * p["c"] * k * k, ops=ops)
    layer.scratch_bytes = p["plane_h"] * p["plane_w"]
    layer.overlap = {x.index: ("same", 0)}


def emit(l, cx):
    """``ofa_dwconv(&p, in, out, plane)``."""
    pre = f"l{l.index}"
    return params_struct(KERNEL, f"{pre}_p", l.params, l.consts, pre, ARRAYS), \
        f"ofa_dwconv(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, {cx.ptr(l.scratch)});"


def dw_features(p: dict) -> dict:
    """The depthwise role of the latency model (MACs, outputs, the padded plane it reads)."""
    return {"dw_macs": p["out_h"] * p["out_w"] * p["c"] * p["k"] ** 2, "dw_out": p["out_h"] * p["out_w"] * p["c"],
            "dw_in": p["plane_h"] * p["plane_w"] * p["c"]}


KERNEL = Kernel(name="dwconv", c_file="dwconv.c", fields=DW_FIELDS, ops=("DEPTHWISE_CONV_2D",), lower=lower,
                emit=emit, features=lambda l: dw_features(l.params), pad_folding=True,
                prototype="void ofa_dwconv(const ofa_dwconv_params *p, const int8_t *in, int8_t *out, int8_t *plane)",
                doc="depthwise conv, in place through a padded plane")
