"""MUL (int8) with input 2 elementwise, a scalar or one value per channel: TFLite reference
MulElementwise / BroadcastMul6DSlow."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from .. import quant as Q
from ..lowering import fused_activation
from .add import binary_emit

MUL_FIELDS = tuple(("int32_t", n) for n in ("n", "n_b", "in1_offset", "in2_offset", "out_offset", "out_mult",
                                           "out_shift", "act_min", "act_max"))


def lower(ctx, op) -> None:
    """One mul call; out may overwrite the larger input."""
    a, b, cb = ctx.binary(op)
    if b.size > a.size:
        if cb is not None:
            raise UserError(f"MUL op {op.index} broadcasts an activation over a constant; not supported by the "
                            "native backend")
        a, b = b, a
    y = ctx.out_int8(op)
    n = a.size
    chans = a.shape[-1] if a.shape else 1
    if b.size not in (1, n, chans) or y.size != n:
        raise UserError(f"MUL op {op.index} broadcasts {list(a.shape)} with {list(b.shape)}; only scalar, per-channel "
                        "or elementwise multiplies are supported by the native backend")
    if b.size == chans and b.size not in (1, n) and (not b.shape or b.shape[-1] != chans):
        raise UserError(f"MUL op {op.index} broadcasts along a non-channel axis; not supported by the native backend")
    p = Q.mul_params(a.scale, a.zero_point, b.scale, b.zero_point, y.scale, y.zero_point, fused_activation(op))
    p.update(n=n, n_b=b.size)
    consts = {} if cb is None else {"b": cb.reshape(-1)}
    layer = ctx.add_layer(kernel="mul", name=f"mul {n}x{b.size}",
                          inputs=[a.index] + ([] if cb is not None else [b.index]), output=y.index, params=p,
                          consts=consts, macs=n, ops=[op.index])
    layer.overlap = {a.index: ("stream", 0)}
    if cb is None and b.size == n:
        layer.overlap[b.index] = ("stream", 0)


KERNEL = Kernel(name="mul", c_file="mul.c", fields=MUL_FIELDS, ops=("MUL",), lower=lower,
                emit=lambda l, cx: binary_emit(KERNEL, l, cx), features=lambda l: {"mul_n": l.params["n"]},
                prototype="void ofa_mul(const ofa_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out)",
                doc="multiply, input 2 elementwise, scalar or per channel")
