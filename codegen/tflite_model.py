"""Read what the firmware needs from a .tflite flatbuffer: ops, I/O tensors, quantization.

Uses the flatbuffer schema module that ships inside the TensorFlow wheel
(``tensorflow/lite/python/schema_py_generated.py``), loaded from its file so that reading a
model does not import TensorFlow itself (which takes seconds).
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ofa_mcu.errors import UserError

TFLITE_IDENTIFIER = b"TFL3"
# The schema version TFLite-Micro checks (TFLITE_SCHEMA_VERSION in micro_interpreter.h).
SCHEMA_VERSION = 3

# TensorType enum values of the schema (tensorflow/lite/schema/schema.fbs).
TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}


@functools.cache
def schema():
    """The generated flatbuffer schema module of the installed TensorFlow."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("tensorflow is not installed; install the project's pinned tensorflow-cpu")
    path = Path(spec.submodule_search_locations[0]) / "lite" / "python" / "schema_py_generated.py"
    mspec = importlib.util.spec_from_file_location("_ofa_mcu_tflite_schema", path)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


@functools.cache
def builtin_op_names() -> dict[int, str]:
    """BuiltinOperator enum value -> name (``CONV_2D`` ...)."""
    return {v: k for k, v in vars(schema().BuiltinOperator).items() if not k.startswith("_")}


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
    """What code generation reads from a .tflite file."""

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


def _tensor(sg, idx: int) -> TensorInfo:
    t = sg.tensors[idx]
    q = t.quantization
    scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0
    zp = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0
    name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    return TensorInfo(name, shape, TENSOR_TYPES.get(int(t.type), f"type{int(t.type)}"), scale, zp)


def read_model(tflite: bytes, what: str = "model") -> ModelInfo:
    """Parse ``tflite``; a file that is not a TFLite flatbuffer is a UserError."""
    if len(tflite) < 8 or tflite[4:8] != TFLITE_IDENTIFIER:
        raise UserError(f"{what} is not a TFLite flatbuffer (no 'TFL3' identifier); pass a .tflite file")
    s = schema()
    try:
        model = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    except Exception as exc:  # flatbuffers raises assorted errors on truncated input
        raise UserError(f"{what} is a malformed TFLite flatbuffer ({type(exc).__name__}); re-export it") from None
    if not model.subgraphs:
        raise UserError(f"{what} has no subgraph; re-export it")
    names = builtin_op_names()
    ops, custom = set(), set()
    sg = model.subgraphs[0]
    for op in sg.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        # Codes >= 127 live in builtinCode only; older files use deprecatedBuiltinCode.
        b = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        if names.get(b) == "CUSTOM":
            custom.add(code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode))
        else:
            ops.add(names.get(b, f"BUILTIN_{b}"))
    desc = model.description.decode("utf-8", "replace") if isinstance(model.description, bytes) else (model.description or "")
    return ModelInfo(
        schema_version=int(model.version),
        ops=tuple(sorted(ops)),
        custom_ops=tuple(sorted(custom)),
        n_operators=len(sg.operators or []),
        inputs=tuple(_tensor(sg, i) for i in sg.inputs),
        outputs=tuple(_tensor(sg, i) for i in sg.outputs),
        description=desc,
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
