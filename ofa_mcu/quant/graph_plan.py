"""The op sequence that ``ofa_mcu.quant`` emits for an arch, and TFLM's activation plan of it.

Two forms of the same arithmetic, as in ``analytic.py``: :func:`graph_plan` walks one
:class:`ArchTable` and lists every op with its live activation tensors (readable reference),
and :func:`batch_graph` computes the head (peak of live tensors) and the counts the tail and
flatbuffer models need for a whole :class:`BatchTable` at once. Tests check they agree with
each other and with real conversions.

What the converter emits (see ``ofa_mcu/quant/keras_builder.py``): [PAD] CONV (stem), CONV
(block 0); per block CONV expand, [PAD], DEPTHWISE, [MEAN, CONV, CONV, MUL] (SE), CONV
project, [ADD]; CONV feature mix, MEAN, FULLY_CONNECTED. A PAD appears before a stride-2
conv whose input size is even, padding ``k // 2`` before and ``k // 2 - 1`` after.

TFLM plans activations as buffers aligned to 16 bytes, each live from the op that writes it to
the last op that reads it (a residual block's input stays live until its ADD). The peak over
ops of the sum of live buffers is the head; on this graph family TFLM's greedy planner reaches
it exactly (checked against measurements).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..space.batch import BatchTable
from ..space.table import ArchTable

ALIGN = 16


def align(x):
    """Round a byte count up to TFLM's 16-byte buffer alignment (scalar or array)."""
    return (x + (ALIGN - 1)) // ALIGN * ALIGN


def pad_amounts(kernel: int, stride: int, in_hw: int) -> tuple[int, int] | None:
    """(before, after) padding of the converter's explicit PAD, or None (same rule as
    :func:`ofa_mcu.quant.keras_builder.explicit_padding`)."""
    p = kernel // 2
    if stride == 1 or in_hw % 2 == 1 or p == 0:
        return None
    return (p, p - 1)


@dataclass
class PlannedOp:
    """One op of the converted graph: its name, the activation bytes live while it runs
    (inputs, outputs and tensors kept for later ops), and counts for the tail model."""

    op: str
    live: int
    out_ch: int = 0  # output channels of CONV_2D / DEPTHWISE_CONV_2D (per-channel arrays)


def graph_plan(t: ArchTable) -> list[PlannedOp]:
    """The converted graph of ``t`` as a list of ops with their live activation bytes."""
    ops: list[PlannedOp] = []
    a = align
    cin = t.cfg.in_channels
    fc = t.first_conv
    x = a(cin * fc.in_hw ** 2)
    pad = pad_amounts(fc.kernel, fc.stride, fc.in_hw)
    if pad:
        padded = a(cin * (fc.in_hw + sum(pad)) ** 2)
        ops.append(PlannedOp("PAD", x + padded))
        x = padded
    y = a(fc.out_elems)
    ops.append(PlannedOp("CONV_2D", x + y, fc.out_ch))
    for i, b in enumerate(t.blocks):
        convs = {c.role: c for c in t.block_convs(i)}
        block_in = a(b.in_ch * b.in_hw ** 2)
        keep = block_in if b.residual else 0
        x = block_in
        if "expand" in convs:
            y = a(convs["expand"].out_elems)
            ops.append(PlannedOp("CONV_2D", x + y, b.mid))
            x = y
        if "depthwise" in convs:
            dw = convs["depthwise"]
            pad = pad_amounts(dw.kernel, dw.stride, dw.in_hw)
            if pad:
                padded = a(dw.in_ch * (dw.in_hw + sum(pad)) ** 2)
                ops.append(PlannedOp("PAD", x + padded + keep))
                x = padded
            y = a(dw.out_elems)
            ops.append(PlannedOp("DEPTHWISE_CONV_2D", x + y + keep, dw.out_ch))
            x = y
        if "se_reduce" in convs:
            c, s = a(convs["se_expand"].out_ch), a(convs["se_reduce"].out_ch)
            if b.out_hw > 1:  # the converter drops a MEAN over 1x1
                ops.append(PlannedOp("MEAN", x + c + keep))
                ops.append(PlannedOp("CONV_2D", x + c + s + keep, convs["se_reduce"].out_ch))
            else:
                ops.append(PlannedOp("CONV_2D", x + s + keep, convs["se_reduce"].out_ch))
            ops.append(PlannedOp("CONV_2D", x + s + c + keep, convs["se_expand"].out_ch))
            ops.append(PlannedOp("MUL", 2 * x + c + keep))
        y = a(convs["project"].out_elems)
        ops.append(PlannedOp("CONV_2D", x + y + keep, b.out_ch))
        if b.residual:
            ops.append(PlannedOp("ADD", 2 * y + keep))
        x = y
    mix = t.feature_mix
    y = a(mix.out_elems)
    ops.append(PlannedOp("CONV_2D", x + y, mix.out_ch))
    pooled = a(mix.out_ch)
    ops.append(PlannedOp("MEAN", y + pooled))  # kept even over 1x1: it also drops the H, W axes
    ops.append(PlannedOp("FULLY_CONNECTED", pooled + a(t.classifier.out_ch)))
    return ops


