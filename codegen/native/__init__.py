"""The native backend: full-int8 .tflite -> generated C99 kernel calls with a static memory plan.

Public API:

- ``emit_native(tflite_bytes, out_dir, *, board, test_input_int8, expected_output_int8,
  model_name, fuse="auto", plot=True, force=False) -> NativeResult``
- ``lower_tflite(tflite_bytes, fuse="auto") -> Graph`` ; ``plan_memory(graph) -> MemoryPlan``
- ``codegen.native.kernels``: the kernel registry (one module per kernel beside its C file in
  ``firmware/native``); ``supported_ops()`` is the one list of TFLite ops the backend takes
- ``build_host(project_dir) -> exe`` ; ``run_host(exe, inputs_int8, output_size) -> outputs``
- ``codegen.native.qemu``: ``build_firmware(project_dir, board) -> elf`` (the project's Makefile),
  ``run_in_qemu(elf, machine, timeout) -> (exit_code, stdout)``,
  ``count_instructions(elf, machine) -> {"total", "per_layer", ...}``,
  ``firmware_sizes(elf, flash_origin, flash_length) -> {text_bytes, rodata_bytes, ...}``
- ``codegen.native.deploy``: ``deploy_native(tflite, board, out_dir, ...) -> (project, summary)``
  (``ofa-mcu deploy --backend native``); ``codegen.native.profile``: ``measured_latency``
- ``codegen.native.latency``: ``layer_features(graph)`` and ``fit`` (the vectorized estimate for the
  search is ``ofa_mcu.efficiency.latency.latency_cycles``)
"""
from __future__ import annotations

from .emit import NativeResult, emit_native
from .graph import Graph, Layer, lower_tflite
from .host import build_host, run_host
from .memory import MemoryPlan, check_plan, plan_memory

__all__ = ["NativeResult", "emit_native", "Graph", "Layer", "lower_tflite", "MemoryPlan", "plan_memory",
           "check_plan", "build_host", "run_host"]
