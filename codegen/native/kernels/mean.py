"""MEAN over H and W of an NHWC tensor (keep_dims or not): TFLite reference
QuantizedMeanOrSum (int32 sum, zero point removed, one requantization)."""
from __future__ import annotations

import numpy as np

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import scalar_fields, unary_call
from ..lowering import nhwc

MEAN_FIELDS = tuple(("int32_t", n) for n in ("hw", "c", "in_zp", "out_zp", "mult", "shift"))


def lower(ctx, op) -> None:
    """One mean call."""
    x = ctx.t(ctx.act_in(op.inputs[0]))
    h, w, c = nhwc(x)
    axes = ctx.const(op.inputs[1])
    if axes is None or sorted(int(v) % 4 for v in np.asarray(axes).reshape(-1)) != [1, 2]:
        raise UserError(f"MEAN op {op.index} reduces axes {None if axes is None else np.asarray(axes).tolist()}; the "
                        "native backend takes the spatial mean (axes 1, 2)")
    y = ctx.out_int8(op)
    p = Q.mean_params(x.scale, x.zero_point, y.scale, y.zero_point, h * w)
    p.update(hw=h * w, c=c)
    ctx.add_layer(kernel="mean", name=f"mean {h}x{w}x{c}", inputs=[x.index], output=y.index, params=p,
                  macs=h * w * c, ops=[op.index])


def emit(l, cx):
    """``ofa_mean(&p, in, out)``."""
    return unary_call(l, cx, scalar_fields(KERNEL))


KERNEL = Kernel(name="mean", c_file="mean.c", fields=MEAN_FIELDS, ops=("MEAN",), lower=lower, emit=emit,
                features=lambda l: {"mean_n": l.macs},
                prototype="void ofa_mean(const ofa_mean_params *p, const int8_t *in, int8_t *out)",
                doc="spatial mean")
