"""FULLY_CONNECTED (batch 1): TFLite reference FullyConnected with per-output multipliers (a
per-tensor model repeats its one value) and the input offset folded into the bias."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import params_struct

FC_FIELDS = (("int32_t", "in_n"), ("int32_t", "out_n"), ("int32_t", "out_offset"), ("int32_t", "act_min"),
             ("int32_t", "act_max"), ("const int8_t *", "weight"), ("const int32_t *", "bias"),
             ("const int32_t *", "mult"), ("const int8_t *", "shift"))
ARRAYS = ("weight", "bias", "mult", "shift")


def fc_from_arrays(wdat, bias, mult, shift, in_zp: int, out_zp: int, lo: int, hi: int):
    """``(params, consts)`` of an FC on weights ``(out, in)``."""
    on, inn = wdat.shape
    return (dict(in_n=inn, out_n=on, out_offset=out_zp, act_min=lo, act_max=hi),
            dict(weight=wdat, bias=Q.fold_bias(bias, wdat, -in_zp), mult=mult, shift=shift))


def lower(ctx, op) -> None:
    """One fc call."""
    x = ctx.t(ctx.act_in(op.inputs[0]))
    wt, wdat = ctx.weights(op)
    if wdat.ndim != 2:
        raise UserError(f"FULLY_CONNECTED op {op.index} has {wdat.ndim}-D weights; not supported")
    on, inn = wdat.shape
    if x.size != inn:
        raise UserError(f"FULLY_CONNECTED op {op.index} has batch {x.size // max(inn, 1)}; the native backend runs "
                        "batch 1")
    y = ctx.out_int8(op)
    bias, mult, shift, lo, hi = ctx.requant(op, x, y, wt, on)
    p, consts = fc_from_arrays(wdat, bias, mult, shift, x.zero_point, y.zero_point, lo, hi)
    ctx.add_layer(kernel="fc", name=f"fc {inn}->{on}", inputs=[x.index], output=y.index, params=p, consts=consts,
                  macs=on * inn, ops=[op.index])


def init(p: dict, prefix: str) -> str:
    """The initializer of an ``ofa_fc_params`` whose arrays are named ``prefix_*``."""
    from ..cemit import init as _init, scalar_fields

    return _init(p, scalar_fields(KERNEL), {n: f"{prefix}_{n}" for n in ARRAYS})


def emit(l, cx):
    """``ofa_fc(&p, in, out)``."""
    pre = f"l{l.index}"
    return params_struct(KERNEL, f"{pre}_p", l.params, l.consts, pre, ARRAYS), \
        f"ofa_fc(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


KERNEL = Kernel(name="fc", c_file="fc.c", fields=FC_FIELDS, ops=("FULLY_CONNECTED",), lower=lower, emit=emit,
                features=lambda l: {"fc_macs": l.macs, "fc_out": l.params["out_n"]},
                prototype="void ofa_fc(const ofa_fc_params *p, const int8_t *in, int8_t *out)",
                doc="fully connected, input offset in the bias")
