"""The op sequence that ``ofa_mcu.quant`` emits for an arch, and TFLM's activation plan of it.

Two forms of the same arithmetic, as in ``analytic.py``: :func:`graph_plan` walks one
:class:`ArchTable` and lists every op with its activation buffers (readable reference), and
:func:`batch_graph` computes the head and the counts the tail and flatbuffer models need for a
whole :class:`BatchTable` at once. Tests check they agree with each other and with real
conversions.

What the converter emits (see ``ofa_mcu/quant/keras_builder.py``): [PAD] CONV (stem), CONV
(block 0); per block CONV expand, [PAD], DEPTHWISE, [MEAN, CONV, CONV, MUL] (SE), CONV
project, [ADD]; CONV feature mix, MEAN, FULLY_CONNECTED. A PAD appears before a stride-2
conv whose input size is even, padding ``k // 2`` before and ``k // 2 - 1`` after.

TFLM plans activations as buffers aligned to 16 bytes, each live from the op that writes it to
the last op that reads it (a residual block's input stays live until its ADD, an SE block's
depthwise output until its MUL). Its GreedyMemoryPlanner places them largest first at the
lowest offset clear of every overlapping buffer; the head is the top of that layout. It equals
the peak over ops of the live bytes (``peak_live``) on about 99 % of random subnets; on the
rest (a small residual input stacked above its block's large expand and depthwise buffers)
it is larger, by up to 7 % measured, so the head is computed by running the same greedy
algorithm (:meth:`GraphPlan.greedy_size`, vectorized in :func:`batch_greedy`). It matched
TFLM's own head on every measured subnet.
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


# Kernel sets whose kernels ask TFLM for scratch buffers (see :func:`scratch_bytes`).
SCRATCH_KERNELS = ("reference", "cmsis-nn", "cmsis-nn-nodsp")


def scratch_bytes(kernels: str, op: str, kernel: int, in_ch: int, kernel_w: int | None = None, pad: int = 0,
                  depth_multiplier: int = 1) -> int:
    """Bytes of the scratch buffer an op's kernel asks TFLM for (0: none), as CMSIS-NN's
    ``*_get_buffer_size`` compute them for an arm-none-eabi-gcc build (CMSIS-NN 4ab83cc):

    - CONV_2D with a kernel larger than 1x1: the im2col buffer of ``arm_convolve_s8``, 2
      columns of ``kh*kw*in_ch`` (rounded up to 4) int16 values; 1x1 convolutions need none
      (``arm_convolve_1x1_s8_fast`` asks for one only when built with Arm Compiler 6);
    - DEPTHWISE_CONV_2D with channel multiplier 1: none for 3x3 with padding <= 1
      (``arm_depthwise_conv_3x3_s8``), else ``in_ch*kh*kw`` int16 values for
      ``arm_depthwise_conv_s8_opt`` on cores with the DSP extension (``cmsis-nn``); none
      without it (``cmsis-nn-nodsp``, Cortex-M0+) or with another multiplier;
    - AVERAGE_POOL_2D: one int32 per channel with the DSP extension;
    - TFLM's reference kernels ask for none here (MEAN's small scratch is in the tail model).
    ``kernel`` is the kernel height (and width unless ``kernel_w``), ``pad`` the larger padding.
    """
    if kernels == "reference":
        return 0
    if kernels not in SCRATCH_KERNELS:
        raise ValueError(f"unknown kernel set {kernels!r}")
    kw = kernel if kernel_w is None else kernel_w
    dsp = kernels == "cmsis-nn"
    if op == "CONV_2D" and kernel * kw > 1:
        cols = kernel * kw * in_ch
        return 2 * (cols + (-cols) % 4) * 2
    if op == "DEPTHWISE_CONV_2D" and dsp and depth_multiplier == 1 and not (kernel == kw == 3 and pad <= 1):
        return in_ch * kernel * kw * 2
    if op == "AVERAGE_POOL_2D" and dsp:
        return in_ch * 4
    return 0


@dataclass
class PlannedOp:
    """One op of the converted graph: its name, the activation buffers it reads and the one it
    writes (indices into :attr:`GraphPlan.sizes`), its output channels when it is a CONV_2D /
    DEPTHWISE_CONV_2D (they size the per-channel arrays of the tail), and the 16-byte-aligned
    scratch buffer its kernel asks for while it runs (0: none)."""

    op: str
    inputs: tuple[int, ...]
    output: int
    out_ch: int = 0
    scratch: int = 0


@dataclass
class GraphPlan:
    """The converted graph: ops in execution order and the 16-byte-aligned size of every
    activation buffer (buffer 0 is the input image; buffer ``i > 0`` is written by op ``i - 1``)."""

    ops: list[PlannedOp]
    sizes: list[int]

    def lifetimes(self) -> list[tuple[int, int]]:
        """(first op, last op) of each buffer, as TFLM's allocation info computes them."""
        first = [0] * len(self.sizes)
        last = [0] * len(self.sizes)
        for k, op in enumerate(self.ops):
            first[op.output] = k
            last[op.output] = max(last[op.output], k)
            for i in op.inputs:
                last[i] = max(last[i], k)
        last[self.ops[-1].output] = len(self.ops) - 1
        return list(zip(first, last))

    def planned_buffers(self) -> tuple[list[int], list[tuple[int, int]]]:
        """Sizes and lifetimes of everything TFLM plans: the activation buffers in tensor order,
        then the scratch buffers in request (op) order, each live during its op only."""
        scratch = [(op.scratch, (k, k)) for k, op in enumerate(self.ops) if op.scratch]
        return self.sizes + [s for s, _ in scratch], self.lifetimes() + [span for _, span in scratch]

    def peak_live(self) -> int:
        """Max over ops of the bytes of live buffers (a lower bound of any plan)."""
        sizes, spans = self.planned_buffers()
        return max(sum(s for s, (f, l) in zip(sizes, spans) if f <= k <= l) for k in range(len(self.ops)))

    def greedy_size(self) -> int:
        """The arena TFLM's GreedyMemoryPlanner lays these buffers out in: buffers by size,
        largest first (ties in allocation order: tensors, then scratch buffers), each at the
        lowest offset that clears every placed buffer whose lifetime overlaps its own."""
        sizes, spans = self.planned_buffers()
        order = sorted(range(len(sizes)), key=lambda j: -sizes[j])
        placed: list[tuple[int, int, int, int]] = []
        top = 0
        for j in order:
            size, (f, l) = sizes[j], spans[j]
            offset = 0
            for o, s, pf, pl in sorted(p for p in placed if not (p[2] > l or f > p[3])):
                if o >= offset + size:
                    break
                offset = max(offset, o + s)
            placed.append((offset, size, f, l))
            top = max(top, offset + size)
        return top


