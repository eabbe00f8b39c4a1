"""Export a torch module to ONNX (TorchScript exporter, opset 13) and check it."""
from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import UserError
from ..io import atomic_path

OPSET = 13


def export_onnx(module, input_shape, path, opset: int = OPSET) -> Path:
    """Export ``module`` (switched to eval mode) with a dynamic batch dimension: input
    ``"input"`` of ``input_shape`` (N, C, H, W), output ``"logits"``. The file is written
    through a temporary name and checked with ``onnx.checker``; returns the path."""
    import onnx
    import torch

    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise UserError(f"input_shape {input_shape!r} must be (N, C, H, W) with positive sizes")
    path = Path(path)
    module = module.eval()
    with atomic_path(path) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deliberate
            torch.onnx.export(module, (torch.zeros(shape),), str(tmp), dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        onnx.checker.check_model(str(tmp), full_check=True)
    return path
