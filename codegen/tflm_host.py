"""The TFLite-Micro host interpreter (``tflite-micro`` wheel): arena size and reference outputs.

The firmware's arena size and its self-test expectations (both backends') come from here, so
what the board computes can be compared bit for bit with what the host computed.
"""
from __future__ import annotations

import numpy as np

from ofa_mcu.errors import UserError

ARENA_ALIGN = 16


def measure_arena(tflite: bytes, granularity: int = ARENA_ALIGN) -> int:
    """Smallest ``arena_size`` the host TFLM interpreter accepts, rounded up to ``granularity``.

    The bisection is ``ofa_mcu.quant.tflm_runner.smallest_arena`` (it accepts any op set,
    unlike ``measure_tflm``, which insists on the converter's clean full-int8 op set). A model
    TFLM cannot load at all is a UserError.
    """
    from ofa_mcu.quant.tflm_runner import smallest_arena

    arena = int(smallest_arena(tflite)["tflm_arena_bytes"])
    return -(-arena // granularity) * granularity


def tflm_outputs(tflite: bytes, inputs: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """Outputs ``(N, output_size)`` (the model's output dtype) of the host TFLM interpreter for
    inputs ``(N, *input_shape)`` or ``(N, input_size)`` in the model's input dtype."""
    from tflite_micro.python.tflite_micro import runtime

    try:
        interp = runtime.Interpreter.from_bytes(bytes(tflite), arena_size=int(arena_size or
                                                max(1 << 20, 16 * len(tflite))))
    except RuntimeError as exc:
        raise UserError(f"TFLite-Micro cannot load the model ({exc}); check it runs in TFLM") from None
    details = interp.get_input_details(0)
    shape = tuple(int(s) for s in details["shape"])
    x = np.asarray(inputs).astype(details["dtype"], copy=False).reshape((-1,) + shape[1:])
    outs = []
    try:
        for i in range(len(x)):
            interp.set_input(x[i:i + 1], 0)
            interp.invoke()
            outs.append(np.array(interp.get_output(0)).reshape(-1))
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"TFLite-Micro failed to run the model on the test input ({exc})") from None
    return np.stack(outs)


def run_reference(tflite: bytes, x: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """Run one input (``[1, ...]``) through the host TFLM interpreter; returns the first output
    with its batch dimension (``[1, classes]``)."""
    return tflm_outputs(tflite, x, arena_size)[:1]
