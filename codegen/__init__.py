"""C emission and firmware project rendering (TFLite-Micro C arrays, Jinja2 projects, native kernels)."""
