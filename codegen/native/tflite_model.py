"""Read a .tflite flatbuffer into plain Python objects (tensors, constant data, operators).

Uses the flatbuffer schema module that ships with ``ai-edge-litert`` (a project dependency);
no interpreter is involved.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ofa_mcu.errors import UserError

_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
           7: np.int16, 9: np.int8, 10: np.float64, 15: np.uint32, 16: np.uint16}


@dataclass
class TTensor:
    """One tensor of the flatbuffer. ``data`` is set for constants (weights, biases, axes)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None
    scales: np.ndarray          # float32, empty when not quantized
    zero_points: np.ndarray     # int64
    quantized_dimension: int = 0

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


@dataclass
class TfliteModel:
    """A single-subgraph TFLite model."""

    tensors: list[TTensor]
    ops: list[TOp]
    inputs: list[int]
    outputs: list[int]
    nbytes: int

    def consumers(self, tensor: int) -> list[int]:
        """Indices of the ops that read ``tensor``."""
        return [op.index for op in self.ops if tensor in op.inputs]


def _opcode_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as S
    return {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}


def read_tflite(buf: bytes) -> TfliteModel:
    """Parse ``buf``; a file that is not a TFLite flatbuffer is a one-line UserError."""
    from ai_edge_litert import schema_py_generated as S

    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise UserError("the model is not a TFLite flatbuffer (no 'TFL3' identifier); pass a .tflite file")
    try:
        model = S.ModelT.InitFromObj(S.Model.GetRootAsModel(buf, 0))
    except Exception as exc:  # a corrupt flatbuffer raises anything from struct to IndexError
        raise UserError(f"the .tflite file is corrupt ({type(exc).__name__}); re-export it") from None
    if len(model.subgraphs) != 1:
        raise UserError(f"the model has {len(model.subgraphs)} subgraphs; the native backend needs exactly one")
    names = _opcode_names()
    g = model.subgraphs[0]
    tensors = []
    for i, t in enumerate(g.tensors):
        dtype = _DTYPES.get(t.type)
        data = None
        b = model.buffers[t.buffer] if t.buffer is not None and t.buffer < len(model.buffers) else None
        if b is not None:
            raw = None
            if b.data is not None and len(b.data):
                raw = np.asarray(b.data, dtype=np.uint8).tobytes()
            elif getattr(b, "offset", 0) and b.offset > 1:
                raw = buf[b.offset:b.offset + b.size]
            if raw is not None and dtype is not None:
                shape = tuple(int(s) for s in (t.shape if t.shape is not None else []))
                data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        q = t.quantization
        scales = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
        zps = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        shape = tuple(int(s) for s in (t.shape if t.shape is not None else []))
        tensors.append(TTensor(i, name, shape, dtype, data, scales, zps,
                               int(q.quantizedDimension) if q is not None else 0))
    ops = []
    for i, op in enumerate(g.operators or []):
        oc = model.operatorCodes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        opts = {}
        if op.builtinOptions is not None:
            opts = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in vars(op.builtinOptions).items()}
        ops.append(TOp(i, names.get(code, f"BUILTIN_{code}"), [int(x) for x in op.inputs],
                       [int(x) for x in op.outputs], opts))
    return TfliteModel(tensors, ops, [int(x) for x in g.inputs], [int(x) for x in g.outputs], len(buf))
