"""A .tflite measured on a 32-bit Cortex-M: its TFLite-Micro firmware linked against a real
TFLM tree (cached library) and run in QEMU on the emulated board with the same core.

TFLM's arena depends on the core's word size and on the kernel set (CMSIS-NN asks for scratch
buffers), not on the board: the Cortex-M4 and Cortex-M7 QEMU machines stand in for every board
with that core. The firmware prints ``arena_used_bytes`` after its first inference and its
stack and heap high-water marks (``templates/common/main.cc.j2``).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from ofa_mcu.boards import Board, list_boards
from ofa_mcu.errors import UserError

from .firmware_output import parse_usage
from .tflm_tree import TflmTree

# Headroom of the twin's own arena over the host measurement: the twin only has to run, in
# QEMU's 4 MB of RAM, so it is generous (CMSIS-NN scratch is a few KB at most).
TWIN_ARENA_SLACK = 1.25


def qemu_twin(core: str) -> Board | None:
    """The emulated board with ``core`` (None when QEMU has none, e.g. Cortex-M0+)."""
    for b in list_boards():
        if b.is_qemu and b.core == core:
            return b
    return None


def measure_on_qemu(tflite: bytes, core: str, tree: TflmTree, *, host_arena: int | None = None,
                    cpu_flags: tuple[str, ...] | None = None, workdir: str | Path | None = None) -> dict:
    """Build the model's TFLM firmware for the QEMU twin of ``core`` against ``tree`` and run it.

    ``cpu_flags`` (default: the twin's own) compile the firmware as the real board will, so the
    real board's cached library serves both; code built for a board's FPU runs on the twin's.

    Returns the firmware's usage lines (``arena_used_bytes``, ``stack_used_bytes``,
    ``heap_used_bytes`` and their reserved sizes), ``self_test``, ``board`` and the image's
    section sizes. A self-test that fails or a run that does not exit 0 is a RuntimeError (the
    figures would not be trustworthy)."""
    import dataclasses

    from ofa_mcu.quant.tflm_runner import measure_arena

    from .flash import Options, plan, read_manifest, run_plan
    from .native.qemu import firmware_sizes
    from .project import emit_project

    twin = qemu_twin(core)
    if twin is None:
        raise UserError(f"QEMU has no machine with a {core}; the 32-bit arena is derived, not measured")
    if cpu_flags is not None:
        twin = dataclasses.replace(twin, cpu_flags=tuple(cpu_flags))
    host = int(host_arena if host_arena is not None else measure_arena(tflite))
    with tempfile.TemporaryDirectory(prefix="ofa-twin-", dir=workdir) as tmp:
        project = Path(tmp) / "project"
        emit_project(tflite, twin, project, arena_bytes=int(host * TWIN_ARENA_SLACK), model_name="twin",
                     allow_over_budget=True)
        opts = Options(tflm_dir=str(tree.root), kernels=tree.kernels)
        res = run_plan(project, plan(read_manifest(project), opts, board=twin), echo=lambda _: None, quiet=True)
        usage = parse_usage(res.run_output)
        if res.returncode != 0 or usage.get("self_test") != "PASS" or "arena_used_bytes" not in usage:
            raise RuntimeError(f"the TFLM firmware failed on QEMU {twin.qemu_machine} (exit {res.returncode}): "
                               f"{res.run_output.strip()[-600:]}")
        elf = project / "build" / "app.elf"
        sizes = firmware_sizes(elf, twin.memory.flash_origin, twin.memory.flash_length)
    return {**usage, "board": twin.name, "kernels": tree.kernels, "sizes": sizes}
