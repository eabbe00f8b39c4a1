"""RESHAPE / SQUEEZE: no code; the output tensor is an alias of the input bytes (NHWC
row-major order is unchanged by a reshape)."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel


def lower(ctx, op) -> None:
    """Alias the output to the input; a reshape that changes quantization is refused."""
    src = ctx.resolve(op.inputs[0])
    a, b = ctx.t(src), ctx.t(op.outputs[0])
    if a.scale != b.scale or a.zero_point != b.zero_point:
        raise UserError(f"{op.opcode} op {op.index} ({b.name!r}) changes quantization; re-export the model")
    if src in ctx.pads:
        ctx.act_in(src)
    ctx.make_alias(op.outputs[0], src)


KERNEL = Kernel(name="reshape", ops=("RESHAPE", "SQUEEZE"), lower=lower, doc="alias, no call")
