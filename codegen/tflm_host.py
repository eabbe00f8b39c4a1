"""The TFLite-Micro host interpreter (``tflite-micro`` wheel): arena size and reference outputs.

The firmware's arena size and its self-test expectations both come from here, so what the
board computes can be compared bit for bit with what the host computed.
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from ofa_mcu.errors import UserError

ARENA_ALIGN = 16


def _interpreter(tflite: bytes, arena_size: int):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(tflite, arena_size=int(arena_size))


@contextlib.contextmanager
def _quiet_fd2():
    """Silence C-level stderr (TFLM logs every failed allocation of the search there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _allocates(tflite: bytes, arena_size: int) -> bool:
    try:
        with _quiet_fd2():
            _interpreter(tflite, arena_size)
        return True
    except RuntimeError:
        return False


def measure_arena(tflite: bytes, granularity: int = ARENA_ALIGN) -> int:
    """Smallest ``arena_size`` (a multiple of ``granularity``) the host TFLM interpreter accepts.

    Uses ``ofa_mcu.quant.tflm_runner.smallest_arena`` (the quantization module's bisection,
    which accepts any op set) when present, else a bisection of its own. A model that TFLM
    cannot load at all (unknown op, malformed) is a UserError.
    """
    try:
        from ofa_mcu.quant.tflm_runner import smallest_arena
    except ImportError:
        smallest_arena = None
    if smallest_arena is not None:
        arena = int(smallest_arena(tflite)["tflm_arena_bytes"])
        return -(-arena // granularity) * granularity
    hi = max(4096, len(tflite) // 4)
    while not _allocates(tflite, hi):
        hi *= 2
        if hi > 1 << 30:
            try:
                _interpreter(tflite, hi)
            except RuntimeError as exc:
                raise UserError(f"TFLite-Micro cannot load the model ({exc}); check it runs in TFLM") from None
    lo = 0  # lo never allocates, hi always does
    while hi - lo > granularity:
        mid = (lo + hi) // 2 // granularity * granularity
        if mid <= lo:
            break
        if _allocates(tflite, mid):
            hi = mid
        else:
            lo = mid
    return hi


def run_reference(tflite: bytes, x: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """Run one input through the host TFLM interpreter; returns the first output (batch dim kept)."""
    it = _interpreter(tflite, arena_size or max(1 << 20, 10 * len(tflite)))
    try:
        it.set_input(x, 0)
        it.invoke()
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"TFLite-Micro failed to run the model on the test input ({exc})") from None
    return np.array(it.get_output(0))
