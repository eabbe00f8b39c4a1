"""ADD (int8, elementwise or with a scalar): TFLite reference AddElementwise / the scalar
broadcast, with PrepareInt8AddSub's parameters (left shift 20)."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import c_array, init, scalar_fields
from ..lowering import fused_activation

ADD_FIELDS = tuple(("int32_t", n) for n in ("n", "n_b", "in1_offset", "in2_offset", "out_offset", "in1_mult",
                                           "in2_mult", "out_mult", "in1_shift", "in2_shift", "out_shift",
                                           "left_shift", "act_min", "act_max"))


def lower(ctx, op) -> None:
    """One add call; out may overwrite either input."""
    a, b, cb = ctx.binary(op)
    y = ctx.out_int8(op)
    n = a.size
    if b.size not in (1, n) or y.size != n:
        raise UserError(f"ADD op {op.index} broadcasts {list(a.shape)} with {list(b.shape)}; only elementwise or "
                        "scalar adds are supported by the native backend")
    p = Q.add_params(a.scale, a.zero_point, b.scale, b.zero_point, y.scale, y.zero_point, fused_activation(op))
    p.update(n=n, n_b=b.size)
    consts = {} if cb is None else {"b": cb.reshape(-1)}
    layer = ctx.add_layer(kernel="add", name=f"add {n}", inputs=[a.index] + ([] if cb is not None else [b.index]),
                          output=y.index, params=p, consts=consts, macs=n, ops=[op.index])
    layer.overlap = {a.index: ("stream", 0)}
    if cb is None and b.size == n:
        layer.overlap[b.index] = ("stream", 0)


def binary_emit(kernel, l, cx):
    """``ofa_<kernel>(&p, a, b, out)`` with ``b`` a const array or a buffer."""
    pre = f"l{l.index}"
    decl = ""
    if "b" in l.consts:
        decl += c_array(f"{pre}_b", l.consts["b"])
        b = f"{pre}_b"
    else:
        b = cx.ptr(l.inputs[1])
    decl += f"static const ofa_{kernel.name}_params {pre}_p = {init(l.params, scalar_fields(kernel))};\n"
    return decl, f"ofa_{kernel.name}(&{pre}_p, {cx.ptr(l.inputs[0])}, {b}, {cx.ptr(l.output)});"


KERNEL = Kernel(name="add", c_file="add.c", fields=ADD_FIELDS, ops=("ADD",), lower=lower,
                emit=lambda l, cx: binary_emit(KERNEL, l, cx), features=lambda l: {"add_n": l.params["n"]},
                prototype="void ofa_add(const ofa_add_params *p, const int8_t *a, const int8_t *b, int8_t *out)",
                doc="elementwise or scalar add")
