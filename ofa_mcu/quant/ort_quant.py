"""int8 post-training quantization with ONNX Runtime's static quantizer, and ORT inference."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import atomic_write_bytes


def _session(path, threads: int | None = None):
    import onnxruntime as ort

    if not Path(path).is_file():
        raise UserError(f"ONNX model {str(path)!r} does not exist; export it first")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise UserError(f"ONNX Runtime cannot load {str(path)!r} ({type(exc).__name__}); re-export it") from None


def run_onnx(path, images: np.ndarray, batch_size: int = 64, threads: int | None = None) -> np.ndarray:
    """Float32 logits ``(N, classes)`` of an ONNX model (float or QDQ int8) on NCHW images;
    ``threads`` intra-op threads (default: up to 2)."""
    sess = _session(path, threads)
    images = np.asarray(images, dtype=np.float32)
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: images[i:i + batch_size]})[0] for i in range(0, len(images), batch_size)]
    return np.concatenate(outs).astype(np.float32)


def quantize_onnx(float_onnx_path, calib_images: np.ndarray, out_path, per_channel: bool = True,
                  calibrate_method: str = "minmax") -> Path:
    """Static int8 quantization (QDQ format, int8 activations and weights, per-channel weights
    unless ``per_channel=False``) calibrated on ``calib_images`` (normalised float NCHW, one per
    step). The model is pre-processed (shape inference, graph optimisation) first. Writes
    ``out_path`` atomically and returns it."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if calibrate_method not in methods:
        raise UserError(f"unknown calibration method {calibrate_method!r}; choose one of {sorted(methods)}")
    images = np.asarray(calib_images, dtype=np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise UserError(f"calibration images must be a non-empty (N, C, H, W) array, got shape {images.shape}")
    sess = _session(float_onnx_path)
    input_name = sess.get_inputs()[0].name
    del sess

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(images)

        def get_next(self):
            img = next(self._it, None)
            return None if img is None else {input_name: img[None]}

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(float_onnx_path), str(pre), skip_symbolic_shape=True)
        staged = Path(tmp) / "int8.onnx"
        quantize_static(str(pre), str(staged), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[calibrate_method])
        atomic_write_bytes(out_path, staged.read_bytes())
    return out_path
