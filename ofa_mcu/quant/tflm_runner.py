"""Run int8 ``.tflite`` models on the host: the TFLite interpreter and TFLite-Micro's host
interpreter (PyPI ``tflite-micro``), and measure TFLM's real arena. The one host-TFLM wrapper:
the converter's checks (:func:`run_tflm`, :func:`measure_tflm`) and the firmware's reference
outputs and arena for any int8 model (:func:`tflm_outputs`, :func:`measure_arena`).

TFLM's ``print_allocations()`` writes to the C-level stderr, so it is captured by redirecting
file descriptor 2. The smallest arena that allocates is found by bisection (TFLM's Python
API has no "arena used" query).
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile

import numpy as np

from ..errors import UserError
from .tflite_convert import nchw_to_nhwc
from .tflite_inspect import check_full_int8, inspect_tflite, quantize_input

_ALLOC_RE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_CATEGORY_RE = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+)")


@contextlib.contextmanager
def capture_fd2():
    """Capture everything written to file descriptor 2 (C and Python stderr) into a list of
    one string, available after the block."""
    out: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", errors="replace"))


def _tflm_runtime():
    from tflite_micro.python.tflite_micro import runtime

    return runtime


def tflm_version() -> str:
    """Installed ``tflite-micro`` version (the calibration records it)."""
    from importlib.metadata import version

    return version("tflite-micro")


def _try_interpreter(tflite_bytes: bytes, arena_size: int):
    """A TFLM interpreter with ``arena_size`` bytes, or ``None`` if it does not allocate."""
    runtime = _tflm_runtime()
    with capture_fd2():
        try:
            return runtime.Interpreter.from_bytes(tflite_bytes, arena_size=int(arena_size))
        except RuntimeError:
            return None


def _load_and_run(tflite_bytes: bytes) -> bool:
    """Load the model in TFLM with the arenas :func:`smallest_arena` starts with and run one
    inference on zeros: whether that worked."""
    with capture_fd2():
        size, interp = max(1 << 16, 2 * len(tflite_bytes)), None
        while interp is None and size <= 1 << 31:
            interp = _try_interpreter(tflite_bytes, size)
            size *= 2
        if interp is None:
            return False
        details = interp.get_input_details(0)
        try:
            _invoke(interp, np.zeros(tuple(int(s) for s in details["shape"]), dtype=details["dtype"]))
        except (RuntimeError, ValueError):
            return False
    return True


def _probe_worker(tflite_bytes: bytes) -> None:
    """:func:`check_tflm_survives`'s worker: :func:`_load_and_run`, silent, its outcome ignored (a
    model TFLM refuses is reported by the caller's own run later); only a crash matters here."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    try:
        _load_and_run(tflite_bytes)
    except Exception:  # noqa: BLE001 - a refusal is not this check's business, only a crash is
        pass


# Signals that end a process whose native code read a damaged flatbuffer.
CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE, signal.SIGILL})
PROBE_TIMEOUT_S = 300


def check_tflm_survives(tflite_bytes: bytes, what: str = "model") -> None:
    """The first contact of host TFLM with a user's model, in a spawned worker process (spawn,
    not fork, for ``ofa_mcu.quant.beside``'s reason: the caller may hold torch/TensorFlow threads):
    TFLite-Micro's interpreter reads a damaged flatbuffer's fields unchecked and can crash the
    process; a worker killed by such a signal is a one-line UserError here. A model TFLM merely
    refuses passes (the callers report that). Costs one interpreter start in a fresh process.

    Not ``beside()`` itself: its pool hides the worker's exit status (a signal and a worker that
    could not start look alike) and it runs in this process on one core."""
    import multiprocessing

    worker = multiprocessing.get_context("spawn").Process(target=_probe_worker, args=(bytes(tflite_bytes),))
    worker.start()
    worker.join(PROBE_TIMEOUT_S)
    if worker.is_alive():
        worker.kill()
        worker.join()
        raise UserError(f"TFLite-Micro's interpreter did not load {what} within {PROBE_TIMEOUT_S} s: the flatbuffer "
                        "may be damaged; re-export it")
    if worker.exitcode is not None and -worker.exitcode in CRASH_SIGNALS:
        raise UserError(f"TFLite-Micro's interpreter crashed on {what}: the flatbuffer is damaged; re-export it")


def parse_allocations(text: str) -> dict:
    """Parse ``print_allocations()`` output: ``total``, ``head``, ``tail`` and per-category
    ``categories[name] = (used, requested, count)``."""
    out: dict = {"categories": {}}
    for key, val in _ALLOC_RE.findall(text):
        out[key] = int(val)
    for name, used, req, count in _CATEGORY_RE.findall(text):
        out["categories"][name] = [int(used), int(req), int(count)]
    if not {"total", "head", "tail"} <= set(out):
        raise RuntimeError(f"could not parse TFLM allocation report: {text[:200]!r}")
    return out


