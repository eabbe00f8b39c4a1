"""CONV_2D 1x1 without padding (expand, project, feature mix; any stride): two pixels at a
time, each sign-extended once into int16 columns, then the matrix core (TFLite reference
ConvPerChannel, the input offset folded into the start values)."""
from __future__ import annotations

from . import Kernel
from ..cemit import init
from ..lowering import stream_distance
from .conv2d import conv_layer_params
from .mm import groups, mm_arrays, mm_init, mm_layer

FIELDS = tuple(("int32_t", n) for n in ("in_w", "in_c", "out_h", "out_w", "stride")) + (("ofa_mm_params", "mm"),)
SCALARS = ("in_w", "in_c", "out_h", "out_w", "stride")


def accepts(ctx, op) -> bool:
    """A 1x1 kernel with no padding (a folded PAD rules it out)."""
    w = ctx.const(op.inputs[1])
    if w is None or w.ndim != 4 or w.shape[1:3] != (1, 1):
        return False
    if int(op.options.get("strideH", 1)) != int(op.options.get("strideW", 1)):
        return False
    return ctx.resolve(op.inputs[0]) not in ctx.pads


def lower(ctx, op) -> None:
    """One conv1x1 call; it may stream over its input (pixel pairs in order)."""
    x, y, wdat, p, bias, mult, shift, ops = conv_layer_params(ctx, op)
    ic, oc = p["in_c"], p["out_c"]
    mm, consts = mm_layer(wdat.reshape(oc, ic), bias, mult, shift, p["in_offset"], p["out_offset"], p["act_min"],
                          p["act_max"])
    layer = ctx.add_layer(kernel="conv1x1", name=f"conv1x1 {ic}->{oc} {p['out_h']}x{p['out_w']}",
                          inputs=[x.index], output=y.index, params={**{k: p[k] for k in SCALARS}, "mm": mm},
                          consts=consts, macs=p["out_h"] * p["out_w"] * oc * ic, ops=ops)
    layer.scratch_bytes = 16 * groups(ic)  # two pixels' columns
    if p["stride"] == 1:
        hw = p["out_h"] * p["out_w"]
        layer.overlap = {x.index: ("stream", hw * (oc - ic) if oc > ic else oc - ic)}
    else:  # output row r is written after the input rows before r * stride are read
        layer.overlap = {x.index: ("stream", stream_distance(p["out_h"], p["out_w"] * oc, p["in_w"] * ic, p["in_h"],
                                                             lambda r: r * p["stride"]))}


def emit(l, cx):
    """``ofa_conv1x1(&p, in, out, columns)``."""
    pre = f"l{l.index}"
    decl = mm_arrays(l.consts, pre)
    decl += f"static const ofa_conv1x1_params {pre}_p = {init(l.params, SCALARS, {'mm': mm_init(l.params['mm'], pre)})};\n"
    return decl, f"ofa_conv1x1(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, (uint32_t *)({cx.ptr(l.scratch)}));"


def features(l) -> dict:
    """The pointwise role of the latency model."""
    p = l.params
    return {"pw_macs": l.macs, "pw_out": p["out_h"] * p["out_w"] * p["mm"]["out_c"], "pw_pix": p["out_h"] * p["out_w"]}


KERNEL = Kernel(name="conv1x1", c_file="conv1x1.c", fields=FIELDS, ops=("CONV_2D",), accepts=accepts,
                lower=lower, emit=emit, features=features, priority=10, depends=("mm",),
                prototype="void ofa_conv1x1(const ofa_conv1x1_params *p, const int8_t *in, int8_t *out, "
                          "uint32_t *cols)",
                doc="1x1 conv, two pixels at a time through the matrix core")
