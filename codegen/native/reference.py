"""The ground truth the native code must match: TFLite-Micro's host interpreter on int8 inputs
(:func:`ofa_mcu.quant.tflm_runner.tflm_outputs`, re-exported here), and the test inputs."""
from __future__ import annotations

import numpy as np

from ofa_mcu.quant.tflm_runner import tflm_outputs

__all__ = ["tflm_outputs", "random_inputs"]


def random_inputs(rng: np.random.Generator, n: int, shape) -> np.ndarray:
    """``n`` int8 inputs of ``shape`` covering the whole range (uniform), plus edge values
    (all -128, all 127) as the first two."""
    x = rng.integers(-128, 128, size=(n, *shape), dtype=np.int16).astype(np.int8)
    if n >= 2:
        x[0] = -128
        x[1] = 127
    return x