def allocation_report(interpreter) -> dict:
    """The parsed ``print_allocations()`` of a TFLM interpreter."""
    with capture_fd2() as cap:
        interpreter.print_allocations()
    return parse_allocations(cap[0])


def _open_tflm(tflite_bytes: bytes, arena_size: int | None):
    info = check_full_int8(tflite_bytes)
    size = arena_size if arena_size is not None else max(1 << 16, 4 * len(tflite_bytes))
    interp = _try_interpreter(tflite_bytes, size)
    if interp is None and arena_size is None:
        interp = _try_interpreter(tflite_bytes, smallest_arena(tflite_bytes)["tflm_arena_bytes"])
    if interp is None:
        raise UserError(f"TFLM could not allocate the model in a {size}-byte arena; pass a larger arena_size "
                        "(measure_tflm reports the smallest that works)")
    return interp, info


def _run(tflite_bytes: bytes, images_nchw: np.ndarray, step) -> np.ndarray:
    info = inspect_tflite(tflite_bytes)
    images = np.asarray(images_nchw, dtype=np.float32)
    shape = info["input"]["shape"]
    if images.ndim != 4 or [1, *images.shape[2:], images.shape[1]] != shape:
        raise UserError(f"images have shape {images.shape}; the model takes NCHW (N, {shape[3]}, {shape[1]}, "
                        f"{shape[2]})")
    q = quantize_input(nchw_to_nhwc(images), info["input"]["scale"], info["input"]["zero_point"])
    return np.stack([step(q[i:i + 1]) for i in range(len(q))]).reshape(len(q), -1)


def _invoke(interp, x: np.ndarray) -> np.ndarray:
    """One inference of a TFLM interpreter: its first output, flat."""
    interp.set_input(x, 0)
    interp.invoke()
    return np.array(interp.get_output(0)).reshape(-1)


