"""C emission and firmware project rendering.

- ``codegen.project.emit_project(tflite_bytes, board, out_dir, ...)``: verify an int8 .tflite in
  TFLite-Micro and write a firmware project (atomically) for a board and build system.
- ``codegen.flash``: build/flash command registries (``plan``, ``run_plan``) behind
  ``ofa-mcu flash``.
- ``codegen.tflite_model`` (read ops, I/O tensors, quantization), ``codegen.op_registry``
  (builtin op -> ``MicroMutableOpResolver`` method, data in ``tflm_ops.toml``),
  ``codegen.tflm_arrays`` (C array rows), ``codegen.model_settings`` (arena margin, pixel
  tables), ``codegen.cident`` (safe C identifiers and literals), ``codegen.tflm_host`` (host
  TFLM arena and reference outputs), ``codegen.tflm_headers`` / ``codegen.compile_check``
  (compile generated sources against real TFLM headers).
- ``codegen.native``: the native C backend (owned separately).
"""
