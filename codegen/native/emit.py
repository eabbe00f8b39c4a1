"""``emit_native``: a verified int8 .tflite -> a self-contained C99 project (generated model,
kernels, main, Makefile, README, ``ofa-mcu.json``) for the host and the board's firmware target
(``codegen.native.targets``: the bare-metal BSP, startup and linker script for the STM32 and
QEMU boards; a Pico SDK project for the RP2040)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ofa_mcu.errors import UserError
from ofa_mcu.io import atomic_write_text, write_json

from ..paths import firmware_dir, templates_dir
from .boards import MACHINE_BOARDS, resolve_board
from .cemit import flash_bytes, render_layers
from .graph import Graph, lower_tflite
from .memory import MemoryPlan, check_plan, plan_memory
from .targets import NativeTarget, target_for

BUILD_SYSTEM = "native-make"
STARTUP = "startup/startup_cortexm.c"
LINKER = "startup/linker.ld"
BSP_DIR = "bsp"


def catalog_board(board: Any):
    """The catalog ``Board`` behind a name, a QEMU machine name, a ``Board`` (kept as given, so a
    console chosen with ``Board.with_console`` stays) or a mapping naming a catalog board."""
    from ofa_mcu.boards import Board, board_names, load_board

    if isinstance(board, Board):
        return board
    name = board if isinstance(board, str) else (board.get("name") if isinstance(board, Mapping) else None)
    name = MACHINE_BOARDS.get(name, name)
    if not name or name not in board_names():
        raise UserError(f"native firmware needs a board from the catalog, got {board!r}; ofa-mcu boards lists them")
    return load_board(name)


def artifacts(board_name: str) -> dict:
    """Where the firmware build puts the image of ``board_name`` (per its native target)."""
    return target_for(catalog_board(board_name)).artifacts_for(board_name)


@dataclass
class NativeResult:
    """What :func:`emit_native` wrote and what it planned."""

    out_dir: Path
    paths: dict[str, Path]
    graph: Graph
    plan: MemoryPlan
    peak_bytes: int
    const_bytes: int
    macs: int
    board: dict
    layers: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        """Plain-JSON summary (what ``plan.json`` holds)."""
        return {
            "arena_bytes": self.peak_bytes,
            "lower_bound_bytes": self.plan.lower_bound,
            "const_bytes": self.const_bytes,
            "macs": self.macs,
            "n_layers": len(self.graph.layers),
            "board": self.board["name"],
            "plan_strategy": self.plan.strategy,
            "layers": [{"index": l.index, "kernel": l.kernel, "name": l.name, "macs": l.macs, "tflite_ops": l.ops,
                        "output_offset": self.plan.offsets[l.output], "output_bytes": self.graph.buffers[l.output].size,
                        "scratch_bytes": l.scratch_bytes, "overlaps_input": bool(self.plan.overlaps.get(l.index))}
                       for l in self.graph.layers],
        }


def _jinja():
    """The environment of the generated C model files (whitespace exactly as written)."""
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "native")),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=False,
                              lstrip_blocks=False)


def _manifest(board, target: NativeTarget, model_name: str, tflite: bytes) -> dict:
    from ..flash import project_manifest

    return project_manifest(backend="native", board=board, build_system=target.build_system, project=model_name,
                            artifacts=target.artifacts_for(board.name), model_name=model_name, tflite=bytes(tflite))


def _board_files(board, target: NativeTarget, banner: str) -> dict[str, str]:
    """``bsp/board_config.h`` and, for the bare-metal target, the generated linker script."""
    from ..bsp_config import board_config_context
    from ..project import linker_script, template_environment

    files = {f"{BSP_DIR}/board_config.h": template_environment().get_template("common/board_config.h.j2").render(
        banner=banner, board=board, bsp=board_config_context(board, target.build_system))}
    if target.linker_script:
        files[target.linker_script] = linker_script(board, banner, backend="native")
    return files


KERNEL_DIR = "ofa_native"
SHARED_SOURCES = ("ofa_native.h", "ofa_marker.c")


def kernel_sources(graph: Graph) -> dict[str, str]:
    """The project's ``ofa_native/`` files: the C of the kernels the graph calls (and those they
    use), the shared arithmetic header, the layer marker and the generated ``ofa_kernels.h``."""
    from .cemit import header
    from .kernels import kernel

    used: dict[str, object] = {}

    def add(name: str) -> None:
        k = kernel(name)
        if name not in used:
            used[name] = k
            for d in k.depends:
                add(d)

    for l in graph.layers:
        add(l.kernel)
    files = {f"{KERNEL_DIR}/ofa_kernels.h": header(list(used.values()), graph.layers)}
    for name in SHARED_SOURCES + tuple(sorted(k.c_file for k in used.values() if k.c_file)):
        files[f"{KERNEL_DIR}/{name}"] = (firmware_dir() / "native" / name).read_text(encoding="utf-8")
    return files


def _rows(arr: np.ndarray | None, n: int, size: int, what: str) -> list[str] | None:
    if arr is None:
        return None
    a = np.asarray(arr)
    if a.dtype != np.int8:
        raise UserError(f"{what} must be int8 (got {a.dtype}); quantize it with the model's input parameters")
    if a.size % size or a.size // size != n:
        raise UserError(f"{what} has {a.size} values; expected {n} x {size}")
    a = a.reshape(n, size)
    return [", ".join(str(int(v)) for v in row) for row in a]


def emit_native(tflite_bytes: bytes, out_dir, *, board: Any = "qemu-mps2-an386", test_input_int8=None,
                expected_output_int8=None, model_name: str = "model", fuse: str = "auto", plot: bool = True,
                force: bool = False, choices: dict | None = None, graph=None) -> NativeResult:
    """Generate the native C project for ``tflite_bytes`` in ``out_dir``.

    ``test_input_int8``: one or more int8 inputs (``(N, *input_shape)`` or one input) that
    ``main.c`` runs; ``expected_output_int8``: their expected int8 outputs (from TFLM), which
    make the firmware's exit code the verdict. ``board``: a catalog name, a ``Board`` or a
    mapping with ``name``, ``qemu_machine``, ``cpu_flags`` (and ``memory`` regions for a linker
    script). ``fuse``: expand+depthwise fusion policy (auto/always/never); ``choices``: see
    :func:`~codegen.native.graph.lower_tflite`; ``graph``: the model already lowered with
    ``fuse="auto"`` and no ``choices`` (the caller checked it lowers). A catalog board's
    project also gets ``ofa-mcu.json``, so ``ofa-mcu flash`` builds and runs (or flashes) it.
    Refuses to overwrite a non-empty ``out_dir`` without ``force``.
    """
    from ofa_mcu.io import refuse_clobber

    from ..bsp_config import pico_clock_defines
    from ..flash import QEMU_FLAGS

    out_dir = Path(out_dir)
    board_obj = catalog_board(board)
    target = target_for(board_obj)
    refuse_clobber(out_dir, force, "native project directory")
    b = resolve_board(board_obj)
    if graph is None or fuse != "auto" or choices:
        graph = lower_tflite(tflite_bytes, fuse=fuse, choices=choices)
    plan = plan_memory(graph)
    bad = check_plan(graph, plan)
    if bad:
        raise RuntimeError(f"internal error: memory plan invalid: {bad[0]}")
    in_size = int(np.prod(graph.input_shape))
    out_size = int(np.prod(graph.output_shape))
    if test_input_int8 is None:
        test_input_int8 = np.zeros((1, in_size), np.int8) + np.int8(graph.input_zero_point)
    tin = np.asarray(test_input_int8)
    n_tests = max(1, tin.size // in_size)
    inputs = _rows(tin, n_tests, in_size, "test_input_int8")
    expected = _rows(expected_output_int8, n_tests, out_size, "expected_output_int8")
    layers = render_layers(graph, plan)
    const_bytes = flash_bytes(graph)
    ctx = dict(model_name=model_name, input_size=in_size, output_size=out_size, arena_size=plan.peak_bytes,
               n_layers=len(graph.layers), input_scale=repr(float(graph.input_scale)),
               input_zero_point=graph.input_zero_point, output_scale=repr(float(graph.output_scale)),
               output_zero_point=graph.output_zero_point, input_shape="x".join(map(str, graph.input_shape)),
               output_shape="x".join(map(str, graph.output_shape)), macs=graph.macs, const_bytes=const_bytes,
               layers=layers, input_offset=plan.offsets[graph.input], output_offset=plan.offsets[graph.output],
               n_tests=n_tests, inputs=inputs, expected=expected, board_name=b["name"],
               qemu_machine=b.get("qemu_machine"), cpu_flags=" ".join(b["cpu_flags"]), linker_script=LINKER,
               startup=STARTUP, target=target.name, console=board_obj.console, qemu_flags=" ".join(QEMU_FLAGS),
               pico_clock_defines=pico_clock_defines(board_obj), **target.artifacts_for(b["name"]))
    paths: dict[str, Path] = {}
    env = _jinja()
    for tpl, name in (("ofa_model.c.j2", "ofa_model.c"), ("ofa_model.h.j2", "ofa_model.h")):
        paths[name] = out_dir / name
        atomic_write_text(paths[name], env.get_template(tpl).render(**ctx))
    from ..project import template_environment

    tenv = template_environment()
    for name, tpl in [("main.c", "main.c.j2"), *target.render.items()]:
        if name == "README.md":
            continue  # written last, with the manifest's commands (write_readme)
        paths[name] = out_dir / name
        atomic_write_text(paths[name], tenv.get_template(f"native/{tpl}").render(**ctx))
    paths["host_runner.c"] = out_dir / "host_runner.c"
    shutil.copyfile(templates_dir() / "native" / "host_runner.c", paths["host_runner.c"])
    for rel, text in kernel_sources(graph).items():
        paths[rel] = out_dir / rel
        atomic_write_text(paths[rel], text)
    for dst, src in target.copy.items():
        (out_dir / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(firmware_dir() / src, out_dir / dst)
        paths[dst] = out_dir / dst
    banner = f"Generated by ofa-mcu (native backend) for {b['name']}; do not edit, regenerate."
    for rel, text in _board_files(board_obj, target, banner).items():
        paths["linker.ld" if rel == target.linker_script else rel] = out_dir / rel
        atomic_write_text(out_dir / rel, text)
    from ..flash import MANIFEST

    manifest = _manifest(board_obj, target, model_name, tflite_bytes)
    paths[MANIFEST] = out_dir / MANIFEST
    atomic_write_text(paths[MANIFEST], json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    result = NativeResult(out_dir, paths, graph, plan, plan.peak_bytes, const_bytes, graph.macs, b, layers)
    paths["plan.json"] = out_dir / "plan.json"
    write_json(paths["plan.json"], result.summary())
    if plot:
        paths["memory_plan.png"] = out_dir / "memory_plan.png"
        plan.plot(paths["memory_plan.png"], title=f"{model_name}: native arena {plan.peak_bytes:,} B")
    paths["README.md"] = write_readme(result, board_obj, manifest)
    return result


def write_readme(result: "NativeResult", board, manifest: dict, budget_problems: list[str] | None = None) -> Path:
    """The project's README.md: what it is, and how to build, flash and watch it on this board
    (the exact commands of ``ofa-mcu flash``); a project over the board's budgets says so first."""
    from ..bsp_config import board_config_context
    from ..flash import Options, plan
    from ..project import template_environment

    steps = plan(manifest, Options(placeholders=True))
    text = template_environment().get_template("native/README.md.j2").render(
        model_name=manifest["project"], board=board, res=result, manifest=manifest,
        target=target_for(board).name, budget_problems=list(budget_problems or []),
        build_commands=[s.shell() for s in steps.build], flash_commands=[s.shell() for s in steps.flash],
        bsp=board_config_context(board, manifest["build_system"]))
    path = Path(result.out_dir) / "README.md"
    atomic_write_text(path, text)
    return path