def graph_plan(t: ArchTable, kernels: str = "reference") -> GraphPlan:
    """The converted graph of ``t``: ops with their activation buffers, and the scratch buffers
    of ``kernels`` (see :func:`scratch_bytes`)."""
    a = align
    sizes = [a(t.cfg.in_channels * t.image_size ** 2)]
    ops: list[PlannedOp] = []

    def emit(name: str, inputs: tuple[int, ...], size: int, out_ch: int = 0, kernel: int = 1, in_ch: int = 0) -> int:
        sizes.append(a(size))
        ops.append(PlannedOp(name, inputs, len(sizes) - 1, out_ch, a(scratch_bytes(kernels, name, kernel, in_ch))))
        return len(sizes) - 1

    fc = t.first_conv
    x = 0
    pad = pad_amounts(fc.kernel, fc.stride, fc.in_hw)
    if pad:
        x = emit("PAD", (x,), fc.in_ch * (fc.in_hw + sum(pad)) ** 2)
    x = emit("CONV_2D", (x,), fc.out_elems, fc.out_ch, fc.kernel, fc.in_ch)
    for i, b in enumerate(t.blocks):
        convs = {c.role: c for c in t.block_convs(i)}
        block_in = x
        if "expand" in convs:
            x = emit("CONV_2D", (x,), convs["expand"].out_elems, b.mid)
        if "depthwise" in convs:
            dw = convs["depthwise"]
            pad = pad_amounts(dw.kernel, dw.stride, dw.in_hw)
            if pad:
                x = emit("PAD", (x,), dw.in_ch * (dw.in_hw + sum(pad)) ** 2)
            x = emit("DEPTHWISE_CONV_2D", (x,), dw.out_elems, dw.out_ch, dw.kernel, dw.in_ch)
        if "se_reduce" in convs:
            red, exp = convs["se_reduce"], convs["se_expand"]
            s = x
            if b.out_hw > 1:  # the converter drops a MEAN over a 1x1 map (an identity)
                s = emit("MEAN", (x,), exp.out_ch)
            s = emit("CONV_2D", (s,), red.out_ch, red.out_ch)
            s = emit("CONV_2D", (s,), exp.out_ch, exp.out_ch)
            x = emit("MUL", (x, s), convs["depthwise"].out_elems)
        x = emit("CONV_2D", (x,), convs["project"].out_elems, b.out_ch)
        if b.residual:
            x = emit("ADD", (x, block_in), b.out_ch * b.out_hw ** 2)
    mix = t.feature_mix
    x = emit("CONV_2D", (x,), mix.out_elems, mix.out_ch)
    x = emit("MEAN", (x,), mix.out_ch)  # kept even over 1x1: it also drops the H, W axes
    emit("FULLY_CONNECTED", (x,), t.classifier.out_ch)
    return GraphPlan(ops, sizes)


