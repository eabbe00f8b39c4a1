"""The ground truth the native code must match: TFLite-Micro's host interpreter on int8 inputs."""
from __future__ import annotations

import numpy as np


def tflm_outputs(tflite_bytes: bytes, inputs_int8: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """Int8 outputs ``(N, output_size)`` of the TFLM host interpreter for int8 inputs
    ``(N, *input_shape)`` (or ``(N, input_size)``)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(bytes(tflite_bytes), arena_size=arena_size or
                                            max(1 << 20, 16 * len(tflite_bytes)))
    shape = tuple(int(s) for s in interp.get_input_details(0)["shape"])
    x = np.asarray(inputs_int8, dtype=np.int8).reshape((-1,) + shape[1:])
    outs = []
    for i in range(len(x)):
        interp.set_input(x[i:i + 1], 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0), dtype=np.int8).reshape(-1))
    return np.stack(outs)


def random_inputs(rng: np.random.Generator, n: int, shape) -> np.ndarray:
    """``n`` int8 inputs of ``shape`` covering the whole range (uniform), plus edge values
    (all -128, all 127) as the first two."""
    x = rng.integers(-128, 128, size=(n, *shape), dtype=np.int16).astype(np.int8)
    if n >= 2:
        x[0] = -128
        x[1] = 127
    return x
