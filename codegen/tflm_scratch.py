"""The scratch buffers a TFLM kernel set asks for, read off any int8 .tflite graph (the rule is
``ofa_mcu.efficiency.tflm_plan.scratch_bytes``, the one the calibrated memory model plans with).

A model from outside the search space has no calibrated predictor; its 32-bit arena without a
QEMU run is bounded by the host arena (64-bit structs are larger than 32-bit ones) plus the
largest scratch buffer (live during one op only).
"""
from __future__ import annotations

from ofa_mcu.efficiency.tflm_plan import align, scratch_bytes

from .tflite_model import TfliteModel


def _pad(in_size: int, out_size: int, stride: int, k: int, same: bool) -> int:
    if not same:
        return 0
    total = max((out_size - 1) * stride + k - in_size, 0)
    return total - total // 2  # TFLM's SAME padding puts the odd pixel after: the larger side


def op_scratch(model: TfliteModel, kernels: str) -> list[int]:
    """16-byte-aligned scratch bytes each op of ``model`` asks for with ``kernels``
    (``reference``, ``cmsis-nn`` or ``cmsis-nn-nodsp``)."""
    out = []
    for op in model.ops:
        n = 0
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D") and op.inputs and op.outputs:
            x = model.tensors[op.inputs[0]].shape
            y = model.tensors[op.outputs[0]].shape
            o = op.options
            same = int(o.get("padding", 0)) == 0  # Padding.SAME is 0 in the schema
            if op.opcode == "AVERAGE_POOL_2D":
                kh, kw = int(o.get("filterHeight", 1)), int(o.get("filterWidth", 1))
            else:
                w = model.tensors[op.inputs[1]].shape  # OHWI (conv) or 1HWC (depthwise)
                kh, kw = int(w[1]), int(w[2])
            if len(x) == 4 and len(y) == 4:
                pad = max(_pad(x[1], y[1], int(o.get("strideH", 1)), kh, same),
                          _pad(x[2], y[2], int(o.get("strideW", 1)), kw, same))
                mult = int(o.get("depthMultiplier", 1)) or 1
                n = scratch_bytes(kernels, op.opcode, kh, int(x[3]), kernel_w=kw, pad=pad, depth_multiplier=mult)
        out.append(int(align(n)))
    return out


def largest_scratch(model: TfliteModel, kernels: str) -> int:
    """The largest scratch buffer of any op (0 with the reference kernels)."""
    return max(op_scratch(model, kernels), default=0)