def run_tflm(tflite_bytes: bytes, images_nchw_float: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """int8 logits ``(N, classes)`` from the TFLM host interpreter; the float NCHW images are
    quantized with the model's input parameters. Non-int8 or malformed models get a UserError."""
    interp, _ = _open_tflm(tflite_bytes, arena_size)
    return _run(tflite_bytes, images_nchw_float, lambda x: _invoke(interp, x).astype(np.int8))


def tflm_outputs(tflite: bytes, inputs: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """Outputs ``(N, output_size)`` (the model's output dtype) of the host TFLM interpreter for
    inputs ``(N, *input_shape)`` or ``(N, input_size)`` in the model's input dtype: the
    reference the firmware of either backend is compared with bit for bit. Any op set TFLM
    runs (not only the converter's)."""
    try:
        interp = _tflm_runtime().Interpreter.from_bytes(bytes(tflite), arena_size=int(
            arena_size or max(1 << 20, 16 * len(tflite))))
    except RuntimeError as exc:
        raise UserError(f"TFLite-Micro cannot load the model ({exc}); check it runs in TFLM") from None
    details = interp.get_input_details(0)
    shape = tuple(int(s) for s in details["shape"])
    x = np.asarray(inputs).astype(details["dtype"], copy=False).reshape((-1,) + shape[1:])
    try:
        return np.stack([_invoke(interp, x[i:i + 1]) for i in range(len(x))])
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"TFLite-Micro failed to run the model on the test input ({exc})") from None


def run_reference(tflite: bytes, x: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """Run one input (``[1, ...]``) through the host TFLM interpreter; returns the first output
    with its batch dimension (``[1, classes]``)."""
    return tflm_outputs(tflite, x, arena_size)[:1]


def run_tflite(tflite_bytes: bytes, images_nchw_float: np.ndarray, kernels: str = "reference") -> np.ndarray:
    """int8 logits ``(N, classes)`` from the TFLite (LiteRT) interpreter. ``kernels`` is
    ``"reference"`` (TFLite's reference kernels: bit-exact with TFLM except FULLY_CONNECTED,
    which can differ by 1 LSB) or ``"optimized"`` (the default CPU kernels, up to 2 LSB)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    info = inspect_tflite(tflite_bytes)
    if info["input"]["dtype"] != "int8":
        raise UserError("run_tflite expects a full-int8 model (int8 input); convert it with convert_int8")
    resolvers = {"reference": OpResolverType.BUILTIN_REF, "optimized": OpResolverType.AUTO}
    if kernels not in resolvers:
        raise UserError(f"unknown kernels {kernels!r}; choose one of {sorted(resolvers)}")
    interp = Interpreter(model_content=bytes(tflite_bytes), experimental_op_resolver_type=resolvers[kernels])
    interp.allocate_tensors()
    in_idx = interp.get_input_details()[0]["index"]
    out_idx = interp.get_output_details()[0]["index"]

    def step(x):
        interp.set_tensor(in_idx, x)
        interp.invoke()
        return interp.get_tensor(out_idx).copy()

    return _run(tflite_bytes, images_nchw_float, step)


# tflite-micro's host interpreter crashes the process (instead of failing) in arenas of a few
# hundred bytes, so the bisection never goes below this.
MIN_PROBE_BYTES = 1024


def _allocates(tflite_bytes: bytes, arena_size: int) -> bool:
    """Whether a TFLM interpreter with ``arena_size`` bytes allocates, probed in a forked child:
    some TFLM kernels dereference a failed persistent allocation in an arena slightly too small
    and crash the process (seen on a 640-wide FULLY_CONNECTED stack), which then counts as not
    allocating instead of killing the caller."""
    if not hasattr(os, "fork"):
        return _try_interpreter(tflite_bytes, arena_size) is not None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 when it allocates (a crash is the answer "no", not news)
        import faulthandler

        faulthandler.disable()
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        try:
            ok = _try_interpreter(tflite_bytes, arena_size) is not None
        finally:
            os._exit(0 if locals().get("ok") else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def smallest_arena(tflite_bytes: bytes) -> dict:
    """The smallest TFLM arena that allocates (bisection), with the ``print_allocations``
    report of an interpreter at that size: ``tflm_arena_bytes``, ``head``, ``tail``,
    ``report_total`` and ``categories``."""
    size = max(1 << 16, 2 * len(tflite_bytes))
    interp = _try_interpreter(tflite_bytes, size)
    while interp is None:
        size *= 2
        if size > 1 << 31:
            raise UserError("TFLM could not allocate the model even in a 2 GiB arena; check the model's ops")
        interp = _try_interpreter(tflite_bytes, size)
    report = allocation_report(interp)
    del interp
    hi = report["total"] + 64  # the report counts from the aligned arena start; allow slack
    while not _allocates(tflite_bytes, hi):
        hi *= 2
    lo = max(MIN_PROBE_BYTES, report["total"] - 1024)
    while _allocates(tflite_bytes, lo):
        if lo == MIN_PROBE_BYTES:  # allocates in the smallest arena we dare to try
            hi = lo
            break
        hi, lo = lo, max(MIN_PROBE_BYTES, lo // 2)
    while hi - lo > 1:  # invariant: lo fails, hi allocates
        mid = (lo + hi) // 2
        if not _allocates(tflite_bytes, mid):
            lo = mid
        else:
            hi = mid
    final = allocation_report(_try_interpreter(tflite_bytes, hi))
    return {"tflm_arena_bytes": hi, "head": final["head"], "tail": final["tail"], "report_total": final["total"],
            "categories": final["categories"]}


ARENA_ALIGN = 16


def measure_arena(tflite: bytes, granularity: int = ARENA_ALIGN) -> int:
    """Smallest ``arena_size`` the host TFLM interpreter accepts for any int8 model (not only
    the converter's op set, unlike :func:`measure_tflm`), rounded up to ``granularity``. A model
    TFLM cannot load at all is a UserError."""
    arena = int(smallest_arena(tflite)["tflm_arena_bytes"])
    return -(-arena // granularity) * granularity


def measure_tflm(tflite_bytes: bytes) -> dict:
    """Real TFLM host figures of a full-int8 model: ``tflm_arena_bytes`` (smallest arena that
    allocates), ``head`` (activation plan) and ``tail`` (persistent data) as
    ``print_allocations`` reports them, ``tflite_bytes`` (flatbuffer size), ``ops`` (op names
    in order), ``op_counts``, ``n_tensors`` and the per-category ``categories`` breakdown.

    Figures are for the 64-bit host interpreter (see ``ofa_mcu.efficiency.tflm_model`` for the
    32-bit target estimate)."""
    info = check_full_int8(tflite_bytes)
    arena = smallest_arena(tflite_bytes)
    return {
        "tflm_arena_bytes": arena["tflm_arena_bytes"],
        "head": arena["head"],
        "tail": arena["tail"],
        "report_total": arena["report_total"],
        "tflite_bytes": len(tflite_bytes),
        "ops": sorted(info["op_counts"]),
        "op_sequence": info["ops"],
        "op_counts": info["op_counts"],
        "n_tensors": info["n_tensors"],
        "weight_bytes": info["weight_bytes"],
        "bias_bytes": info["bias_bytes"],
        "categories": arena["categories"],
        "tflm_version": tflm_version(),
    }
