"""C emission and firmware project rendering.

- ``codegen.project.emit_project(tflite_bytes, board, out_dir, ...)``: verify an int8 .tflite in
  TFLite-Micro and write a firmware project (atomically) for a board and build system.
- ``codegen.flash``: build/flash command registries (``plan``, ``run_plan``) behind
  ``ofa-mcu flash``.
- ``codegen.tflite_model`` (the one .tflite reader: whole graph for the native backend, ops /
  I/O tensors / quantization for TFLM projects), ``codegen.op_registry``
  (builtin op -> ``MicroMutableOpResolver`` method, data in ``tflm_ops.toml``),
  ``codegen.tflm_arrays`` (C array rows), ``codegen.model_settings`` (arena margin, pixel
  tables; the host TFLM arena and reference outputs come from ``ofa_mcu.quant.tflm_runner``),
  ``codegen.cident`` (safe C identifiers and literals), ``codegen.tflm_headers`` / ``codegen.compile_check``
  (compile generated sources against real TFLM headers).
- ``codegen.native``: the native C backend (``emit_native``; ``codegen.native.deploy`` behind
  ``ofa-mcu deploy --backend native``).
- ``codegen.paths``: ``templates_dir()`` / ``firmware_dir()`` (next to the package in a wheel,
  else the repo root).
"""
