"""DEPTHWISE_CONV_2D (multiplier 1) straight on NHWC, four channels at a time, visiting only
the taps inside the input: TFLite reference DepthwiseConvPerChannel. The code generator takes
it instead of the plane kernel (``dwconv``) where it costs fewer instructions (small maps,
where a plane per channel costs more than the taps); it does not run in place, its output
streams over its input row by row."""
from __future__ import annotations

import numpy as np

from . import Kernel
from ..cemit import c_array, init
from ..lowering import stream_distance
from .dwconv import dw_features, dw_params
from .mm import rq_array

FIELDS = tuple(("int32_t", n) for n in ("in_h", "in_w", "c", "out_h", "out_w", "k", "stride", "pad_top",
                                       "pad_left", "in_offset2", "mode", "act_min", "act_max")) \
    + (("const uint32_t *", "weight"), ("const ofa_rq *", "rq"))
SCALARS = tuple(n for t, n in FIELDS if t == "int32_t")


def pack_nhwc_weights(w_kkc: np.ndarray) -> np.ndarray:
    """``(k, k, C)`` int8 -> uint32 words: per tap, per group of four channels c..c+3, the
    int16 pairs ``(w_c, w_c+2)`` and ``(w_c+1, w_c+3)`` (zero past the last channel)."""
    w = np.asarray(w_kkc, dtype=np.int64)
    k, _, c = w.shape
    g = (c + 3) // 4
    t = np.zeros((k, k, 4 * g), np.int64)
    t[:, :, :c] = w
    t = t.reshape(k, k, g, 4)
    even = (t[..., 0] & 0xFFFF) | ((t[..., 2] & 0xFFFF) << 16)
    odd = (t[..., 1] & 0xFFFF) | ((t[..., 3] & 0xFFFF) << 16)
    return np.stack([even, odd], axis=-1).reshape(-1).astype(np.uint32)


def nhwc_cost(p: dict) -> float:
    """Estimated instructions of this kernel on a layer (per real tap and channel, per output;
    fitted on QEMU counts of the default model's layers)."""
    return 3.5 * _valid_taps(p) * p["c"] + 27.5 * p["out_h"] * p["out_w"] * p["c"]


def _valid_taps(p: dict) -> int:
    def axis(n_out, n_in, pad):
        return sum(min(p["k"], n_in - (o * p["stride"] - pad)) - max(0, pad - o * p["stride"]) for o in range(n_out))
    return axis(p["out_h"], p["in_h"], p["pad_top"]) * axis(p["out_w"], p["in_w"], p["pad_left"])


def accepts(ctx, op) -> bool:
    """When the option ``depthwise`` is "nhwc", or "auto" and it is estimated cheaper than the
    plane kernel (not when every expand+depthwise pair is to be fused)."""
    choice = ctx.options.get("depthwise", "auto")
    if choice != "auto":
        return choice == "nhwc"
    if ctx.options.get("fuse") == "always":  # the fused MBConv front is built on the plane kernel
        return False
    from .dwconv import plane_cost

    _, _, p, _, _ = dw_params(ctx, op, peek=True)
    return nhwc_cost(p) < plane_cost(p)


def lower(ctx, op) -> None:
    """One dwnhwc call, streaming over its input."""
    x, y, p, consts, ops = dw_params(ctx, op, fold_offset=False)
    consts = {"weight": pack_nhwc_weights(consts["w_kkc"]),
              "rq": np.concatenate([consts["rq"], np.zeros(((-p["c"]) % 4, 4), np.int32)])}
    off = -int(x.zero_point)  # padding taps are skipped, so the input offset is added per tap
    params = {n: p[n] for n in SCALARS if n in p} | {"in_offset2": int(np.int32(np.uint32((off & 0xFFFF) | ((off & 0xFFFF) << 16))))}
    k, s, c = p["k"], p["stride"], p["c"]
    layer = ctx.add_layer(kernel="dwnhwc", name=f"dw{k}x{k}/s{s} {c}ch {p['out_h']}x{p['out_w']} nhwc",
                          inputs=[x.index], output=y.index, params=params | {"plane_h": p["plane_h"],
                                                                               "plane_w": p["plane_w"]},
                          consts=consts, macs=p["out_h"] * p["out_w"] * c * k * k, ops=ops)
    d = stream_distance(p["out_h"], p["out_w"] * c, p["in_w"] * c, p["in_h"], lambda r: r * s - p["pad_top"])
    layer.overlap = {x.index: ("stream", d)}


def emit(l, cx):
    """``ofa_dwnhwc(&p, in, out)``."""
    pre = f"l{l.index}"
    decl = c_array(f"{pre}_weight", l.consts["weight"]) + rq_array(f"{pre}_rq", l.consts["rq"])
    decl += f"static const ofa_dwnhwc_params {pre}_p = " \
            f"{init(l.params, SCALARS, {'weight': pre + '_weight', 'rq': pre + '_rq'})};\n"
    return decl, f"ofa_dwnhwc(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


KERNEL = Kernel(name="dwnhwc", c_file="dwnhwc.c", fields=FIELDS, ops=("DEPTHWISE_CONV_2D",), accepts=accepts,
                lower=lower, emit=emit, features=lambda l: dw_features(l.params), pad_folding=True, priority=10,
                prototype="void ofa_dwnhwc(const ofa_dwnhwc_params *p, const int8_t *in, int8_t *out)",
                doc="depthwise conv on NHWC, four channels at a time, real taps only")
