"""The deployment report: Markdown, self-contained HTML and JSON, with PNG plots.

Public API (stable):

- ``write_report(results, out_dir, *, formats=("md", "html", "json"), force=False, base_dir=None)
  -> dict[str, Path]``: validate a results dict (schema in ``schema.md``) and write
  ``report.md``, ``report.html``, ``report.json`` and ``plots/*.png`` into ``out_dir``.
- ``write_deploy_report(summary, project_dir, *, results=None, model_name=None, board=None,
  versions=None, formats=..., force=False) -> Path``: the report of ``ofa-mcu deploy``
  (``project_dir/report/``), returns its ``report.md``.
- ``load_results(path) -> dict``: read and validate a ``results.json`` (or a ``report.json``).
- ``normalise_results(results) -> dict``: validation only (one-line UserError on a problem).
- ``collect_versions(tools=True) -> dict``: exact versions of Python, the converters and runtimes.
- ``model_fields(arch, cfg) -> dict`` / ``layers_from_table(table) -> list``: the ``model``
  fields (layers, MACs, params) of an arch from its per-layer table.
- ``board_fields(board) -> dict``: ``memory.board`` of a catalog board.
"""
from __future__ import annotations

from .deploy import board_fields, results_from_deploy_summary, write_deploy_report
from .layers import layers_from_table, model_fields
from .schema import SCHEMA_VERSION, normalise_results
from .versions import collect_versions
from .writer import load_results, write_report

__all__ = ["write_report", "write_deploy_report", "load_results", "normalise_results", "collect_versions",
           "model_fields", "layers_from_table", "board_fields", "results_from_deploy_summary", "SCHEMA_VERSION"]