def graph_counts(t: ArchTable) -> dict[str, int]:
    """Counts of the converted graph of ``t`` (what the tail and flatbuffer models read)."""
    ops = graph_plan(t)
    names = [o.op for o in ops]
    conv_ch = [o.out_ch for o in ops if o.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    pad_kernels = set()
    if pad_amounts(t.first_conv.kernel, t.first_conv.stride, t.first_conv.in_hw):
        pad_kernels.add(t.first_conv.kernel)
    for c in t.convs:
        if c.role == "depthwise" and pad_amounts(c.kernel, c.stride, c.in_hw):
            pad_kernels.add(c.kernel)
    weight = sum(c.weight_count for c in t.convs)
    n_conv = len(conv_ch)
    return {
        "head": max(o.live for o in ops),
        "n_ops": len(ops),
        "n_conv": n_conv,
        "n_pad": names.count("PAD"),
        "n_mean": names.count("MEAN"),
        "n_mul": names.count("MUL"),
        "n_add": names.count("ADD"),
        # input + one output per op + weight and bias per conv/FC + distinct PAD paddings + the
        # MEAN axes constant (shared by all MEANs)
        "n_tensors": 1 + len(ops) + 2 * (n_conv + 1) + len(pad_kernels) + 1,
        "conv_channels": sum(conv_ch),
        "channel_array_bytes": sum(2 * align(4 * c) for c in conv_ch),
        "weight_bytes": weight,
        "bias_bytes": 4 * sum(c.out_ch for c in t.convs),
    }


COUNT_KEYS = ("n_ops", "n_conv", "n_pad", "n_mean", "n_mul", "n_add", "n_tensors", "conv_channels",
              "channel_array_bytes", "weight_bytes", "bias_bytes")


def batch_graph(bt: BatchTable) -> dict[str, np.ndarray]:
    """Vectorized :func:`graph_counts`: the head and every count, one int64 array each."""
    a = align
    n = bt.image_size.shape[0]
    cin = bt.in_channels
    r = bt.image_size
    stem_pad = (r % 2 == 0)
    x_in = a(cin * r ** 2)
    padded = a(cin * (r + 1) ** 2)  # stem kernel 3: pad (1, 0)
    first = a(bt.first_ch * bt.first_hw ** 2)
    head = np.where(stem_pad, np.maximum(x_in + padded, padded + first), x_in + first)
    b0 = a(bt.b0_out * bt.first_hw ** 2)
    head = np.maximum(head, first + b0)

    act = bt.active
    ihw2, ohw2 = bt.in_hw ** 2, bt.out_hw ** 2
    block_in = a(bt.in_ch * ihw2) * act
    keep = np.where(bt.residual, block_in, 0)
    mid_in = a(bt.mid * ihw2) * act
    mid_out = a(bt.mid * ohw2) * act
    out = a(bt.out_ch * ohw2) * act
    has_pad = act & (bt.stride == 2) & (bt.in_hw % 2 == 0)
    pad_hw = bt.in_hw + 2 * (bt.kernel // 2) - 1
    pad_buf = np.where(has_pad, a(bt.mid * pad_hw ** 2), 0)
    has_se = act & (bt.se_mid > 0)
    c_vec = np.where(has_se, a(bt.mid), 0)
    s_vec = np.where(has_se, a(bt.se_mid), 0)
    per = block_in + mid_in  # expand
    np.maximum(per, mid_in + pad_buf + keep, out=per)  # PAD (when there is none, below the expand)
    np.maximum(per, np.where(has_pad, pad_buf, mid_in) + mid_out + keep, out=per)  # depthwise
    np.maximum(per, mid_out + c_vec + s_vec + keep, out=per)  # SE mean / 1x1 convs
    np.maximum(per, np.where(has_se, 2 * mid_out + c_vec, 0) + keep, out=per)  # SE multiply
    np.maximum(per, mid_out + out + keep, out=per)  # project
    np.maximum(per, 2 * out + keep, out=per)  # ADD (keep is 0 without a residual)
    head = np.maximum(head, per.max(axis=0) if per.shape[0] else 0)
    mix_in = a(bt.mix_in * bt.mix_hw ** 2)
    mix_out = a(bt.mix_out * bt.mix_hw ** 2)
    pooled = a(bt.mix_out)
    head = np.maximum(head, np.maximum(mix_in + mix_out, mix_out + pooled))
    head = np.maximum(head, pooled + a(np.full(n, bt.n_classes)))

    n_blocks = act.sum(axis=0)
    n_pad = has_pad.sum(axis=0) + stem_pad
    n_se = has_se.sum(axis=0)
    n_add = bt.residual.sum(axis=0)
    n_conv = 2 + 3 * n_blocks + 2 * n_se + 1  # stem, block 0, (expand, dw, project), SE pair, mix
    # The converter drops an SE MEAN over a 1x1 map (keepdims: an identity); the pool's stays.
    n_mean = (has_se & (bt.out_hw > 1)).sum(axis=0) + 1
    n_ops = n_conv + n_pad + n_mean + n_se + n_add + 1  # + PADs, MEANs, SE MULs, ADDs, FC
    distinct_pad = stem_pad | (has_pad & (bt.kernel == 3)).any(axis=0)
    for k in (5, 7):
        distinct_pad = distinct_pad.astype(np.int64) + (has_pad & (bt.kernel == k)).any(axis=0)
    n_tensors = 1 + n_ops + 2 * (n_conv + 1) + distinct_pad + 1
    ch = lambda c: 2 * a(4 * c)  # noqa: E731 - per-channel multiplier and shift arrays
    se_mid = np.where(has_se, bt.se_mid, 0)
    mid_se = np.where(has_se, bt.mid, 0)
    conv_channels = bt.first_ch + bt.b0_out + (act * (2 * bt.mid + bt.out_ch) + se_mid + mid_se).sum(axis=0) \
        + bt.mix_out
    channel_arrays = ch(bt.first_ch) + ch(bt.b0_out) + ch(bt.mix_out) + (
        act * (2 * ch(bt.mid) + ch(bt.out_ch)) + np.where(has_se, ch(bt.se_mid) + ch(bt.mid), 0)).sum(axis=0)
    weight = (bt.first_ch * cin * 9 + bt.b0_out * bt.first_ch
              + (bt.mid * bt.in_ch + bt.mid * bt.kernel ** 2 + 2 * mid_se * se_mid + bt.out_ch * bt.mid).sum(axis=0)
              + bt.mix_out * bt.mix_in + bt.mix_out * bt.n_classes)
    bias = 4 * (conv_channels + bt.n_classes)
    return {"head": head.astype(np.int64), "n_ops": n_ops.astype(np.int64), "n_conv": n_conv, "n_pad": n_pad.astype(np.int64),
            "n_mean": n_mean.astype(np.int64), "n_mul": n_se, "n_add": n_add, "n_tensors": n_tensors.astype(np.int64),
            "conv_channels": conv_channels, "channel_array_bytes": channel_arrays, "weight_bytes": weight,
            "bias_bytes": bias}
