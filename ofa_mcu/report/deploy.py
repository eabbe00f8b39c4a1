"""The report ``ofa-mcu deploy`` writes into every project it generates."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..errors import UserError
from .versions import collect_versions
from .writer import write_report

REPORT_DIR = "report"


def board_fields(board: Any) -> dict:
    """``results["memory"]["board"]`` of an ``ofa_mcu.boards.Board`` (or a board name)."""
    if isinstance(board, str):
        from ..boards import load_board

        board = load_board(board)
    return {
        "name": board.name,
        "sram_bytes": board.sram_bytes,
        "flash_bytes": board.flash_bytes,
        "runtime_sram_bytes": board.runtime_sram_bytes,
        "runtime_flash_bytes": board.runtime_flash_bytes,
        "model_sram_budget": board.model_sram_budget,
        "model_flash_budget": board.model_flash_budget,
        "native_runtime_sram_bytes": board.native_runtime_sram_bytes,
        "native_runtime_flash_bytes": board.native_runtime_flash_bytes,
        "native_model_sram_budget": board.native_model_sram_budget,
        "native_model_flash_budget": board.native_model_flash_budget,
    }


def _tensor(t: Mapping | None) -> dict | None:
    if not t:
        return None
    return {k: t[k] for k in ("name", "shape", "dtype", "scale", "zero_point") if k in t}


def results_from_deploy_summary(summary: Mapping, model_name: str, board: Any = None,
                                versions: Mapping | None = None) -> dict:
    """A results dict (schema 1) from codegen's ``deploy_summary.json``: the model, the
    board's budgets, the measured host TFLM arena (plus the firmware's margin) and flash."""
    if not isinstance(summary, Mapping) or "board" not in summary:
        raise UserError("deploy summary has no 'board'; pass the dict of the project's deploy_summary.json")
    measured = {
        "tflm_arena_bytes": summary.get("arena_measured_bytes"),
        "arena_bytes": summary.get("arena_bytes"),
        "tflite_bytes": summary.get("model_bytes"),
        "flash_bytes": summary.get("model_data_flash_bytes"),
        "note": "host (64-bit) TFLM interpreter; arena_bytes adds the firmware's margin"
                + (f" ({summary['arena_margin_rule']})" if summary.get("arena_margin_rule") else ""),
    }
    model = {"name": model_name, "tflite_sha256": summary.get("model_sha256"), "tflite_bytes": summary.get("model_bytes"),
             "ops": summary.get("ops"), "input": _tensor(summary.get("input")), "output": _tensor(summary.get("output"))}
    return {
        "schema": 1,
        "backend": "tflm",
        "model": {k: v for k, v in model.items() if v is not None},
        "memory": {"board": board_fields(board if board is not None else summary["board"]),
                   "measured": {k: v for k, v in measured.items() if v is not None}},
        "versions": dict(versions) if versions is not None else collect_versions(),
    }


def merge(base: Mapping, extra: Mapping) -> dict:
    """``base`` updated by ``extra``, recursively for nested objects (``extra`` wins)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def write_deploy_report(summary: Mapping, project_dir: str | os.PathLike, *, results: Mapping | None = None,
                        model_name: str | None = None, board: Any = None, versions: Mapping | None = None,
                        formats=("md", "html", "json"), force: bool = False) -> Path:
    """Write the deploy report into ``project_dir/report/`` and return the path of its
    ``report.md``.

    ``summary`` is the project's ``deploy_summary.json`` (``codegen.project.deploy_summary``);
    ``results`` (optional) is what the build pipeline measured (accuracy, agreement,
    prediction, search, ...) and is merged over what the summary gives. ``board`` is a
    ``Board`` or a name (default: the summary's). ``versions`` defaults to
    :func:`collect_versions`; ``model_name`` to the project folder's name.
    """
    project = Path(project_dir)
    base = results_from_deploy_summary(summary, model_name or project.name, board=board, versions=versions)
    full = merge(base, results or {})
    paths = write_report(full, project / REPORT_DIR, formats=formats, force=force)
    return paths.get("md") or paths.get("html") or paths["json"]
