"""Build a generated native project with the host's gcc and run it on many inputs (the
bit-exactness harness: the same C that goes into the firmware, compiled for the host)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ofa_mcu.errors import UserError

HOST_FLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"]


def _cc() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise UserError("no host C compiler found; install gcc (apt-get install gcc)")
    return cc


def build_host(project_dir, target: str = "runner", extra_flags: list[str] | None = None) -> Path:
    """Compile ``host_runner.c`` (``target="runner"``) or ``main.c`` (``"selftest"``) with the
    generated model and kernels into ``build/host/<target>``; returns the executable."""
    d = Path(project_dir)
    main = {"runner": "host_runner.c", "selftest": "main.c"}[target]
    srcs = [d / main, d / "ofa_model.c"] + sorted((d / "ofa_native").glob("*.c"))
    exe = d / "build" / "host" / target
    exe.parent.mkdir(parents=True, exist_ok=True)
    cmd = [_cc(), *HOST_FLAGS, *(extra_flags or []), f"-I{d}", f"-I{d / 'ofa_native'}", "-o", str(exe),
           *map(str, srcs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"host build failed:\n{proc.stderr[-4000:]}")
    return exe


def run_host(exe, inputs_int8: np.ndarray, output_size: int, timeout: float = 600) -> np.ndarray:
    """Run the host runner on ``inputs_int8`` ``(N, ...)``; returns ``(N, output_size)`` int8."""
    x = np.ascontiguousarray(np.asarray(inputs_int8, dtype=np.int8))
    n = x.shape[0]
    with tempfile.TemporaryDirectory(prefix="ofa-native-") as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(x.tobytes())
        proc = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"host run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        out = np.frombuffer(fout.read_bytes(), dtype=np.int8)
    if out.size != n * output_size:
        raise RuntimeError(f"host run wrote {out.size} values; expected {n} x {output_size}")
    return out.reshape(n, output_size)
