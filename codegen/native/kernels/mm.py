"""The matrix core the convolutions and fully connected layers share (``firmware/native/
matmul.c``): output channels of one or two pixels from int16 column words, weights packed
offline for LDRD + SXTB16 + SMLAD, and the per-channel requantization records. Not an op of
its own; the conv, im2col and FC kernels embed its parameters."""
from __future__ import annotations

import numpy as np

from . import Kernel
from .. import quant as Q
from ..cemit import c_array

FIELDS = (("const int8_t *", "weight"), ("const ofa_rq *", "rq"), ("int32_t", "groups"), ("int32_t", "out_c"), ("int32_t", "step"),
          ("int32_t", "mode"), ("int32_t", "act_min"), ("int32_t", "act_max"))


def groups(n_in: int) -> int:
    """Groups of four input channels (the last zero-filled)."""
    return (n_in + 3) // 4


def pack_weights(w: np.ndarray) -> np.ndarray:
    """``(out, in)`` int8 weights in the core's order: per pair of output channels, per group of
    four inputs, channel 0's four weights then channel 1's (an odd last channel alone)."""
    w = np.asarray(w, dtype=np.int8)
    oc, n = w.shape
    g = groups(n)
    padded = np.zeros((oc, 4 * g), np.int8)
    padded[:, :n] = w
    blocks = padded.reshape(oc, g, 4)
    pairs = oc // 2
    out = blocks[:2 * pairs].reshape(pairs, 2, g, 4).transpose(0, 2, 1, 3).reshape(-1)
    if oc % 2:
        out = np.concatenate([out, blocks[-1].reshape(-1)])
    return out


def mm_layer(w_rows: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, in_offset: int,
             out_zp: int, act_min: int, act_max: int) -> tuple[dict, dict]:
    """``(params, consts)`` of the core for weights ``(out, in)`` (the input offset folded into
    the start values, the requantization records and mode chosen per layer)."""
    w_rows = np.asarray(w_rows, dtype=np.int8).reshape(len(bias), -1)
    init = Q.fold_bias(bias, w_rows, in_offset)
    rq, mode = Q.requant_table(init, mult, shift, out_zp, *Q.accumulator_range(bias, w_rows), act_min, act_max)
    params = dict(groups=groups(w_rows.shape[1]), out_c=w_rows.shape[0], step=1, mode=mode, act_min=act_min,
                  act_max=act_max)
    return params, {"weight": pack_weights(w_rows), "rq": rq}


def mm_init(params: dict, prefix: str) -> str:
    """The ``ofa_mm_params`` initializer of a layer's core (arrays ``prefix_weight``/``_rq``)."""
    p = params
    return (f"{{.weight = {prefix}_weight, .rq = {prefix}_rq, .groups = {p['groups']}, .out_c = {p['out_c']}, .step = {p['step']}, "
            f".mode = {p['mode']}, .act_min = {p['act_min']}, .act_max = {p['act_max']}}}")


def rq_array(name: str, rq: np.ndarray) -> str:
    """``static const ofa_rq name[n] = {{...}, ...};``"""
    rows = ",\n    ".join("{" + ", ".join(str(int(v)) for v in r) + "}" for r in np.asarray(rq).reshape(-1, 4))
    return f"static const ofa_rq {name}[{len(rq)}] = {{\n    {rows}\n}};\n"


def mm_arrays(consts: dict, prefix: str) -> str:
    """The const arrays of a layer's core."""
    return c_array(f"{prefix}_weight", consts["weight"]) + rq_array(f"{prefix}_rq", consts["rq"])


KERNEL = Kernel(name="mm", c_file="matmul.c", fields=FIELDS,
                prototype="void ofa_mm_columns(const int8_t *x, int32_t n, uint32_t *cols, int32_t stride);\n"
                          "void ofa_mm2(const ofa_mm_params *a, const uint32_t *cols, int8_t *o0, int8_t *o1);\n"
                          "void ofa_mm1(const ofa_mm_params *a, const uint32_t *cols, int8_t *o0)",
                doc="int8 matrix core: one or two pixels, all output channels")
