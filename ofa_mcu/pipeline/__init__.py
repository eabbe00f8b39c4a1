"""The build-to-firmware pipeline: search -> extract -> quantize -> verify -> emit -> report."""
