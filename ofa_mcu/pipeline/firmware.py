"""The TFLite-Micro firmware step shared by ``build`` and ``deploy``: which arena to reserve (the
32-bit figure measured in QEMU when a TFLM tree is at hand, else the calibrated or derived
one) and, with a tree, the real link of the project for the board.

Where a figure is predicted the results say so; where it was measured (a QEMU run, a link)
they say that, and "fits" is only claimed for what linked.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError


@dataclass(frozen=True)
class FirmwareTarget:
    """How the firmware will be built: the kernel set, the TFLM tree (None: not linked here),
    and the model budget for them."""

    kernels: str
    tree: object | None  # codegen.tflm_tree.TflmTree
    budget: object  # ofa_mcu.boards.budget.ModelBudget


def firmware_target(board, backend: str, kernels: str | None, tflm_dir: str | None, build_system: str | None,
                    reserve_flash_kb: float | None = None, reserve_sram_kb: float | None = None) -> FirmwareTarget:
    """Check the kernel set and the tree (``--tflm-dir`` or ``$TFLM_DIR``) before any work; the
    budget for them (the board's application reserve unless given in KB)."""
    from codegen.tflm_tree import open_tree, tree_from_env

    from ..boards.budget import check_kernels, default_kernels

    tree_path = tree_from_env(tflm_dir)
    tree = None
    if backend == "tflm":
        if tree_path is not None:
            tree = open_tree(tree_path, kernels)
            kernels = kernels or tree.kernels
        kernels = check_kernels(kernels or default_kernels(board.core, build_system))
    else:
        kernels = kernels or "reference"
    budget = board.budget(backend, kernels=kernels, build_system=build_system,
                          reserve_flash_bytes=None if reserve_flash_kb is None else int(reserve_flash_kb * 1024),
                          reserve_sram_bytes=None if reserve_sram_kb is None else int(reserve_sram_kb * 1024))
    return FirmwareTarget(kernels, tree, budget)


def plan_kernels(target: FirmwareTarget, board) -> str:
    """The kernel set the calibrated memory model plans with for ``target`` on ``board`` (the
    native backend's search bounds the lab estimate and the flatbuffer, where the kernels do not
    matter)."""
    from ..efficiency.tflm_model import scratch_kernels

    return scratch_kernels(target.kernels, board.core) if target.kernels != "reference" else "reference"


def target_arena(tflite: bytes, board, target: FirmwareTarget, host_arena: int,
                 calibrated: int | None = None) -> tuple[dict, dict, dict | None]:
    """``(reserve, memory.target, usage)``: the arena to reserve and where its 32-bit figure
    comes from. Measured on the QEMU twin of the board's core when a tree is at hand (``usage``
    then holds the run's stack and heap peaks), else ``calibrated`` (the memory model's figure
    for the kernel set) when given, else derived from the host arena."""
    from codegen.project import derived_arena
    from codegen.tflm_target import measure_on_qemu, qemu_twin

    from ..boards.budget import arena_reserve

    info = {"kernels": target.kernels, "core": board.core}
    if target.tree is not None and qemu_twin(board.core) is not None:
        m = measure_on_qemu(tflite, board.core, target.tree, host_arena=host_arena, cpu_flags=board.cpu_flags)
        reserve = arena_reserve(m["arena_used_bytes"], "measured-qemu")
        usage = {k: m[k] for k in ("stack_used_bytes", "heap_used_bytes") if k in m}
        return reserve, {"arena_bytes": m["arena_used_bytes"], "source": "measured-qemu", "board": m["board"],
                         **info}, usage
    if calibrated is not None:
        reserve = arena_reserve(calibrated, "calibrated")
    else:
        reserve = derived_arena(tflite, host_arena, target.kernels, board.core)
    return reserve, {"arena_bytes": reserve["target_bytes"], "source": reserve["source"], **info}, None


def reserved_fields(reserve: dict, usage: dict | None) -> dict:
    """``memory.reserved``: the arena, stack and heap the bare-metal firmware reserves."""
    from codegen.project import baremetal_config

    bm = baremetal_config("tflm")
    out = {"arena_bytes": reserve["total"], "rule": reserve["rule"], "stack_bytes": bm["stack_bytes"],
           "heap_bytes": bm["heap_bytes"]}
    for k, v in (usage or {}).items():
        out[k] = int(v)
    return out


def link_project(project: Path, board, target: FirmwareTarget, quiet: bool = True) -> tuple[dict, str | None]:
    """Link the generated project against the tree (cached library) for ``board``: ``(memory.linked,
    error)``. A link that overflows the board's memory gives the linker's overflow as a one-line
    ``error`` (the project stays for inspection); the ``build/`` folder is removed otherwise."""
    import shutil

    from codegen.elf import ram_usage
    from codegen.flash import Options, plan, read_manifest, run_plan
    from codegen.native.qemu import firmware_sizes

    if target.tree is None or board.memory is None:
        return {}, None
    manifest = read_manifest(project)
    if manifest["build_system"] not in ("make", "cmake"):
        return {}, None
    opts = Options(tflm_dir=str(target.tree.root), kernels=target.kernels)
    try:
        run_plan(project, plan(manifest, opts, board=board), flash=False, quiet=quiet, echo=lambda _: None)
    except UserError as exc:
        if "does not fit" in str(exc):
            return {"note": str(exc)}, str(exc)
        raise
    elf = project / manifest["artifacts"]["elf"]
    sz = firmware_sizes(elf, board.memory.flash_origin, board.memory.flash_length)
    ram = ram_usage(elf, board.memory.ram_origin, board.memory.ram_length)
    linked = {"flash_bytes": sz["flash_bytes"], "flash_total_bytes": board.memory.flash_length,
              "ram_bytes": ram, "ram_total_bytes": board.memory.ram_length,
              "text_bytes": sz["text_bytes"], "rodata_bytes": sz["rodata_bytes"], "data_bytes": sz["data_bytes"],
              "bss_bytes": sz["bss_bytes"],
              "note": f"linked here against {target.tree.root.name} ({target.kernels} kernels) with arm-none-eabi-gcc; "
                      "RAM counts .data, .bss (the arena), the heap and the stack"}
    shutil.rmtree(project / "build", ignore_errors=True)
    return linked, None
