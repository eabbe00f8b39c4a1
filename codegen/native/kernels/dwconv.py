"""DEPTHWISE_CONV_2D (multiplier 1): TFLite reference DepthwiseConvPerChannel, channel by
channel through a padded int8 plane (so the output may overwrite the input in place), each
output row by the row engine (``dwrow.h``)."""
from __future__ import annotations

import numpy as np

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import c_array, init
from .dwrow import pack_dw_weights, variants_config
from .mm import rq_array

FIELDS = tuple(("int32_t", n) for n in ("in_h", "in_w", "c", "out_h", "out_w", "k", "stride", "pad_top",
                                       "pad_left", "plane_h", "plane_w", "pad_value", "mode", "act_min", "act_max")) \
    + (("const uint32_t *", "weight"), ("const ofa_rq *", "rq"))
SCALARS = tuple(n for t, n in FIELDS if t == "int32_t")
PLANE_SLACK = 4  # the row engine may read up to three bytes past a row's last window


def dw_params(ctx, op, peek: bool = False, fold_offset: bool = True):
    """``(x, y, params, consts, op indices)`` of a DEPTHWISE_CONV_2D op (``consts``: the packed
    plane-kernel weights, the requantization records and the raw ``w_kkc``). ``peek``: leave a
    pending PAD in place (for a kernel deciding whether it takes the op). ``fold_offset``: the
    start values hold ``input_offset * sum(weights)`` (for kernels that read the padding)."""
    if peek:
        saved = dict(ctx.pads)
        try:
            return dw_params(ctx, op)
        finally:
            ctx.pads.clear()
            ctx.pads.update(saved)
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
    rows = w_kkc.reshape(-1, c).T
    init = Q.fold_bias(bias, rows, -x.zero_point) if fold_offset else bias
    rq, mode = Q.requant_table(init, mult, shift, y.zero_point, *Q.accumulator_range(bias, rows), lo, hi)
    params = dict(c=c, **{n: geo[n] for n in ("in_h", "in_w", "out_h", "out_w", "k", "stride", "pad_top",
                                               "pad_left")},
                  plane_h=(geo["out_h"] - 1) * s + k, plane_w=(geo["out_w"] - 1) * s + k,
                  pad_value=x.zero_point, mode=mode, act_min=lo, act_max=hi)
    return x, y, params, {"weight": pack_dw_weights(w_kkc), "rq": rq, "w_kkc": w_kkc}, ops


def plane_cost(p: dict) -> float:
    """Estimated instructions of the plane kernel on a layer (per plane byte, per output row,
    per output and filter row; fitted on QEMU counts of the default model's layers)."""
    c = p["c"]
    return c * (14.7 * p["plane_h"] * p["plane_w"] + 43.8 * p["out_h"]) + 8.1 * p["out_h"] * p["out_w"] * c * p["k"]


def lower(ctx, op) -> None:
    """One dwconv call, in place."""
    x, y, p, consts, ops = dw_params(ctx, op)
    consts.pop("w_kkc")
    k, s = p["k"], p["stride"]
    layer = ctx.add_layer(kernel="dwconv", name=f"dw{k}x{k}/s{s} {p['c']}ch {p['out_h']}x{p['out_w']}",
                          inputs=[x.index], output=y.index, params=p, consts=consts,
                          macs=p["out_h"] * p["out_w"] * p["c"] * k * k, ops=ops)
    layer.scratch_bytes = p["plane_h"] * p["plane_w"] + PLANE_SLACK
    layer.overlap = {x.index: ("same", 0)}


def dw_arrays(consts: dict, prefix: str) -> str:
    """The packed weights and requantization records of a depthwise layer."""
    return c_array(f"{prefix}_weight", np.asarray(consts["weight"], np.uint32)) + rq_array(f"{prefix}_rq", consts["rq"])


def dw_init(p: dict, prefix: str) -> str:
    """The ``ofa_dwconv_params`` initializer (arrays ``prefix_weight``/``prefix_rq``)."""
    return init(p, SCALARS, {"weight": prefix + "_weight", "rq": prefix + "_rq"})


def emit(l, cx):
    """``ofa_dwconv(&p, in, out, plane)``."""
    pre = f"l{l.index}"
    return dw_arrays(l.consts, pre) + f"static const ofa_dwconv_params {pre}_p = {dw_init(l.params, pre)};\n", \
        f"ofa_dwconv(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, {cx.ptr(l.scratch)});"


def dw_features(p: dict) -> dict:
    """The depthwise role of the latency model (MACs, outputs, the padded plane it reads)."""
    return {"dw_macs": p["out_h"] * p["out_w"] * p["c"] * p["k"] ** 2, "dw_out": p["out_h"] * p["out_w"] * p["c"],
            "dw_in": p["plane_h"] * p["plane_w"] * p["c"]}


KERNEL = Kernel(name="dwconv", c_file="dwconv.c", fields=FIELDS, ops=("DEPTHWISE_CONV_2D",), lower=lower,
                emit=emit, features=lambda l: dw_features(l.params), pad_folding=True, depends=("dwrow",),
                config=lambda layers: variants_config("OFA_DWCONV_VARIANTS", layers,
                                                      lambda l: (l.params["k"], l.params["stride"], l.params["mode"])),
                prototype="void ofa_dwconv(const ofa_dwconv_params *p, const int8_t *in, int8_t *out, int8_t *plane)",
                doc="depthwise conv, in place through a padded plane")
