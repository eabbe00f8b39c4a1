"""MAX_POOL_2D (int8): TFLite reference MaxPool (the largest value over the window's cells
inside the input, then the fused activation's clamp; same quantization in and out), four
channels at a time with the DSP's lane-wise compare-and-select."""
from __future__ import annotations

from . import Kernel
from ..cemit import init
from .avgpool import POOL_FIELDS, pool_params

SCALARS = tuple(n for _, n in POOL_FIELDS)


def lower(ctx, op) -> None:
    """One maxpool call (its output streams over its input)."""
    x, y, p = pool_params(ctx, op)
    ctx.add_layer(kernel="maxpool", name=f"maxpool {p['filter_h']}x{p['filter_w']} {p['c']}ch", inputs=[x.index],
                  output=y.index, params=p, macs=p["out_h"] * p["out_w"] * p["c"] * p["filter_h"] * p["filter_w"],
                  ops=[op.index])


def emit(l, cx):
    """``ofa_maxpool(&p, in, out)``."""
    pre = f"l{l.index}"
    return f"static const ofa_maxpool_params {pre}_p = {init(l.params, SCALARS)};\n", \
        f"ofa_maxpool(&{pre}_p, {cx.ptr(l.inputs[0])}, {cx.ptr(l.output)});"


KERNEL = Kernel(name="maxpool", c_file="maxpool.c", fields=POOL_FIELDS, ops=("MAX_POOL_2D",), lower=lower, emit=emit,
                features=lambda l: {"mean_n": l.macs},
                prototype="void ofa_maxpool(const ofa_maxpool_params *p, const int8_t *in, int8_t *out)",
                doc="max pool")
