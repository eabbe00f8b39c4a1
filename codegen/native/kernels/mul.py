"""MUL (int8; the second input elementwise, a scalar or one value per channel): TFLite
reference MulElementwise / BroadcastMul6DSlow: ``(x + offset1) * (y + offset2)`` requantized
with one multiplier (``ofa_rq_out``)."""
from __future__ import annotations

import numpy as np

from . import Kernel
from .. import quant as Q
from ..cemit import init
from ..lowering import fused_activation
from .add import binary_call, binary_operands
from .mm import rq_array

FIELDS = (("int32_t", "n"), ("int32_t", "n_b"), ("int32_t", "in1_offset"), ("int32_t", "in2_offset"),
          ("int32_t", "mode"), ("int32_t", "act_min"), ("int32_t", "act_max"), ("const ofa_rq *", "rq"))
SCALARS = tuple(n for t, n in FIELDS if t == "int32_t")


def mul_record(s1: float, z1: int, s2: float, z2: int, so: float, zo: int, act: int) -> tuple[dict, dict]:
    """``(params, consts)`` of an int8 multiply (its requantization record)."""
    p = Q.mul_params(s1, z1, s2, z2, so, zo, act)
    v1 = np.arange(-128, 128) + p["in1_offset"]
    v2 = np.arange(-128, 128) + p["in2_offset"]
    products = np.outer(v1, v2)
    rq, mode = Q.requant_table(np.zeros(1, np.int64), [p["out_mult"]], [p["out_shift"]], p["out_offset"],
                               [int(products.min())], [int(products.max())], p["act_min"], p["act_max"])
    return (dict(in1_offset=p["in1_offset"], in2_offset=p["in2_offset"], mode=mode, act_min=p["act_min"],
                 act_max=p["act_max"]), {"rq": rq})


def lower(ctx, op) -> None:
    """One mul call; out may overwrite the larger input."""
    a, b, cb, y, n_b = binary_operands(ctx, op)
    p, consts = mul_record(a.scale, a.zero_point, b.scale, b.zero_point, y.scale, y.zero_point, fused_activation(op))
    p.update(n=a.size, n_b=n_b)
    if cb is not None:
        consts["b"] = cb.reshape(-1)
    layer = ctx.add_layer(kernel="mul", name=f"mul {a.size}x{n_b}",
                          inputs=[a.index] + ([] if cb is not None else [b.index]), output=y.index, params=p,
                          consts=consts, macs=a.size, ops=[op.index])
    layer.overlap = {a.index: ("stream", 0)}
    if cb is None and n_b == a.size:
        layer.overlap[b.index] = ("stream", 0)


def mul_init(p: dict, prefix: str) -> str:
    """The ``ofa_mul_params`` initializer (record ``prefix_rq``)."""
    return init(p, SCALARS, {"rq": f"{prefix}_rq"})


def emit(l, cx):
    """``ofa_mul(&p, a, b, out)``."""
    pre = f"l{l.index}"
    b_decl, call = binary_call("mul", l, cx, pre)
    return rq_array(f"{pre}_rq", l.consts["rq"]) + b_decl + \
        f"static const ofa_mul_params {pre}_p = {mul_init(l.params, pre)};\n", call


KERNEL = Kernel(name="mul", c_file="mul.c", fields=FIELDS, ops=("MUL",), lower=lower, emit=emit,
                features=lambda l: {"mul_n": l.params["n"]},
                prototype="void ofa_mul(const ofa_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out)",
                doc="multiply: input 2 elementwise, scalar or per channel")
