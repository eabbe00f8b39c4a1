"""The top floor: the build (typed stages: search -> extract -> quantize -> measure -> emit ->
report), the TFLM firmware step it shares with ``deploy``, and the calibration measurements.
With ``ofa_mcu.cli``, the only layer that imports ``codegen`` (see docs/architecture.md)."""
