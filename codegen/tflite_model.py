"""Read a .tflite flatbuffer: the whole graph (tensors, constant data, operators) for the native
backend, and the summary the TFLite-Micro project needs (ops, I/O tensors, quantization).

The one flatbuffer parser is ``ofa_mcu.quant.tflite_inspect.load_model`` (the schema bindings of
the ``tflite-micro`` wheel, no TensorFlow import); this module turns its object tree into plain
Python objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ofa_mcu.errors import UserError

# The schema version TFLite-Micro checks (TFLITE_SCHEMA_VERSION in micro_interpreter.h).
SCHEMA_VERSION = 3

# TensorType enum values of the schema (tensorflow/lite/schema/schema.fbs) -> numpy dtype.
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
           7: np.int16, 9: np.int8, 10: np.float64, 15: np.uint32, 16: np.uint16}


@dataclass
class TTensor:
    """One tensor of the flatbuffer. ``data`` is set for constants (weights, biases, axes)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type | None          # numpy scalar type; None for a type numpy has no match for
    data: np.ndarray | None
    scales: np.ndarray          # float32, empty when not quantized
    zero_points: np.ndarray     # int64
    quantized_dimension: int = 0
    type_name: str = ""         # "int8", "float32", ... ("type<N>" for unknown codes)

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one)."""
        return float(self.scales[0]) if len(self.scales) else 0.0

    @property
    def zero_point(self) -> int:
        """The per-tensor zero point (the first one)."""
        return int(self.zero_points[0]) if len(self.zero_points) else 0

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass
class TOp:
    """One operator: builtin name, input/output tensor indices (-1 = absent), options."""

    index: int
    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)
    custom_code: str | None = None  # set when ``opcode == "CUSTOM"``


@dataclass
class TfliteModel:
    """The first subgraph of a TFLite model (``n_subgraphs`` says how many the file has)."""

    tensors: list[TTensor]
    ops: list[TOp]
    inputs: list[int]
    outputs: list[int]
    nbytes: int
    schema_version: int = SCHEMA_VERSION
    description: str = ""
    n_subgraphs: int = 1

    def consumers(self, tensor: int) -> list[int]:
        """Indices of the ops that read ``tensor``."""
        return [op.index for op in self.ops if tensor in op.inputs]


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        """Number of elements."""
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class ModelInfo:
    """What the TFLite-Micro project reads from a .tflite file."""

    schema_version: int
    ops: tuple[str, ...]  # builtin op names used by the operators, sorted
    custom_ops: tuple[str, ...]
    n_operators: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    description: str

    @property
    def input(self) -> TensorInfo:
        """The (single) input tensor."""
        return self.inputs[0]

    @property
    def output(self) -> TensorInfo:
        """The (single) output tensor."""
        return self.outputs[0]


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else ("" if v is None else str(v))


def _opcode_names() -> dict[int, str]:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _invalid(what: str, problem: str) -> UserError:
    return UserError(f"{what} is not a valid .tflite ({problem}); re-export it")


def _tensor(i: int, t, model, buf: bytes, what: str) -> TTensor:
    code = int(t.type)
    dtype = _DTYPES.get(code)
    shape = tuple(int(s) for s in (t.shape if t.shape is not None else []))
    data = None
    n_buffers = len(model.buffers or [])
    if t.buffer is not None and not 0 <= t.buffer < max(1, n_buffers):  # buffer 0: the empty one
        raise _invalid(what, f"tensor {i} names buffer {t.buffer}, but the file has {n_buffers} buffers")
    b = model.buffers[t.buffer] if t.buffer is not None and t.buffer < n_buffers else None
    if b is not None and dtype is not None:
        raw = None
        if b.data is not None and len(b.data):
            raw = np.asarray(b.data, dtype=np.uint8).tobytes()
        elif getattr(b, "offset", 0) and b.offset > 1:  # data stored after the flatbuffer (>2 GB models)
            raw = buf[b.offset:b.offset + b.size]
        if raw is not None:
            data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    q = t.quantization
    scales = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
    zps = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
    return TTensor(i, _text(t.name), shape, dtype, data, scales, zps,
                   int(q.quantizedDimension) if q is not None else 0,
                   np.dtype(dtype).name if dtype is not None else f"type{code}")


def _indices(values, n: int, where: str, what: str, absent_ok: bool = False) -> list[int]:
    """``values`` as tensor indices in ``[0, n)`` (``-1`` too when ``absent_ok``: an optional input
    left out); a UserError naming ``where`` otherwise."""
    out = [int(x) for x in (values if values is not None else [])]
    bad = [x for x in out if not (0 <= x < n or absent_ok and x == -1)]
    if bad:
        raise _invalid(what, f"{where} names tensor {bad[0]}, but the graph has {n} tensors")
    return out


def _op(i: int, op, model, names: dict[int, str], n_tensors: int, what: str) -> TOp:
    codes = model.operatorCodes or []
    if not 0 <= op.opcodeIndex < len(codes):
        raise _invalid(what, f"operator {i} names opcode {op.opcodeIndex}, but the file has {len(codes)} opcodes")
    oc = codes[op.opcodeIndex]
    # Codes >= 127 live in builtinCode only; older files use deprecatedBuiltinCode.
    code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
    opts = {}
    if op.builtinOptions is not None:
        opts = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in vars(op.builtinOptions).items()}
    name = names.get(code, f"BUILTIN_{code}")
    return TOp(i, name, _indices(op.inputs, n_tensors, f"operator {i} ({name}) input", what, absent_ok=True),
               _indices(op.outputs, n_tensors, f"operator {i} ({name}) output", what), opts,
               _text(oc.customCode) if name == "CUSTOM" else None)


def read_tflite(buf: bytes, what: str = "model") -> TfliteModel:
    """Parse ``buf`` (its first subgraph); a file that is not a TFLite flatbuffer, or whose graph
    is damaged (indices out of range, fields of the wrong type), is a one-line UserError."""
    from ofa_mcu.quant.tflite_inspect import load_model

    buf = bytes(buf)
    model = load_model(buf, what)
    names = _opcode_names()
    g = model.subgraphs[0]
    try:
        tensors = [_tensor(i, t, model, buf, what) for i, t in enumerate(g.tensors or [])]
    except UserError:
        raise
    except ValueError as exc:  # buffer size does not match the tensor shape
        raise UserError(f"{what} is a malformed TFLite flatbuffer ({exc}); re-export it") from None
    except (TypeError, IndexError, OverflowError, AttributeError) as exc:  # a damaged field
        raise _invalid(what, f"a tensor: {type(exc).__name__}: {exc}") from None
    try:
        ops = [_op(i, op, model, names, len(tensors), what) for i, op in enumerate(g.operators or [])]
        inputs = _indices(g.inputs, len(tensors), "the graph's input", what)
        outputs = _indices(g.outputs, len(tensors), "the graph's output", what)
        return TfliteModel(tensors, ops, inputs, outputs, len(buf), int(model.version), _text(model.description),
                           len(model.subgraphs))
    except UserError:
        raise
    except (TypeError, IndexError, OverflowError, AttributeError, ValueError) as exc:  # a damaged field
        raise _invalid(what, f"{type(exc).__name__}: {exc}") from None


def _info(t: TTensor) -> TensorInfo:
    return TensorInfo(t.name, t.shape, t.type_name, t.scale, t.zero_point)


def read_model(tflite: bytes, what: str = "model") -> ModelInfo:
    """The TFLite-Micro project's summary of ``tflite``; a non-TFLite file is a UserError."""
    m = read_tflite(tflite, what)
    return ModelInfo(
        schema_version=m.schema_version,
        ops=tuple(sorted({op.opcode for op in m.ops if op.opcode != "CUSTOM"})),
        custom_ops=tuple(sorted({op.custom_code for op in m.ops if op.opcode == "CUSTOM"})),
        n_operators=len(m.ops),
        inputs=tuple(_info(m.tensors[i]) for i in m.inputs),
        outputs=tuple(_info(m.tensors[i]) for i in m.outputs),
        description=m.description,
    )


