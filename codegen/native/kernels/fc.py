"""FULLY_CONNECTED (batch 1): the input vector sign-extended once into columns, then the
matrix core (TFLite reference FullyConnected, per-output multipliers: a per-tensor model
repeats its one value; the input offset folded into the start values)."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from ..cemit import init
from .mm import groups, mm_arrays, mm_init, mm_layer

FIELDS = (("int32_t", "in_n"), ("ofa_mm_params", "mm"))


def fc_from_arrays(wdat, bias, mult, shift, in_zp: int, out_zp: int, lo: int, hi: int):
    """``(params, consts, scratch bytes)`` of an FC on weights ``(out, in)``."""
    mm, consts = mm_layer(wdat, bias, mult, shift, -in_zp, out_zp, lo, hi)
    return {"in_n": int(wdat.shape[1]), "mm": mm}, consts, 8 * groups(wdat.shape[1])


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
    p, consts, scratch = fc_from_arrays(wdat, bias, mult, shift, x.zero_point, y.zero_point, lo, hi)
    layer = ctx.add_layer(kernel="fc", name=f"fc {inn}->{on}", inputs=[x.index], output=y.index, params=p,
                          consts=consts, macs=on * inn, ops=[op.index])
    layer.scratch_bytes = scratch


def fc_init(p: dict, prefix: str) -> str:
    """The initializer of an ``ofa_fc_params`` whose arrays are named ``prefix_*``."""
    return init(p, ("in_n",), {"mm": mm_init(p["mm"], prefix)})


def emit(l, cx):
    """``ofa_fc(&p, in, out, columns)``."""
    pre = f"l{l.index}"
    decl = mm_arrays(l.consts, pre) + f"static const ofa_fc_params {pre}_p = {fc_init(l.params, pre)};\n"
    return decl, f"ofa_fc(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)}, (uint32_t *)({cx.ptr(l.scratch)}));"


KERNEL = Kernel(name="fc", c_file="fc.c", fields=FIELDS, ops=("FULLY_CONNECTED",), lower=lower, emit=emit,
                features=lambda l: {"fc_macs": l.macs, "fc_out": l.params["mm"]["out_c"]}, depends=("mm",),
                prototype="void ofa_fc(const ofa_fc_params *p, const int8_t *in, int8_t *out, uint32_t *cols)",
                doc="fully connected through the matrix core")
