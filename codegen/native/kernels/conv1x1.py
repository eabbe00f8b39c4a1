"""CONV_2D 1x1 without padding (expand, project, feature mix): TFLite reference
ConvPerChannel with the input offset folded into the bias."""
from __future__ import annotations

from . import Kernel
from .. import quant as Q
from ..cemit import params_struct
from .conv2d import ARRAYS, CONV_FIELDS, conv_layer_params


def accepts(ctx, op) -> bool:
    """A 1x1 kernel with no padding (a folded PAD rules it out)."""
    w = ctx.const(op.inputs[1])
    if w is None or w.ndim != 4 or w.shape[1:3] != (1, 1):
        return False
    return ctx.resolve(op.inputs[0]) not in ctx.pads


def lower(ctx, op) -> None:
    """One conv1x1 call; at stride 1 it may stream over its input (pixel by pixel)."""
    x, y, wdat, p, bias, mult, shift, ops = conv_layer_params(ctx, op)
    ic, oc = p["in_c"], p["out_c"]
    consts = dict(weight=wdat.reshape(oc, ic), bias=Q.fold_bias(bias, wdat, p["in_offset"]), mult=mult, shift=shift)
    layer = ctx.add_layer(kernel="conv1x1", name=f"conv1x1 {ic}->{oc} {p['out_h']}x{p['out_w']}",
                          inputs=[x.index], output=y.index, params=p, consts=consts,
                          macs=p["out_h"] * p["out_w"] * oc * ic, ops=ops)
    layer.scratch_bytes = ic
    if p["stride"] == 1:
        hw = p["out_h"] * p["out_w"]
        layer.overlap = {x.index: ("stream", hw * (oc - ic) if oc > ic else oc - ic)}


def emit(l, cx):
    """``ofa_conv1x1(&p, in, out, pixbuf or NULL)`` (the pixel copy only when the plan overlaps
    output and input)."""
    pre = f"l{l.index}"
    pix = cx.ptr(l.scratch) if cx.overlaps(l) else "NULL"
    return params_struct(KERNEL, f"{pre}_p", l.params, l.consts, pre, ARRAYS), \
        f"ofa_conv1x1(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, {pix});"


def features(l) -> dict:
    """The pointwise role of the latency model."""
    p = l.params
    return {"pw_macs": l.macs, "pw_out": p["out_h"] * p["out_w"] * p["out_c"], "pw_pix": p["out_h"] * p["out_w"]}


KERNEL = Kernel(name="conv1x1", c_file="conv1x1.c", fields=CONV_FIELDS, ops=("CONV_2D",), accepts=accepts,
                lower=lower, emit=emit, features=features, priority=10,
                prototype="void ofa_conv1x1(const ofa_conv1x1_params *p, const int8_t *in, int8_t *out, "
                          "int8_t *pixbuf);\n"
                          "void ofa_pw_pixel(const ofa_conv1x1_params *p, const int8_t *x, int8_t *o)",
                doc="1x1 conv, input offset in the bias")
