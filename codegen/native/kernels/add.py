"""ADD (int8; the second input elementwise, a scalar or one value per channel): TFLite
reference AddFunc with PrepareInt8AddSub's parameters. Each input's rescaling
(``MultiplyByQuantizedMultiplierSmallerThanOneExp((x + offset) << 20, ...)``) depends on its
int8 value alone, so it is a 256-entry table computed offline with the reference arithmetic;
the kernel adds two table entries and requantizes the sum (``ofa_rq_out``)."""
from __future__ import annotations

import numpy as np

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..cemit import c_array, init
from ..lowering import fused_activation
from .mm import rq_array

FIELDS = (("int32_t", "n"), ("int32_t", "n_b"), ("int32_t", "mode"), ("int32_t", "act_min"), ("int32_t", "act_max"),
          ("const int32_t *", "t1"), ("const int32_t *", "t2"), ("const ofa_rq *", "rq"))
SCALARS = ("n", "n_b", "mode", "act_min", "act_max")
INT8_VALUES = np.arange(-128, 128)


def add_tables(s1: float, z1: int, s2: float, z2: int, so: float, zo: int, act: int) -> tuple[dict, dict]:
    """``(params, consts)``: the two inputs' rescaling tables and the output requantization."""
    p = Q.add_params(s1, z1, s2, z2, so, zo, act)
    t1 = Q.multiply_by_quantized_multiplier((INT8_VALUES + p["in1_offset"]) << p["left_shift"], p["in1_mult"],
                                            p["in1_shift"])
    t2 = Q.multiply_by_quantized_multiplier((INT8_VALUES + p["in2_offset"]) << p["left_shift"], p["in2_mult"],
                                            p["in2_shift"])
    rq, mode = Q.requant_table(np.zeros(1, np.int64), [p["out_mult"]], [p["out_shift"]], p["out_offset"],
                               [int(t1.min() + t2.min())], [int(t1.max() + t2.max())], p["act_min"], p["act_max"])
    return (dict(mode=mode, act_min=p["act_min"], act_max=p["act_max"]),
            {"t1": t1.astype(np.int32), "t2": t2.astype(np.int32), "rq": rq})


def broadcast_size(op, a, b, y) -> int:
    """How input 2 broadcasts over input 1 (elementwise, scalar or per channel: its size)."""
    n, chans = a.size, (a.shape[-1] if a.shape else 1)
    if y.size != n or b.size not in (1, n, chans) or (b.size == chans and b.size not in (1, n)
                                                        and (not b.shape or b.shape[-1] != chans)):
        raise UserError(f"{op.opcode} op {op.index} broadcasts {list(a.shape)} with {list(b.shape)}; the native "
                        "backend takes the second input elementwise, as a scalar or one value per channel")
    return b.size


def binary_operands(ctx, op) -> tuple:
    """``(a, b, constant b or None, y, n_b)`` of an elementwise ADD or MUL: ``a`` the larger
    operand, ``b`` broadcast over it every ``n_b`` elements."""
    a, b, cb = ctx.binary(op)
    if b.size > a.size:
        if cb is not None:
            raise UserError(f"{op.opcode} op {op.index} broadcasts an activation over a constant; not supported by "
                            "the native backend")
        a, b = b, a
    y = ctx.out_int8(op)
    return a, b, cb, y, broadcast_size(op, a, b, y)


def lower(ctx, op) -> None:
    """One add call; out may overwrite either input."""
    a, b, cb, y, n_b = binary_operands(ctx, op)
    # AddFunc rescales each input on its own (the sum commutes): a's table is t1, b's t2
    p, consts = add_tables(a.scale, a.zero_point, b.scale, b.zero_point, y.scale, y.zero_point, fused_activation(op))
    p.update(n=a.size, n_b=n_b)
    if cb is not None:
        consts["b"] = cb.reshape(-1)
    layer = ctx.add_layer(kernel="add", name=f"add {a.size}" + ("" if n_b == a.size else f"x{n_b}"),
                          inputs=[a.index] + ([] if cb is not None else [b.index]), output=y.index, params=p,
                          consts=consts, macs=a.size, ops=[op.index])
    layer.overlap = {a.index: ("stream", 0)}
    if cb is None and n_b == a.size:
        layer.overlap[b.index] = ("stream", 0)


def add_init(p: dict, prefix: str) -> str:
    """The ``ofa_add_params`` initializer (tables ``prefix_t1``/``_t2``, record ``prefix_rq``)."""
    return init(p, SCALARS, {"t1": f"{prefix}_t1 + 128", "t2": f"{prefix}_t2 + 128", "rq": f"{prefix}_rq"})


def add_arrays(consts: dict, prefix: str) -> str:
    """The tables and the requantization record."""
    return c_array(f"{prefix}_t1", consts["t1"]) + c_array(f"{prefix}_t2", consts["t2"]) + \
        rq_array(f"{prefix}_rq", consts["rq"])


def binary_call(name: str, l, cx, pre: str) -> tuple[str, str]:
    """``(b's const array or '', the call ofa_<name>(&p, a, b, out))``."""
    if "b" in l.consts:
        return c_array(f"{pre}_b", l.consts["b"]), \
            f"ofa_{name}(&{pre}_p, {cx.ptr(l.inputs[0])}, {pre}_b, {cx.ptr(l.output)});"
    return "", f"ofa_{name}(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.inputs[1])}, {cx.ptr(l.output)});"


def emit(l, cx):
    """``ofa_add(&p, a, b, out)``."""
    pre = f"l{l.index}"
    b_decl, call = binary_call("add", l, cx, pre)
    return add_arrays(l.consts, pre) + b_decl + f"static const ofa_add_params {pre}_p = {add_init(l.params, pre)};\n", call


KERNEL = Kernel(name="add", c_file="add.c", fields=FIELDS, ops=("ADD",), lower=lower, emit=emit,
                features=lambda l: {"add_n": l.params["n"]},
                prototype="void ofa_add(const ofa_add_params *p, const int8_t *a, const int8_t *b, int8_t *out)",
                doc="add: two table lookups and one requantization per element")
