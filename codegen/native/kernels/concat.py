"""CONCATENATION (int8, any axis): TFLite-Micro requires one quantization for all int8 inputs
and the output and copies the bytes, so the kernel copies each input's slices into place (a
constant input is stored in flash)."""
from __future__ import annotations

import numpy as np

from ofa_mcu.errors import UserError

from . import Kernel
from ..cemit import c_array

MAX_INPUTS = 16
FIELDS = (("int32_t", "outer"), ("int32_t", "n_in"), ("int32_t", f"inner[{MAX_INPUTS}]"))


def lower(ctx, op) -> None:
    """One concat call; inputs are activations or constants."""
    y = ctx.out_int8(op)
    axis = int(op.options.get("axis", 0))
    rank = len(y.shape)
    axis = axis + rank if axis < 0 else axis
    if int(op.options.get("fusedActivationFunction", 0)) != 0:
        raise UserError(f"CONCATENATION op {op.index} has a fused activation; not supported by the native backend")
    if not 0 <= axis < rank or len(op.inputs) > MAX_INPUTS:
        raise UserError(f"CONCATENATION op {op.index} joins {len(op.inputs)} inputs on axis {axis} of a rank-{rank} "
                        f"tensor; the native backend takes up to {MAX_INPUTS} inputs on an existing axis")
    outer = int(np.prod(y.shape[:axis])) if axis else 1
    inputs, inner, consts = [], [], {}
    for j, i in enumerate(op.inputs):
        data = ctx.const(ctx.resolve(i))
        t = ctx.t(ctx.resolve(i))
        if t.scale != y.scale or t.zero_point != y.zero_point:
            raise UserError(f"CONCATENATION op {op.index} input {t.name!r} is quantized differently from its output; "
                            "TFLite-Micro requires one quantization for int8 concatenation")
        if len(t.shape) != rank:
            raise UserError(f"CONCATENATION op {op.index} input {t.name!r} has rank {len(t.shape)}, not {rank}")
        n = int(np.prod(t.shape[axis:]))
        inner.append(n)
        if data is not None:
            if data.dtype != np.int8:
                raise UserError(f"CONCATENATION op {op.index} has a {data.dtype} constant input; not supported")
            consts[f"in{j}"] = data.reshape(-1)
            inputs.append(None)
        else:
            inputs.append(ctx.act_in(i))
    if outer * sum(inner) != y.size:
        raise UserError(f"CONCATENATION op {op.index}: inputs do not add up to the output {list(y.shape)}")
    ctx.add_layer(kernel="concat", name=f"concat {len(inputs)}x axis {axis}", inputs=[i for i in inputs if i is not None],
                  output=y.index, params={"outer": outer, "inner": inner, "sources": inputs},
                  consts=consts, macs=y.size, ops=[op.index])


def emit(l, cx):
    """``ofa_concat(&p, srcs, out)`` with the sources (buffers or const arrays) in order."""
    pre = f"l{l.index}"
    decl, srcs = "", []
    for j, src in enumerate(l.params["sources"]):
        if src is None:
            decl += c_array(f"{pre}_in{j}", l.consts[f"in{j}"])
            srcs.append(f"{pre}_in{j}")
        else:
            srcs.append(f"{cx.ptr(src)}")
    inner = ", ".join(str(n) for n in l.params["inner"])
    decl += (f"static const ofa_concat_params {pre}_p = {{.outer = {l.params['outer']}, .n_in = {len(srcs)}, "
             f".inner = {{{inner}}}}};\n")
    call = (f"{{ const int8_t *const src[] = {{{', '.join(srcs)}}}; "
            f"ofa_concat(&{pre}_p, src, {cx.ptr(l.output)}); }}")
    return decl, call


KERNEL = Kernel(name="concat", c_file="concat.c", fields=FIELDS, ops=("CONCATENATION",), lower=lower, emit=emit,
                features=lambda l: {"elem_n": l.macs},
                prototype="void ofa_concat(const ofa_concat_params *p, const int8_t *const *src, int8_t *out)",
                doc="concatenation: byte copies, no rescaling (as TFLite-Micro)")