def graph_counts(t: ArchTable, kernels: str = "reference") -> dict[str, int]:
    """Counts of the converted graph of ``t`` (what the tail and flatbuffer models read), with
    the head planned for ``kernels``."""
    plan = graph_plan(t, kernels)
    ops = plan.ops
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
        "head": plan.greedy_size(),
        "peak_live": plan.peak_live(),
        "n_ops": len(ops),
        "n_conv": n_conv,
        "n_pad": names.count("PAD"),
        "n_mean": names.count("MEAN"),
        "n_mul": names.count("MUL"),
        "n_add": names.count("ADD"),
        "n_scratch": sum(1 for o in ops if o.scratch),
        # input + one output per op + weight and bias per conv/FC + distinct PAD paddings + the
        # MEAN axes constant (shared by all MEANs)
        "n_tensors": 1 + len(ops) + 2 * (n_conv + 1) + len(pad_kernels) + 1,
        "conv_channels": sum(conv_ch),
        "channel_array_bytes": sum(2 * align(4 * c) for c in conv_ch),
        "weight_bytes": weight,
        "bias_bytes": 4 * sum(c.out_ch for c in t.convs),
    }


COUNT_KEYS = ("peak_live", "n_ops", "n_conv", "n_pad", "n_mean", "n_mul", "n_add", "n_scratch", "n_tensors",
              "conv_channels", "channel_array_bytes", "weight_bytes", "bias_bytes")


def batch_scratch(bt: BatchTable, kernels: str) -> tuple[np.ndarray, np.ndarray]:
    """The 16-byte-aligned scratch buffers of ``kernels`` (:func:`scratch_bytes`), vectorized:
    the stem conv's ``(N,)`` and each slot's depthwise ``(S, N)`` (0 where none)."""
    stem = align(scratch_bytes(kernels, "CONV_2D", 3, bt.in_channels))
    k = bt.kernel
    dw = np.where(bt.active & (k != 3), align(bt.mid * k * k * 2), 0) if kernels == "cmsis-nn" else np.zeros_like(k)
    return np.full(bt.image_size.shape[0], stem, np.int64), dw.astype(np.int64)


def batch_graph(bt: BatchTable, greedy: bool = True, kernels: str = "reference") -> dict[str, np.ndarray]:
    """Vectorized :func:`graph_counts`: the head and every count, one int64 array each.

    ``greedy=False`` skips the planner simulation (the costly part) and reports ``peak_live``
    as the head: a lower bound, equal to TFLM's head on about 99 % of random subnets."""
    if kernels not in SCRATCH_KERNELS:
        raise ValueError(f"unknown kernel set {kernels!r}")
    a = align
    n = bt.image_size.shape[0]
    cin = bt.in_channels
    r = bt.image_size
    stem_scratch, dw_scratch = batch_scratch(bt, kernels)
    stem_pad = (r % 2 == 0)
    x_in = a(cin * r ** 2)
    padded = a(cin * (r + 1) ** 2)  # stem kernel 3: pad (1, 0)
    first = a(bt.first_ch * bt.first_hw ** 2)
    head = np.where(stem_pad, np.maximum(x_in + padded, padded + first), x_in + first) + stem_scratch
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
    np.maximum(per, np.where(has_pad, pad_buf, mid_in) + mid_out + keep + dw_scratch, out=per)  # depthwise
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
    n_scratch = (stem_scratch > 0).astype(np.int64) + (dw_scratch > 0).sum(axis=0)
    head_greedy = batch_greedy(*batch_buffers(bt, kernels)) if greedy else head.astype(np.int64)
    return {"head": head_greedy, "peak_live": head.astype(np.int64), "n_ops": n_ops.astype(np.int64), "n_conv": n_conv, "n_pad": n_pad.astype(np.int64),
            "n_mean": n_mean.astype(np.int64), "n_mul": n_se, "n_add": n_add, "n_scratch": n_scratch,
            "n_tensors": n_tensors.astype(np.int64),
            "conv_channels": conv_channels, "channel_array_bytes": channel_arrays, "weight_bytes": weight,
            "bias_bytes": bias}


