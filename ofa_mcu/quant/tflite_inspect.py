"""Read a ``.tflite`` flatbuffer without TensorFlow and check it is a clean full-int8 graph.

Uses the flatbuffer schema bindings that ship with the ``tflite-micro`` wheel, so inspecting a
model is fast and needs no TensorFlow import.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import UserError

# The ops a converted subnet may contain (see ofa_mcu.space.ops and ofa_mcu.quant.tf_graph for why each is there).
EXPECTED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "PAD", "MEAN", "MUL", "ADD", "FULLY_CONNECTED"})
INT_TYPES = frozenset({"INT8", "INT32"})
PER_CHANNEL_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def load_model(tflite_bytes: bytes, what: str = "model"):
    """Parse a flatbuffer into the schema's object API; a non-TFLite input is a UserError."""
    fb = _schema()
    data = bytes(tflite_bytes)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise UserError(f"{what} is not a TFLite flatbuffer (no 'TFL3' identifier); pass a .tflite file")
    try:
        model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))
    except Exception as exc:  # flatbuffers raises assorted errors on corrupt data
        raise UserError(f"{what} is a malformed TFLite flatbuffer ({type(exc).__name__}); re-export it") from None
    if not model.subgraphs:
        raise UserError(f"{what} has no subgraph; re-export it")
    return model


def _name(t) -> str:
    return t.name.decode(errors="replace") if t.name else ""


def _quant(t) -> dict | None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    return {"scale": np.asarray(q.scale, dtype=np.float64), "zero_point": np.asarray(q.zeroPoint, dtype=np.int64),
            "axis": int(q.quantizedDimension)}


def inspect_tflite(tflite_bytes: bytes) -> dict:
    """Describe a flatbuffer: op sequence, op counts, tensor dtypes, input/output shapes and
    quantization, which conv weights are per-channel, and buffer byte counts.

    Returns a dict with ``ops`` (list of op names in execution order), ``op_counts``,
    ``tensor_types`` (name -> count), ``bad_tensors`` (tensors that are not int8/int32),
    ``input``/``output`` (``shape``, ``dtype``, ``scale``, ``zero_point``),
    ``per_tensor_conv_weights`` (names of conv/depthwise weights with one scale),
    ``n_tensors``, ``weight_bytes``, ``bias_bytes``, ``tflite_bytes`` and ``ok`` (bool).
    """
    fb = _schema()
    model = load_model(tflite_bytes)
    op_names = _enum_names(fb.BuiltinOperator)
    type_names = _enum_names(fb.TensorType)
    sg = model.subgraphs[0]
    ops = []
    per_tensor_weights = []
    weight_bytes = bias_bytes = 0
    for op in sg.operators or []:
        oc = model.operatorCodes[op.opcodeIndex]
        name = op_names.get(max(oc.builtinCode, oc.deprecatedBuiltinCode), f"CODE_{oc.builtinCode}")
        ops.append(name)
        if name in PER_CHANNEL_OPS | {"FULLY_CONNECTED"}:
            w = sg.tensors[op.inputs[1]]
            weight_bytes += int(np.prod(w.shape))
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                bias_bytes += 4 * int(np.prod(sg.tensors[op.inputs[2]].shape))
            q = _quant(w)
            out_ch = int(w.shape[3] if name == "DEPTHWISE_CONV_2D" else w.shape[0])
            if name in PER_CHANNEL_OPS and (q is None or (out_ch > 1 and len(q["scale"]) != out_ch)):
                per_tensor_weights.append(_name(w) or f"tensor {op.inputs[1]}")
    tensor_types = Counter(type_names.get(t.type, str(t.type)) for t in sg.tensors)
    bad = [(_name(t) or f"tensor {i}", type_names.get(t.type, str(t.type)))
           for i, t in enumerate(sg.tensors) if type_names.get(t.type) not in INT_TYPES]

    def io(idx: int) -> dict:
        t = sg.tensors[idx]
        q = _quant(t)
        return {"name": _name(t), "shape": [int(s) for s in t.shape],
                "dtype": type_names.get(t.type, str(t.type)).lower(),
                "scale": float(q["scale"][0]) if q else None, "zero_point": int(q["zero_point"][0]) if q else None}

    info = {
        "ops": ops,
        "op_counts": dict(Counter(ops)),
        "tensor_types": dict(tensor_types),
        "bad_tensors": bad,
        "input": io(sg.inputs[0]),
        "output": io(sg.outputs[0]),
        "n_inputs": len(sg.inputs),
        "n_outputs": len(sg.outputs),
        "per_tensor_conv_weights": per_tensor_weights,
        "n_tensors": len(sg.tensors),
        "weight_bytes": weight_bytes,
        "bias_bytes": bias_bytes,
        "tflite_bytes": len(tflite_bytes),
    }
    info["violations"] = full_int8_violations(info)
    info["ok"] = not info["violations"]
    return info


def full_int8_violations(info: dict) -> list[str]:
    """Every way the inspected graph departs from a clean full-int8 MCU graph (empty if none)."""
    v = []
    if info["bad_tensors"]:
        name, dtype = info["bad_tensors"][0]
        v.append(f"{len(info['bad_tensors'])} tensor(s) are not int8/int32 (first: {name!r} is {dtype})")
    for end in ("input", "output"):
        if info[end]["dtype"] != "int8":
            v.append(f"the {end} is {info[end]['dtype']}, not int8")
        elif info[end]["scale"] is None:
            v.append(f"the {end} has no quantization parameters")
    for bad_op in ("QUANTIZE", "DEQUANTIZE"):
        if bad_op in info["op_counts"]:
            v.append(f"the graph has {info['op_counts'][bad_op]} {bad_op} op(s) (a float island or requantization)")
    unexpected = sorted(set(info["ops"]) - EXPECTED_OPS - {"QUANTIZE", "DEQUANTIZE"})
    if unexpected:
        v.append(f"unexpected ops {unexpected} (expected only {sorted(EXPECTED_OPS)})")
    if info["per_tensor_conv_weights"]:
        v.append(f"{len(info['per_tensor_conv_weights'])} conv weight(s) are quantized per-tensor, not per-channel")
    return v


def check_full_int8(tflite_bytes: bytes) -> dict:
    """Inspect and raise :class:`UserError` (one line) on the first violation; return the info."""
    info = inspect_tflite(tflite_bytes)
    if info["violations"]:
        raise UserError(f"model is not a clean full-int8 graph: {'; '.join(info['violations'])}; "
                        "convert it with ofa_mcu.quant.convert_int8")
    return info


def input_quant(tflite_bytes: bytes) -> tuple[float, int]:
    """``(scale, zero_point)`` of the int8 input: ``q = round(x / scale) + zero_point`` for a
    normalised float image ``x`` (NHWC), clipped to [-128, 127]."""
    info = inspect_tflite(tflite_bytes)
    if info["input"]["scale"] is None:
        raise UserError("the model's input is not quantized; convert it with ofa_mcu.quant.convert_int8")
    return info["input"]["scale"], info["input"]["zero_point"]


def output_quant(tflite_bytes: bytes) -> tuple[float, int]:
    """``(scale, zero_point)`` of the int8 output: ``logit = scale * (q - zero_point)``."""
    info = inspect_tflite(tflite_bytes)
    if info["output"]["scale"] is None:
        raise UserError("the model's output is not quantized; convert it with ofa_mcu.quant.convert_int8")
    return info["output"]["scale"], info["output"]["zero_point"]


def quantize_input(images_nhwc: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float NHWC images -> int8 with the model's input quantization."""
    q = np.round(np.asarray(images_nhwc, dtype=np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)
