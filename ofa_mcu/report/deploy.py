"""The report ``ofa-mcu deploy`` writes into every project it generates."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..errors import UserError
from .versions import collect_versions
from .writer import write_report

REPORT_DIR = "report"


def board_fields(board: Any, budget: Any = None, native_budget: Any = None) -> dict:
    """``results["memory"]["board"]`` of an ``ofa_mcu.boards.Board`` (or a board name) with the
    model budgets used (``ofa_mcu.boards.budget.ModelBudget``; default: the board's own)."""
    if isinstance(board, str):
        from ..boards import load_board

        board = load_board(board)
    t = budget or board.budget("tflm")
    n = native_budget or board.budget("native", reserve_flash_bytes=t.reserve_flash_bytes,
                                      reserve_sram_bytes=t.reserve_sram_bytes)
    return {
        "name": board.name,
        "sram_bytes": board.sram_bytes,
        "flash_bytes": board.flash_bytes,
        "app_flash_bytes": board.app_flash_bytes,
        "runtime_sram_bytes": t.runtime_sram_bytes,
        "runtime_flash_bytes": t.runtime_flash_bytes,
        "runtime_source": t.source,
        "reserve_sram_bytes": t.reserve_sram_bytes,
        "reserve_flash_bytes": t.reserve_flash_bytes,
        "model_sram_budget": t.sram_bytes,
        "model_flash_budget": t.flash_bytes,
        "native_runtime_sram_bytes": n.runtime_sram_bytes,
        "native_runtime_flash_bytes": n.runtime_flash_bytes,
        "native_model_sram_budget": n.sram_bytes,
        "native_model_flash_budget": n.flash_bytes,
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
        "tflite_bytes": summary.get("model_bytes"),
        "flash_bytes": summary.get("model_data_flash_bytes"),
        "note": "host (64-bit) TFLM interpreter (reference kernels)",
    }
    memory: dict = {}
    if summary.get("arena_target_bytes") is not None:
        memory["target"] = {"arena_bytes": summary["arena_target_bytes"], "source": summary.get("arena_target_source"),
                            **({"kernels": summary["kernels"]} if summary.get("kernels") else {})}
        memory["reserved"] = {"arena_bytes": summary["arena_bytes"], "rule": summary.get("arena_margin_rule")}
    budget = None
    if isinstance(summary.get("budget"), Mapping):
        from ..boards.budget import ModelBudget

        budget = ModelBudget(**summary["budget"])
    model = {"name": model_name, "tflite_sha256": summary.get("model_sha256"), "tflite_bytes": summary.get("model_bytes"),
             "ops": summary.get("ops"), "input": _tensor(summary.get("input")), "output": _tensor(summary.get("output"))}
    return {
        "schema": 1,
        "backend": "tflm",
        "model": {k: v for k, v in model.items() if v is not None},
        "memory": {"board": board_fields(board if board is not None else summary["board"], budget),
                   "measured": {k: v for k, v in measured.items() if v is not None}, **memory},
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
