"""CONV_2D, k x k, any stride and padding (the stem, and any conv the 1x1 kernel does not
take): im2col of two output pixels at a time (padding taps read the input zero point, which
the folded input offset cancels), then the matrix core (TFLite reference ConvPerChannel)."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from ..cemit import init
from ..lowering import stream_distance
from .mm import groups, mm_arrays, mm_init, mm_layer

FIELDS = tuple(("int32_t", n) for n in ("in_h", "in_w", "in_c", "out_h", "out_w", "kh", "kw", "sh", "sw", "pad_top",
                                       "pad_left", "pad_value", "patch")) + (("ofa_mm_params", "mm"),)
SCALARS = tuple(n for t, n in FIELDS if t == "int32_t")


def conv_layer_params(ctx, op):
    """``(x, y, weights OHWI, params, bias, mult, shift, op indices)`` of a CONV_2D op."""
    wt, wdat = ctx.weights(op)
    if wdat.ndim != 4:
        raise UserError(f"CONV_2D op {op.index} has {wdat.ndim}-D weights; expected OHWI")
    oc, kh, kw, ic = wdat.shape
    x, y, geo, ops = ctx.conv_geometry(op, kh, kw, square=False)
    if x.shape[3] != ic:
        raise UserError(f"CONV_2D op {op.index} is a grouped conv; not supported by the native backend")
    bias, mult, shift, lo, hi = ctx.requant(op, x, y, wt, oc)
    params = dict(in_c=ic, out_c=oc, **geo, in_offset=-x.zero_point, out_offset=y.zero_point, act_min=lo, act_max=hi)
    return x, y, wdat, params, bias, mult, shift, ops


def scratch_layout(kh: int, kw: int, ic: int) -> tuple[int, int]:
    """``(patch bytes rounded to words, scratch bytes)``: two pixels' columns, then their
    two int8 patches."""
    patch = (kh * kw * ic + 3) // 4 * 4
    return patch, 16 * groups(kh * kw * ic) + 2 * patch


def lower(ctx, op) -> None:
    """One conv2d call; its output rows may overwrite input rows no longer needed."""
    x, y, wdat, p, bias, mult, shift, ops = conv_layer_params(ctx, op)
    kh, kw, ic, oc = p["kh"], p["kw"], p["in_c"], p["out_c"]
    mm, consts = mm_layer(wdat.reshape(oc, -1), bias, mult, shift, p["in_offset"], p["out_offset"], p["act_min"],
                          p["act_max"])
    patch, scratch = scratch_layout(kh, kw, ic)
    params = {**{n: p[n] for n in SCALARS if n in p}, "pad_value": -p["in_offset"], "patch": patch, "mm": mm}
    stride = f"{p['sh']}" if p["sh"] == p["sw"] else f"{p['sh']}x{p['sw']}"
    layer = ctx.add_layer(kernel="conv2d", name=f"conv{kh}x{kw}/s{stride} {ic}->{oc}", inputs=[x.index],
                          output=y.index, params=params, consts=consts,
                          macs=p["out_h"] * p["out_w"] * oc * kh * kw * ic, ops=ops)
    layer.scratch_bytes = scratch
    d = stream_distance(p["out_h"], p["out_w"] * oc, p["in_w"] * ic, p["in_h"], lambda r: r * p["sh"] - p["pad_top"])
    layer.overlap = {x.index: ("stream", d)}


def emit(l, cx):
    """``ofa_conv2d(&p, in, out, scratch)``."""
    pre = f"l{l.index}"
    decl = mm_arrays(l.consts, pre)
    decl += f"static const ofa_conv2d_params {pre}_p = {init(l.params, SCALARS, {'mm': mm_init(l.params['mm'], pre)})};\n"
    return decl, f"ofa_conv2d(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, (uint32_t *)({cx.ptr(l.scratch)}));"


def features(l) -> dict:
    """MACs and outputs (the stem role of the latency model)."""
    p = l.params
    return {"stem_macs": l.macs, "stem_out": p["out_h"] * p["out_w"] * p["mm"]["out_c"]}


KERNEL = Kernel(name="conv2d", c_file="conv2d.c", fields=FIELDS, ops=("CONV_2D",), lower=lower, emit=emit,
                features=features, pad_folding=True, depends=("mm",),
                prototype="void ofa_conv2d(const ofa_conv2d_params *p, const int8_t *in, int8_t *out, uint32_t *scratch)",
                doc="k x k conv: im2col of two pixels, then the matrix core")
