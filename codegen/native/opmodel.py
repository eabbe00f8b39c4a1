"""Single-op TFLite models, written with the schema's object API (no TensorFlow): the native
backend's elementwise tables are TFLite-Micro's own outputs on a model of that one op (so they
are its reference arithmetic by construction), and the kernel tests build ops with any shape,
stride, padding and quantization the same way."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_TYPES = {"int8": 9, "int32": 2, "int16": 7, "uint8": 3, "float32": 0, "int64": 4}


@dataclass
class TensorSpec:
    """One tensor of a single-op model: shape, type, per-tensor or per-channel quantization and,
    for a constant, its data."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: Any = None  # float, or a sequence for per-channel
    zero_point: Any = 0
    data: np.ndarray | None = None
    quantized_dimension: int = 0


def _fb():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb


def _tensor(fb, spec: TensorSpec, buffer: int, name: str):
    t = fb.TensorT()
    t.shape = list(int(s) for s in spec.shape)
    t.type = _TYPES[spec.dtype]
    t.buffer = buffer
    t.name = name.encode()
    if spec.scale is not None:
        q = fb.QuantizationParametersT()
        scales = np.atleast_1d(np.asarray(spec.scale, dtype=np.float32))
        zps = np.atleast_1d(np.asarray(spec.zero_point, dtype=np.int64))
        if len(zps) == 1 and len(scales) > 1:
            zps = np.repeat(zps, len(scales))
        q.scale = [float(s) for s in scales]
        q.zeroPoint = [int(z) for z in zps]
        q.quantizedDimension = int(spec.quantized_dimension)
        t.quantization = q
    return t


def _options(fb, options_type, options):
    if isinstance(options, dict) or options is None:
        obj = getattr(fb, options_type + "T")()
        for k, v in (options or {}).items():
            setattr(obj, k, v)
        return obj
    return options


def graph_model(tensors: list[TensorSpec], ops: list[tuple], inputs: list[int], outputs: list[int]) -> bytes:
    """The flatbuffer of a one-subgraph model: ``tensors`` (constants carry ``data``), ``ops``
    as ``(opcode, input tensor indices (-1: absent), output indices, options type or None,
    options object or dict of its fields)``, and the graph's input and output tensors."""
    import flatbuffers

    fb = _fb()
    buffers = [fb.BufferT()]
    ts = []
    for i, spec in enumerate(tensors):
        buf = 0
        if spec.data is not None:
            b = fb.BufferT()
            b.data = list(np.ascontiguousarray(np.asarray(spec.data, dtype=spec.dtype)).view(np.uint8).reshape(-1))
            buffers.append(b)
            buf = len(buffers) - 1
        ts.append(_tensor(fb, spec, buf, f"t{i}"))
    codes, operators = [], []
    for opcode, ins, outs, options_type, options in ops:
        value = getattr(fb.BuiltinOperator, opcode)
        if value not in [c.builtinCode for c in codes]:
            code = fb.OperatorCodeT()
            code.builtinCode = value
            code.deprecatedBuiltinCode = min(value, 127)
            code.version = 1
            codes.append(code)
        op = fb.OperatorT()
        op.opcodeIndex = [c.builtinCode for c in codes].index(value)
        op.inputs = list(ins)
        op.outputs = list(outs)
        if options_type is not None:
            op.builtinOptionsType = getattr(fb.BuiltinOptions, options_type)
            op.builtinOptions = _options(fb, options_type, options)
        operators.append(op)
    sg = fb.SubGraphT()
    sg.tensors = ts
    sg.inputs = list(inputs)
    sg.outputs = list(outputs)
    sg.operators = operators
    model = fb.ModelT()
    model.version = 3
    model.operatorCodes = codes
    model.subgraphs = [sg]
    model.buffers = buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def single_op_model(opcode: str, inputs: list[TensorSpec | None], outputs: list[TensorSpec],
                    options_type: str | None = None, options: Any = None) -> bytes:
    """The flatbuffer of a model with one ``opcode`` operator. ``inputs``: specs (constants
    carry ``data``; None is an absent optional input); the non-constant ones are the model's
    inputs. ``options``: the builtin options object, or a dict of the ``<options_type>T``
    fields."""
    tensors, op_inputs = [], []
    for spec in inputs:
        if spec is None:
            op_inputs.append(-1)
            continue
        op_inputs.append(len(tensors))
        tensors.append(spec)
    graph_inputs = [i for i, t in zip(op_inputs, [s for s in inputs]) if t is not None and t.data is None]
    outs = list(range(len(tensors), len(tensors) + len(outputs)))
    return graph_model(tensors + list(outputs), [(opcode, op_inputs, outs, options_type, options)], graph_inputs, outs)


def unary_table(tflite: bytes, op_index: int) -> np.ndarray:
    """TFLite-Micro's int8 output for each of the 256 int8 inputs of elementwise op
    ``op_index`` of a model (same op, options and quantization, on a [1, 256] tensor), as
    ``table[x + 128]``."""
    from ofa_mcu.quant.tflite_inspect import load_model

    from ofa_mcu.quant.tflm_runner import tflm_outputs

    fb = _fb()
    model = load_model(tflite)
    g = model.subgraphs[0]
    op = g.operators[op_index]
    code = model.operatorCodes[op.opcodeIndex]
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}
    opcode = names[max(int(code.builtinCode), int(code.deprecatedBuiltinCode))]

    def spec(t):
        q = t.quantization
        return TensorSpec((1, 256), "int8", list(q.scale), list(q.zeroPoint))

    options_type = None
    if op.builtinOptionsType:
        options_type = {v: k for k, v in vars(fb.BuiltinOptions).items()
                        if not k.startswith("_") and isinstance(v, int)}[op.builtinOptionsType]
    one = single_op_model(opcode, [spec(g.tensors[op.inputs[0]])], [spec(g.tensors[op.outputs[0]])], options_type,
                          op.builtinOptions)
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    return np.asarray(tflm_outputs(one, x)[0], dtype=np.int8)
