"""``emit_native``: a verified int8 .tflite -> a self-contained C99 project (generated model,
kernels, startup code, linker script, main, Makefile, ``ofa-mcu.json``) for the host and
QEMU/Cortex-M boards."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ofa_mcu.errors import UserError
from ofa_mcu.io import atomic_write_text, write_json

from ..paths import firmware_dir, templates_dir
from .boards import resolve_board
from .cemit import flash_bytes, render_layers
from .graph import Graph, lower_tflite
from .memory import MemoryPlan, check_plan, plan_memory

BUILD_SYSTEM = "native-make"
STARTUP = "startup/startup_cortexm.c"
LINKER = "startup/linker.ld"


def artifacts(board_name: str) -> dict:
    """Where ``make firmware`` / ``make bin`` put the image of ``board_name``."""
    return {"elf": f"build/{board_name}/app.elf", "bin": f"build/{board_name}/app.bin"}


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
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "native")),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=False,
                              lstrip_blocks=False)


def _manifest(b: dict, model_name: str, tflite: bytes) -> dict:
    from ofa_mcu.boards import load_board

    from ..flash import project_manifest

    return project_manifest(backend="native", board=load_board(b["name"]), build_system=BUILD_SYSTEM,
                            project=model_name, artifacts=artifacts(b["name"]), model_name=model_name,
                            tflite=bytes(tflite))


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
                force: bool = False) -> NativeResult:
    """Generate the native C project for ``tflite_bytes`` in ``out_dir``.

    ``test_input_int8``: one or more int8 inputs (``(N, *input_shape)`` or one input) that
    ``main.c`` runs; ``expected_output_int8``: their expected int8 outputs (from TFLM), which
    make the firmware's exit code the verdict. ``board``: a catalog name, a ``Board`` or a
    mapping with ``name``, ``qemu_machine``, ``cpu_flags`` (and ``memory`` regions for a linker
    script). ``fuse``: expand+depthwise fusion policy (auto/always/never). A catalog board's
    project also gets ``ofa-mcu.json``, so ``ofa-mcu flash`` builds and runs (or flashes) it.
    Refuses to overwrite a non-empty ``out_dir`` without ``force``.
    """
    from ofa_mcu.io import refuse_clobber

    out_dir = Path(out_dir)
    refuse_clobber(out_dir, force, "native project directory")
    b = resolve_board(board)
    graph = lower_tflite(tflite_bytes, fuse=fuse)
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
               startup=STARTUP, **artifacts(b["name"]))
    env = _jinja()
    paths: dict[str, Path] = {}
    for tpl, name in (("ofa_model.c.j2", "ofa_model.c"), ("ofa_model.h.j2", "ofa_model.h"), ("main.c.j2", "main.c"),
                      ("Makefile.j2", "Makefile")):
        paths[name] = out_dir / name
        atomic_write_text(paths[name], env.get_template(tpl).render(**ctx))
    paths["host_runner.c"] = out_dir / "host_runner.c"
    shutil.copyfile(templates_dir() / "native" / "host_runner.c", paths["host_runner.c"])
    (out_dir / "ofa_native").mkdir(parents=True, exist_ok=True)
    for src in sorted((firmware_dir() / "native").glob("*.[ch]")):
        shutil.copyfile(src, out_dir / "ofa_native" / src.name)
    (out_dir / STARTUP).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(firmware_dir() / "startup" / Path(STARTUP).name, out_dir / STARTUP)
    if b.get("memory"):
        from ..project import linker_script

        paths["linker.ld"] = out_dir / LINKER
        atomic_write_text(paths["linker.ld"], linker_script(
            b, f"Generated by ofa-mcu (native backend) for {b['name']}; do not edit, regenerate.", backend="native"))
    if b.get("catalog"):
        from ..flash import MANIFEST

        paths[MANIFEST] = out_dir / MANIFEST
        atomic_write_text(paths[MANIFEST], json.dumps(_manifest(b, model_name, tflite_bytes), indent=2,
                                                      sort_keys=True) + "\n")
    result = NativeResult(out_dir, paths, graph, plan, plan.peak_bytes, const_bytes, graph.macs, b, layers)
    paths["plan.json"] = out_dir / "plan.json"
    write_json(paths["plan.json"], result.summary())
    if plot:
        paths["memory_plan.png"] = out_dir / "memory_plan.png"
        plan.plot(paths["memory_plan.png"], title=f"{model_name}: native arena {plan.peak_bytes:,} B")
    return result
