"""``ofa-mcu deploy --backend native``: verify a user's int8 .tflite in TFLite-Micro, then write
the native C project (with the TFLM outputs of its test input as the firmware's verdict), its
``deploy_summary.json`` and the report's ``memory.native`` figures."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ofa_mcu.boards import Board, load_board
from ofa_mcu.errors import UserError
from ofa_mcu.io import check_output_folder, staged_output

from .. import cident
from ..model_settings import tensor_context
from ..project import budget_error, budgets, check_budget, verify_model
from .emit import artifacts, emit_native
from .graph import lower_tflite
from .targets import target_for

from .kernels import TFLM_HINT

SUMMARY = "deploy_summary.json"


def check_lowers(tflite_bytes: bytes):
    """The lowered graph, or a UserError (ending in the ``--backend tflm`` hint) when the native
    backend cannot lower the model: an op it has no kernel for, or an op form it does not support."""
    try:
        return lower_tflite(tflite_bytes)
    except UserError as exc:
        msg = str(exc)
        raise UserError(msg if TFLM_HINT in msg else f"{msg}; {TFLM_HINT}") from None


def _elf_figures(project: Path, board: Board, keep: bool = False) -> dict:
    """Section sizes of the project's firmware (built, measured, then removed unless ``keep``:
    ``ofa-mcu flash`` builds again); empty when this machine cannot build for the board."""
    if not (board.is_cortex_m and board.memory is not None and shutil.which("arm-none-eabi-gcc")):
        return {}
    from .qemu import build_firmware, firmware_sizes

    elf = build_firmware(project, board)
    sizes = firmware_sizes(elf, board.memory.flash_origin, board.memory.flash_length)
    if not keep:
        shutil.rmtree(project / "build", ignore_errors=True)
    return sizes


def native_summary(res, v, board: Board, tflite: bytes, flash_needed: int, elf: dict, labels: list[str]) -> dict:
    """``deploy_summary.json`` of a native project: the native figures (static buffer = the
    memory plan's peak, weights and tables, MACs, layers, firmware sections), the board's native
    budgets, the host TFLM reference (arena, ops, I/O) and the self-test."""
    sram_budget, flash_budget = budgets(board, "native")
    test = v.test
    return {
        "backend": "native",
        "board": board.name,
        "build_system": target_for(board).build_system,
        "model_bytes": len(tflite),
        "model_sha256": hashlib.sha256(tflite).hexdigest(),
        "ops": list(v.info.ops),
        "n_operators": v.info.n_operators,
        "input": tensor_context(v.info.input),
        "output": tensor_context(v.info.output),
        "arena_measured_bytes": v.host_arena,  # the TFLM reference the native plan is compared with
        "native": {
            "static_buffer_bytes": int(res.peak_bytes),
            "lower_bound_bytes": int(res.plan.lower_bound),
            "const_bytes": int(res.const_bytes),
            "model_data_flash_bytes": int(flash_needed),
            "macs": int(res.macs),
            "n_layers": len(res.graph.layers),
            "plan_png": "memory_plan.png" if "memory_plan.png" in res.paths else None,
            "artifacts": artifacts(board.name),
            **{k: int(val) for k, val in elf.items()},
        },
        "sram_budget_bytes": sram_budget,
        "flash_budget_bytes": flash_budget,
        "sram_headroom_bytes": sram_budget - int(res.peak_bytes),
        "flash_headroom_bytes": flash_budget - int(flash_needed),
        "fits": not check_budget(board, int(res.peak_bytes), flash_needed, "native"),
        "self_test": {"expected_class": test.expected_class, "expected_label": labels[test.expected_class],
                      "expected_scores": [int(x) for x in test.expected_scores], "input": test.description},
    }


def deploy_native(
    tflite_bytes: bytes,
    board: Board | str,
    out_dir: str | os.PathLike,
    *,
    labels: list[str] | None = None,
    test_image=None,
    preprocess: dict | None = None,
    model_name: str = "model",
    force: bool = False,
    test_description: str | None = None,
    allow_over_budget: bool = False,
    arena_bytes: int | None = None,
    keep_build: bool = False,
) -> tuple[Path, dict]:
    """Verify ``tflite_bytes`` in TFLite-Micro (as ``emit_project`` does), then write the native
    C project for ``board`` into ``out_dir`` atomically: the generated C, ``ofa-mcu.json``
    (build system ``native-make``), the memory plan PNG and ``deploy_summary.json``. The test
    input and TFLM's output for it are embedded, so the firmware's exit code is the verdict.
    A model over the board's native budgets is a UserError unless ``allow_over_budget``.
    ``keep_build``: leave the firmware built for the section sizes in ``build/`` (for a caller
    that runs it). Returns the project folder and the summary."""
    board = load_board(board) if isinstance(board, str) else board
    target_for(board)  # a board the backend cannot build for is refused before any work
    check_output_folder(out_dir, force)
    v = verify_model(tflite_bytes, labels=labels, test_image=test_image, arena_bytes=arena_bytes,
                     preprocess=preprocess, model_name=model_name, test_description=test_description)
    if v.info.input.dtype != "int8" or v.info.output.dtype != "int8":
        raise UserError(f"the native backend needs int8 input and output (the model has {v.info.input.dtype} -> "
                        f"{v.info.output.dtype}); {TFLM_HINT}")
    graph = check_lowers(tflite_bytes)
    with staged_output(out_dir, force, what="project folder", kind="native project") as tmp:
        res = emit_native(tflite_bytes, tmp, board=board, test_input_int8=v.test.input[None],
                          expected_output_int8=v.test.expected_scores.astype("int8")[None],
                          model_name=cident.c_identifier(model_name, "model"), force=True, graph=graph)
        flash_needed = int(res.const_bytes) + v.test.input.nbytes + v.test.expected_scores.nbytes
        problems = check_budget(board, int(res.peak_bytes), flash_needed, "native")
        if problems and not allow_over_budget:
            raise budget_error(board, problems)
        if problems:
            from ..flash import MANIFEST
            from .emit import write_readme

            write_readme(res, board, json.loads((tmp / MANIFEST).read_text()), problems)
        elf = _elf_figures(tmp, board, keep_build)
        summary = native_summary(res, v, board, tflite_bytes, flash_needed, elf, v.labels)
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Path(out_dir).resolve(), summary


def report_results(summary: dict, project: Path) -> dict:
    """What ``ofa_mcu.report.deploy.write_deploy_report`` merges over the summary for a native
    project: ``backend`` and ``memory.native`` (peak, firmware sections, plan PNG)."""
    n = summary["native"]
    native = {"peak_bytes": n["static_buffer_bytes"],
              "note": "static activation buffer of the generated C (memory plan peak); sections of the "
                      "firmware image (runtime and self-test vector included)"}
    for key in ("text_bytes", "rodata_bytes", "data_bytes"):
        if key in n:
            native[key] = n[key]
    if n.get("plan_png"):
        native["plan_png"] = str((Path(project) / n["plan_png"]).resolve())
    return {"backend": "native", "memory": {"native": native}}
