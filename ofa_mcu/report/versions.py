"""The exact versions of the converters, runtimes and tools a run used."""
from __future__ import annotations

import platform
import shutil
import subprocess
from importlib import metadata

# Report key -> the distributions that provide it (the first installed one wins).
DISTRIBUTIONS = {
    "ofa-mcu": ("ofa-mcu",),
    "torch": ("torch",),
    "onnx": ("onnx",),
    "onnxscript": ("onnxscript",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "keras": ("keras",),
    "ai-edge-litert": ("ai-edge-litert",),
    "tflite-micro": ("tflite-micro",),
    "numpy": ("numpy",),
    "flatbuffers": ("flatbuffers",),
}
# Report key -> command printing the tool's version (cross-compiler of the firmware).
TOOLS = {"arm-none-eabi-gcc": ("arm-none-eabi-gcc", "-dumpfullversion")}


def package_version(names: tuple[str, ...]) -> str | None:
    """The installed version of the first of ``names`` that is installed (None if none is)."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def tool_version(argv: tuple[str, ...]) -> str | None:
    """A command-line tool's version (first output line), None when it is not on PATH."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    line = (out.stdout or out.stderr).strip().splitlines()
    return line[0].strip() if out.returncode == 0 and line else None


def collect_versions(tools: bool = True) -> dict[str, str | None]:
    """``{component: exact version}`` of Python, the converters and runtimes of the chain
    (importlib.metadata; None for a package that is not installed) and, with ``tools``, the
    cross-compiler."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for key, names in DISTRIBUTIONS.items():
        out[key] = package_version(names)
    if tools:
        for key, argv in TOOLS.items():
            out[key] = tool_version(argv)
    return out
