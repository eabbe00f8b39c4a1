"""Run one slow, single-threaded call in a worker process while the caller does other work.

The host TFLM interpreter holds the GIL for each inference, so a thread cannot overlap it with
the TFLite and ONNX Runtime runs; a spawned process can (the build's verification step: about
38 s -> 24 s for 2,000 images at 48 px on 2 cores). ``spawn``, not ``fork``: the caller has
torch, ONNX Runtime and TensorFlow threads that a fork would copy in an unknown state.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..errors import UserError


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def beside(fn, *args, parallel: bool = True):
    """Start ``fn(*args)`` in a worker process and yield its :class:`Future`; the block's own
    work runs meanwhile. With ``parallel=False`` or one core, ``fn`` runs in this process first
    (same result). ``fn`` must be a module-level function; its exceptions re-raise at
    ``result()``, and a worker that dies (a native crash) is a one-line UserError when the block
    ends."""
    if not parallel or _cores() < 2:
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller at result(), like the pool does
            done.set_exception(exc)
        yield done
        return
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(fn, *args)
        yield future
        try:
            future.result()  # wait (and surface errors) before the pool shuts down
        except BrokenProcessPool:
            raise UserError(f"the worker process running {fn.__name__} died (a crash in native code); "
                            "rerun, and report it with the model if it happens again") from None
