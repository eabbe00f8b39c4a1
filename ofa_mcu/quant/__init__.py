"""Export, int8 quantization and verification (ONNX Runtime, TFLite, TFLite-Micro).

Public API (stable):

- ``build_keras(net: FoldedNet) -> keras.Model`` (NHWC float model of the folded subnet)
- ``convert_int8(net: FoldedNet, calib_images_nchw) -> bytes`` (full-int8 .tflite)
- ``load_model(tflite_bytes)``: the parsed flatbuffer (TFLite's schema objects), shared by codegen
- ``inspect_tflite(tflite_bytes) -> dict`` ; ``check_full_int8(tflite_bytes)`` raises UserError
- ``input_quant(tflite_bytes) -> (scale, zero_point)`` ; ``output_quant(tflite_bytes)``:
  the model's input is int8 NHWC with ``q = round(x / scale) + zero_point`` for a normalised
  float image ``x``; logits are ``scale * (q - zero_point)``
- ``run_tflite(tflite_bytes, images_nchw_float, kernels="reference") -> int8 logits``
- ``run_tflm(tflite_bytes, images_nchw_float, arena_size=None) -> int8 logits``
- ``measure_tflm(tflite_bytes) -> dict(tflm_arena_bytes, head, tail, tflite_bytes, ops, ...)``
- ``export_onnx(module, input_shape, path)`` ; ``quantize_onnx(float_onnx_path, calib_images,
  out_path, per_channel=True)`` ; ``run_onnx(path, images) -> float logits``
- ``agreement(dict name -> logits) -> (names, matrix of same-top-1 fractions)``
- ``accuracy(logits, labels) -> top-1 fraction``
- ``evaluate_paths(module, net, calib_images, eval_images, labels=None, workdir=None) -> dict``
  (every path at once: logits, agreement, top-1, drop in points, conversion seconds, .tflite)

Submodules import TensorFlow / ONNX Runtime / torch lazily, inside the functions.
"""
from __future__ import annotations

import os

# TensorFlow's C++ start-up logging would otherwise flood stderr on first import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .agreement import accuracy, agreement  # noqa: E402
from .evaluate import evaluate_paths  # noqa: E402
from .onnx_export import export_onnx  # noqa: E402
from .tf_graph import build_keras  # noqa: E402
from .ort_quant import quantize_onnx, run_onnx  # noqa: E402
from .tflite_convert import convert_int8  # noqa: E402
from .tflite_inspect import check_full_int8, input_quant, inspect_tflite, load_model, output_quant  # noqa: E402
from .tflm_runner import measure_tflm, run_tflite, run_tflm  # noqa: E402

__all__ = ["accuracy", "agreement", "evaluate_paths", "build_keras", "export_onnx", "quantize_onnx", "run_onnx",
           "convert_int8", "check_full_int8", "input_quant", "inspect_tflite", "load_model", "output_quant",
           "measure_tflm", "run_tflite", "run_tflm"]
