"""Elementwise int8 -> int8 ops (LOGISTIC, HARD_SWISH, TANH, RELU, RELU6, RELU_N1_TO_1,
LEAKY_RELU, ELU and an int8 -> int8 QUANTIZE): each output depends on its input's int8 value
alone, so the op is a 256-byte table. The table is TFLite-Micro's own output of that op, with
the model's options and quantization, for all 256 inputs (``codegen.native.opmodel``), so the
kernel is its reference arithmetic bit for bit; the call is one lookup per element."""
from __future__ import annotations

from ofa_mcu.errors import UserError

from . import Kernel
from ..cemit import c_array, unary_call

OPS = ("LOGISTIC", "HARD_SWISH", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "ELU", "QUANTIZE")
FIELDS = (("int32_t", "n"), ("const int8_t *", "table"))


def lower(ctx, op) -> None:
    """One lookup call (in place allowed)."""
    from ..opmodel import unary_table

    x = ctx.t(ctx.act_in(op.inputs[0]))
    y = ctx.out_int8(op)
    if x.size != y.size:
        raise UserError(f"{op.opcode} op {op.index} changes the element count; not an elementwise op")
    if not len(x.scales) or not len(y.scales):
        raise UserError(f"{op.opcode} op {op.index} has unquantized tensors; the native backend needs a full-int8 model")
    if ctx.tflite is None:
        raise UserError(f"{op.opcode} needs the model's flatbuffer bytes; pass bytes to lower_tflite")
    table = unary_table(ctx.tflite, op.index)
    layer = ctx.add_layer(kernel="lut", name=f"{op.opcode.lower()} {x.size}", inputs=[x.index], output=y.index,
                          params={"n": x.size}, consts={"table": table}, macs=x.size, ops=[op.index])
    layer.overlap = {x.index: ("same", 0)}


def emit(l, cx):
    """``ofa_lut(&p, in, out)``."""
    pre = f"l{l.index}"
    return unary_call(l, cx, ("n",), {"table": pre + "_table + 128"}, c_array(f"{pre}_table", l.consts["table"]))


KERNEL = Kernel(name="lut", c_file="lut.c", fields=FIELDS, ops=OPS, lower=lower, emit=emit,
                features=lambda l: {"elem_n": l.params["n"]},
                prototype="void ofa_lut(const ofa_lut_params *p, const int8_t *in, int8_t *out)",
                doc="elementwise int8 op as a 256-byte table (TFLite-Micro's outputs)")
