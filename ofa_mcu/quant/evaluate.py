"""Run every int8 path on one subnet and compare it with float: the verification step."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..space.folded import FoldedNet
from .agreement import accuracy, agreement
from .beside import beside

# Below this many images a worker process costs more (about 1 s to start) than it saves.
PARALLEL_MIN_IMAGES = 200


def evaluate_paths(module, net: FoldedNet, calib_images: np.ndarray, eval_images: np.ndarray,
                   labels: np.ndarray | None = None, workdir: str | Path | None = None) -> dict:
    """Export ``module`` (the torch subnet, eval mode) to ONNX, quantize it with ONNX Runtime,
    convert ``net`` (its BN-folded weights) to full-int8 TFLite, and run float ONNX, int8 ONNX,
    TFLite and TFLM on ``eval_images`` (normalised float NCHW).

    Returns ``logits`` (name -> array), ``agreement`` (same-top-1 matrix), ``top1`` (percent,
    when ``labels`` are given), ``seconds`` (per conversion step), ``tflite`` (the model bytes)
    and the ONNX paths when ``workdir`` is given (else they live in a temporary folder).
    """
    from .onnx_export import export_onnx
    from .ort_quant import quantize_onnx, run_onnx
    from .tflite_convert import convert_int8
    from .tflm_runner import run_tflite, run_tflm

    t = net.table
    shape = (1, t.cfg.in_channels, t.image_size, t.image_size)
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(workdir) if workdir else Path(tmp)
        t0 = time.perf_counter()
        float_onnx = export_onnx(module, shape, d / "float.onnx")
        t1 = time.perf_counter()
        int8_onnx = quantize_onnx(float_onnx, calib_images, d / "int8.onnx")
        t2 = time.perf_counter()
        tflite = convert_int8(net, calib_images)
        t3 = time.perf_counter()
        seconds = {"onnx_export": t1 - t0, "ort_quantize": t2 - t1, "tflite_convert": t3 - t2}
        with beside(run_tflm, tflite, eval_images, parallel=len(eval_images) >= PARALLEL_MIN_IMAGES) as tflm:
            logits = {"float": run_onnx(float_onnx, eval_images), "onnx_int8": run_onnx(int8_onnx, eval_images),
                      "tflite": run_tflite(tflite, eval_images)}
        logits["tflm"] = tflm.result()
        seconds["run_all"] = time.perf_counter() - t3
    out = {"logits": logits, "agreement": agreement(logits), "seconds": seconds, "tflite": tflite}
    if workdir:
        out["onnx"] = {"float": str(float_onnx), "int8": str(int8_onnx)}
    if labels is not None:
        out["top1"] = {k: 100.0 * accuracy(v, labels) for k, v in logits.items()}
        out["drop_points"] = {k: out["top1"]["float"] - v for k, v in out["top1"].items() if k != "float"}
    return out
