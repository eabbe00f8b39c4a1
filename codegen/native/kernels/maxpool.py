"""MAX_POOL_2D (int8): TFLite reference MaxPool (the largest value over the window's cells
inside the input, then the fused activation's clamp; same quantization in and out), four
channels at a time with the DSP's lane-wise compare-and-select."""
from __future__ import annotations

from . import Kernel
from .avgpool import POOL_FIELDS, emit_pool, lower_pool


def lower(ctx, op) -> None:
    """One maxpool call (its output streams over its input)."""
    lower_pool(ctx, op, "maxpool")


KERNEL = Kernel(name="maxpool", c_file="maxpool.c", fields=POOL_FIELDS, ops=("MAX_POOL_2D",), lower=lower, emit=emit_pool,
                features=lambda l: {"mean_n": l.macs},
                prototype="void ofa_maxpool(const ofa_maxpool_params *p, const int8_t *in, int8_t *out)",
                doc="max pool")