def check_int8_classifier(info: ModelInfo, what: str = "model") -> None:
    """Raise a UserError unless the model is a one-input, one-output int8 (or uint8) classifier."""
    if info.schema_version != SCHEMA_VERSION:
        raise UserError(f"{what} has schema version {info.schema_version}; TFLite-Micro needs {SCHEMA_VERSION}")
    if len(info.inputs) != 1 or len(info.outputs) != 1:
        raise UserError(
            f"{what} has {len(info.inputs)} inputs and {len(info.outputs)} outputs; deploy needs one of each"
        )
    for role, t in (("input", info.input), ("output", info.output)):
        if t.dtype not in ("int8", "uint8"):
            raise UserError(
                f"{what}'s {role} tensor is {t.dtype}; deploy needs a fully int8-quantized model "
                "(convert with a representative dataset and int8 inputs/outputs)"
            )
        if t.scale <= 0:
            raise UserError(f"{what}'s {role} tensor has no quantization scale; re-export it fully quantized")
    if len(info.input.shape) not in (2, 4) or info.input.shape[0] != 1:
        raise UserError(f"{what}'s input shape {list(info.input.shape)} is not [1, H, W, C] (or [1, N])")
    if info.custom_ops:
        raise UserError(f"{what} uses custom ops {list(info.custom_ops)} that TFLite-Micro cannot resolve")