# ---- the activation plan of a whole population -------------------------------------------------

# Buffers of the template, per block slot, in op order (absent ones are skipped per row); a
# kernel's scratch buffer sits right after the output of the op that asks for it.
_SLOT_BUFFERS = ("expand", "pad", "dw", "dw_scratch", "mean", "se_reduce", "se_expand", "mul", "project", "add")
_NB = len(_SLOT_BUFFERS)
_J = {name: j for j, name in enumerate(_SLOT_BUFFERS)}
_STEM = ("input", "stem_pad", "stem", "stem_scratch", "block0")
# Two buffers whose lifetimes overlap are at most this far apart in op order (a residual
# block's input lives until its ADD, 9 positions later when the block has a depthwise scratch
# and SE with a MEAN).
_WINDOW = 10


def batch_buffers(bt: BatchTable, kernels: str = "reference") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every row's planned buffers in op order: ``(size, first, last, count)``, arrays of
    shape (N, M) compacted to the left (``count`` (N,) of them exist; the rest have size 0 and
    an empty lifetime). The vectorized twin of :meth:`GraphPlan.planned_buffers` (scratch
    buffers in op order here; ties in size are placed tensors first by TFLM, a tie-break the
    planner simulation only approximates)."""
    a = align
    s_count, n = bt.active.shape
    nb0 = len(_STEM)
    m = nb0 + _NB * s_count + 3
    rows = np.arange(n)
    size = np.zeros((n, m), np.int64)
    ex = np.zeros((n, m), bool)
    scratch = np.zeros(m, bool)  # columns holding scratch buffers (not op outputs)
    cons = np.zeros((n, m), np.int64)  # template index of the buffer its last consumer writes
    stem_scratch, dw_scratch = batch_scratch(bt, kernels)
    cin, r = bt.in_channels, bt.image_size
    stem_pad = r % 2 == 0
    size[:, 0], ex[:, 0], cons[:, 0] = a(cin * r ** 2), True, np.where(stem_pad, 1, 2)
    size[:, 1], ex[:, 1], cons[:, 1] = a(cin * (r + 1) ** 2) * stem_pad, stem_pad, 2
    size[:, 2], ex[:, 2], cons[:, 2] = a(bt.first_ch * bt.first_hw ** 2), True, 4
    size[:, 3], ex[:, 3], cons[:, 3], scratch[3] = stem_scratch, stem_scratch > 0, 2, True
    size[:, 4], ex[:, 4] = a(bt.b0_out * bt.first_hw ** 2), True
    cur = np.full(n, 4)
    J = _J
    for s in range(s_count):
        base = nb0 + _NB * s
        act = bt.active[s]
        res = bt.residual[s] & act
        has_pad = act & (bt.stride[s] == 2) & (bt.in_hw[s] % 2 == 0)
        has_se = act & (bt.se_mid[s] > 0)
        has_mean = has_se & (bt.out_hw[s] > 1)
        mid, ihw, ohw = bt.mid[s], bt.in_hw[s], bt.out_hw[s]
        pad_hw = ihw + 2 * (bt.kernel[s] // 2) - 1
        spec = {  # name: (size, exists, template slot of the last consumer's output)
            "expand": (a(mid * ihw ** 2), act, np.where(has_pad, J["pad"], J["dw"])),
            "pad": (a(mid * pad_hw ** 2), has_pad, J["dw"]),
            "dw": (a(mid * ohw ** 2), act, np.where(has_se, J["mul"], J["project"])),
            "dw_scratch": (dw_scratch[s], dw_scratch[s] > 0, J["dw"]),
            "mean": (a(mid), has_mean, J["se_reduce"]),
            "se_reduce": (a(bt.se_mid[s]), has_se, J["se_expand"]),
            "se_expand": (a(mid), has_se, J["mul"]),
            "mul": (a(mid * ohw ** 2), has_se, J["project"]),
            "project": (a(bt.out_ch[s] * ohw ** 2), act, J["add"]),
            "add": (a(bt.out_ch[s] * ohw ** 2), res, J["add"]),
        }
        for name, (sz, e, c) in spec.items():
            j = base + J[name]
            size[:, j] = np.where(e, sz, 0)
            ex[:, j] = e
            cons[:, j] = base + c
        scratch[base + J["dw_scratch"]] = True
        # The block input is read by the expand conv and, in a residual block, by the ADD.
        cons[rows[act], cur[act]] = np.where(res, base + J["add"], base)[act]
        cur = np.where(act, np.where(res, base + J["add"], base + J["project"]), cur)
    f = nb0 + _NB * s_count
    cons[rows, cur] = f
    size[:, f], ex[:, f], cons[:, f] = a(bt.mix_out * bt.mix_hw ** 2), True, f + 1
    size[:, f + 1], ex[:, f + 1], cons[:, f + 1] = a(bt.mix_out), True, f + 2
    size[:, f + 2], ex[:, f + 2], cons[:, f + 2] = a(np.full(n, bt.n_classes)), True, f + 2
    # Buffer i > 0 of the op outputs is written by op i - 1; a scratch buffer lives during the op
    # whose output precedes it (it is not an output, so it does not advance the count).
    op_of = np.maximum(np.cumsum(ex & ~scratch, axis=1) - 2, 0)
    last = np.take_along_axis(op_of, cons, axis=1)
    order = np.argsort(~ex, axis=1, kind="stable")
    size_c = np.take_along_axis(size, order, axis=1)
    ex_c = np.take_along_axis(ex, order, axis=1)
    first_c = np.where(ex_c, np.take_along_axis(op_of, order, axis=1), np.iinfo(np.int64).max // 4)
    last_c = np.where(ex_c, np.take_along_axis(last, order, axis=1), -1)
    return size_c, first_c, last_c, ex.sum(axis=1)


def batch_greedy(size: np.ndarray, first: np.ndarray, last: np.ndarray, count: np.ndarray) -> np.ndarray:
    """TFLM's GreedyMemoryPlanner run on every row at once (see :meth:`GraphPlan.greedy_size`):
    the arena size of each row's activation plan.

    Each buffer only competes with the few buffers whose lifetimes overlap its own, all within
    ``_WINDOW`` positions in op order; those partners are found once, then buffers are placed
    largest first, one rank at a time for all rows together.
    """
    n, m = size.shape
    if n == 0:
        return np.zeros(0, np.int64)
    deltas = np.concatenate([np.arange(-_WINDOW, 0), np.arange(1, _WINDOW + 1)])
    nb = np.arange(m)[:, None] + deltas  # (m, 2W)
    inside = (nb >= 0) & (nb < m)
    nb = np.clip(nb, 0, m - 1)
    overlap = inside[None] & (first[:, nb] <= last[:, :, None]) & (last[:, nb] >= first[:, :, None])
    k = max(int(overlap.sum(axis=2).max()), 1)
    pick = np.argsort(~overlap, axis=2, kind="stable")[:, :, :k]
    partner_ok = np.take_along_axis(overlap, pick, axis=2)  # (n, m, k)
    partner = np.broadcast_to(nb[None], overlap.shape)
    partner = np.take_along_axis(partner, pick, axis=2) + (np.arange(n) * m)[:, None, None]  # flat index
    size_f = size.ravel()
    offset_f = np.zeros(n * m, np.int64)
    placed_f = np.zeros(n * m, bool)
    order = np.argsort(-size, axis=1, kind="stable")  # largest first, ties in op order
    base = np.arange(n) * m
    top = np.zeros(n, np.int64)
    big = np.iinfo(np.int64).max // 4
    partner = partner.reshape(n * m, k)
    partner_ok = partner_ok.reshape(n * m, k)
    for rank in range(int(count.max())):
        j = base + order[:, rank]
        s = size_f[j]
        p = partner[j]
        ok = partner_ok[j] & placed_f[p]
        o = np.where(ok, offset_f[p], big)
        e = np.where(ok, o + size_f[p], 0)
        # First fit: move past the highest end among the partners the buffer would overlap,
        # until it overlaps none. Any lower end is no gap (the partner ending higher still
        # overlaps it), so this lands where TFLM's offset-ordered scan does.
        c = np.zeros(n, np.int64)
        for _ in range(k):
            hit = (o < (c + s)[:, None]) & (e > c[:, None])
            step = np.where(hit, e, 0).max(axis=1)
            moved = step > c
            if not moved.any():
                break
            c = np.where(moved, step, c)
        offset_f[j] = c
        placed_f[j] = True
        np.maximum(top, c + s, out=top)
    return top
