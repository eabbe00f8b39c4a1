"""Build a generated native project with the host's gcc and run it on many inputs (the
bit-exactness harness: the same C that goes into the firmware, compiled for the host)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ofa_mcu.errors import UserError

from ..flash import require_executable


def build_host(project_dir, target: str = "runner", extra_flags: list[str] | None = None) -> Path:
    """Compile ``host_runner.c`` (``target="runner"``) or ``main.c`` (``"selftest"``) with the
    generated model and kernels into ``build/host/<target>`` with the project's own Makefile
    (warnings are errors); returns the executable."""
    d = Path(project_dir)
    if target not in ("runner", "selftest"):
        raise UserError(f"unknown host target {target!r}; choose runner or selftest")
    if not (d / "Makefile").is_file() or not (d / "ofa_model.c").is_file():
        raise UserError(f"{str(d)!r} is not a generated native project (no Makefile / ofa_model.c); run codegen first")
    exe = d / "build" / "host" / target
    cc = shutil.which("gcc") or require_executable("cc", "apt-get install gcc")
    cmd = [require_executable("make", "apt-get install make"), "-B", "-C", str(d), f"build/host/{target}",
           f"HOST_CC={cc}", "HOST_EXTRA=" + " ".join(["-Werror", *(extra_flags or [])])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"host build failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
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
