"""PAD / PADV2 (int8, constant padding; TFLite reference Pad). Spatial zero-point padding in
front of a conv is folded into that conv (no copy, no buffer); any other pad is one call that
writes the padded tensor."""
from __future__ import annotations

from functools import partial

import numpy as np

from ofa_mcu.errors import UserError

from . import Kernel, registry
from ..cemit import params_struct
from ..lowering import PendingPad

FIELDS = tuple(("int32_t", n) for n in ("in_n", "in_h", "in_w", "in_c", "pad_n", "pad_h", "pad_w", "pad_c",
                                         "out_n", "out_h", "out_w", "out_c", "value"))


def _pads_4d(ctx, op) -> tuple[np.ndarray, tuple[int, ...]]:
    x = ctx.t(ctx.resolve(op.inputs[0]))
    pads = ctx.const(op.inputs[1])
    if pads is None:
        raise UserError(f"{op.opcode} op {op.index} has non-constant paddings; not supported by the native backend")
    pads = np.asarray(pads, dtype=np.int64).reshape(-1, 2)
    if len(pads) != len(x.shape) or len(x.shape) > 4 or np.any(pads < 0):
        raise UserError(f"{op.opcode} op {op.index} pads a {len(x.shape)}-D tensor with {pads.tolist()}; the native "
                        "backend pads tensors of up to 4 dimensions by non-negative amounts")
    shape = (1,) * (4 - len(x.shape)) + tuple(x.shape)
    pads = np.concatenate([np.zeros((4 - len(pads), 2), np.int64), pads])
    return pads, shape


def _value(ctx, op) -> int:
    y = ctx.t(op.outputs[0])
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        v = ctx.const(op.inputs[2])
        if v is None:
            raise UserError(f"PADV2 op {op.index} pads with a non-constant value; not supported")
        return int(np.asarray(v).reshape(-1)[0])
    return int(y.zero_point)


def _folds(ctx, op) -> bool:
    """Whether the op's only consumer is a kernel that pads inside (spatial zero-point pads)."""
    users = ctx.consumers(op.outputs[0])
    if len(users) != 1 or op.outputs[0] in ctx.m.outputs:
        return False
    pads, _ = _pads_4d(ctx, op)
    if np.any(pads[0] != 0) or np.any(pads[3] != 0) or _value(ctx, op) != ctx.t(op.outputs[0]).zero_point:
        return False
    return any(k.pad_folding and users[0].opcode in k.ops for k in registry().values())


def lower(ctx, op) -> None:
    """Fold into the consuming conv when it can take the padding, else one pad call."""
    src = ctx.resolve(op.inputs[0])
    a, b = ctx.t(src), ctx.t(op.outputs[0])
    if a.scale != b.scale or a.zero_point != b.zero_point:
        raise UserError(f"{op.opcode} op {op.index} changes quantization; re-export the model")
    if _folds(ctx, op):
        pads, _ = _pads_4d(ctx, op)
        ctx.act_in(src)
        ctx.pads[op.outputs[0]] = PendingPad(src, (int(pads[1, 0]), int(pads[1, 1]), int(pads[2, 0]),
                                                   int(pads[2, 1])), partial(_materialize, op))
        return
    _emit_layer(ctx, op, ctx.act_in(src), op.outputs[0])


def _materialize(op, ctx, tensor: int) -> None:
    pending = ctx.pads.pop(tensor)
    _emit_layer(ctx, op, pending.src, tensor)


def _emit_layer(ctx, op, src: int, dst: int) -> None:
    pads, shape = _pads_4d(ctx, op)
    y = ctx.t(dst)
    out = tuple(int(s + p0 + p1) for s, (p0, p1) in zip(shape, pads))
    if int(np.prod(out)) != y.size:
        raise UserError(f"{op.opcode} op {op.index}: output {list(y.shape)} does not match the padded shape {out}")
    p = dict(zip(("in_n", "in_h", "in_w", "in_c"), shape)) | dict(zip(("pad_n", "pad_h", "pad_w", "pad_c"),
                                                                       (int(v) for v in pads[:, 0])))
    p |= dict(zip(("out_n", "out_h", "out_w", "out_c"), out)) | {"value": _value(ctx, op)}
    if not -128 <= p["value"] <= 127:
        raise UserError(f"{op.opcode} op {op.index} pads with {p['value']}, outside int8")
    ctx.add_layer(kernel="pad", name=f"pad {'x'.join(map(str, shape))} -> {'x'.join(map(str, out))}",
                  inputs=[src], output=dst, params=p, ops=[op.index])


def emit(l, cx):
    """``ofa_pad(&p, in, out)``."""
    pre = f"l{l.index}"
    return params_struct(KERNEL, f"{pre}_p", l.params, l.consts, pre), \
        f"ofa_pad(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


KERNEL = Kernel(name="pad", c_file="pad.c", fields=FIELDS, ops=("PAD", "PADV2"), lower=lower, emit=emit,
                features=lambda l: {"elem_n": l.params["out_n"] * l.params["out_h"] * l.params["out_w"]
                                    * l.params["out_c"]},
                prototype="void ofa_pad(const ofa_pad_params *p, const int8_t *in, int8_t *out)",
                doc="constant padding of an up-to-4-D tensor")
