"""TFLite-Micro's activation plan of the converted graph, from the arch alone.

The graph is the converted op list of :mod:`ofa_mcu.space.ops` (one definition, with the
converter's PAD and SE MEAN rules). Two forms of the same arithmetic, as in ``analytic.py``:
:func:`graph_plan` walks one subnet's op list (the readable reference) and :func:`batch_graph` /
:func:`batch_buffers` walk the same templates over a whole
:class:`~ofa_mcu.space.batch.BatchTable` at once. Tests check they agree with each other and
with real conversions.

TFLM plans activations as buffers aligned to 16 bytes, each live from the op that writes it to
the last op that reads it (a residual block's input stays live until its ADD, an SE block's
depthwise output until its MUL), plus the scratch buffers the kernel set asks for, each live
during its op. Its GreedyMemoryPlanner places them largest first at the lowest offset clear of
every overlapping buffer; the head is the top of that layout. It equals the peak over ops of the
live bytes (``peak_live``) on about 99 % of random subnets; on the rest (a small residual input
stacked above its block's large expand and depthwise buffers) it is larger, by up to 7 %
measured, so the head is computed by running the same greedy algorithm
(:meth:`GraphPlan.greedy_size`, vectorized in :func:`batch_greedy`). It matched TFLM's own head
on every measured subnet.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..space.batch import BatchTable
from ..space.ops import (
    BLOCK_OPS,
    HEAD_OPS,
    IN,
    STEM_OPS,
    batch_block0_view,
    batch_net_view,
    batch_slot_view,
    block_shapes,
    convert_ops,
    flat_slot_table,
    head_shapes,
    logical_not,
    pad_target,
    part_grid,
    reads,
    stem_shapes,
)
from ..space.table import FIRST_KERNEL, ArchTable

ALIGN = 16


def align(x):
    """Round a byte count up to TFLM's 16-byte buffer alignment (non-negative ints or int arrays)."""
    return (x + (ALIGN - 1)) & -ALIGN


# ---- the kernel sets' scratch buffers ------------------------------------------------------------

# Kernel sets whose kernels ask TFLM for scratch buffers (see :func:`scratch_bytes`).
SCRATCH_KERNELS = ("reference", "cmsis-nn", "cmsis-nn-nodsp")


def scratch_bytes(kernels: str, op: str, kernel, in_ch, kernel_w=None, pad=0, depth_multiplier: int = 1):
    """Bytes of the scratch buffer an op's kernel asks TFLM for (0: none), as CMSIS-NN's
    ``*_get_buffer_size`` compute them for an arm-none-eabi-gcc build (CMSIS-NN 4ab83cc);
    scalars or arrays:

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
    if op == "CONV_2D":
        if isinstance(kernel, int) and isinstance(kw, int) and kernel * kw <= 1:
            return 0
        cols = kernel * kw * in_ch
        return np.where(kernel * kw > 1, 2 * (cols + (-cols) % 4) * 2, 0)
    if op == "DEPTHWISE_CONV_2D" and dsp and depth_multiplier == 1:
        return np.where((kernel == 3) & (kw == 3) & (pad <= 1), 0, in_ch * kernel * kw * 2)
    if op == "AVERAGE_POOL_2D" and dsp:
        return in_ch * 4
    return 0


def _op_scratch(kernels: str, op: str, s) -> object:
    """The aligned scratch of a converted op with shape ``s`` (an :class:`ofa_mcu.space.ops.Shape`)."""
    if kernels == "reference" or op not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return 0
    in_ch = s.ch if op == "DEPTHWISE_CONV_2D" else s.fan_in
    return align(scratch_bytes(kernels, op, s.kernel, in_ch)) * s.exists


def _check_kernels(kernels: str) -> None:
    if kernels not in SCRATCH_KERNELS:
        raise ValueError(f"unknown kernel set {kernels!r}")


# ---- one subnet ---------------------------------------------------------------------------------


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
            for o, s, _, _ in sorted(p for p in placed if not (p[2] > l or f > p[3])):
                if o >= offset + size:
                    break
                offset = max(offset, o + s)
            placed.append((offset, size, f, l))
            top = max(top, offset + size)
        return top


def graph_plan(t: ArchTable, kernels: str = "reference") -> GraphPlan:
    """The converted graph of ``t`` (:func:`ofa_mcu.space.ops.convert_ops`) as TFLM plans it:
    ops with their aligned activation buffers and the scratch buffers of ``kernels`` (see
    :func:`scratch_bytes`)."""
    _check_kernels(kernels)
    g = convert_ops(t)
    ops = []
    for op in g.ops:
        c = op.conv
        out_ch = g.buffers[op.output].ch if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") else 0
        scratch = int(align(scratch_bytes(kernels, op.name, c.kernel, c.in_ch))) if c is not None and c.kind == "conv" \
            else 0
        ops.append(PlannedOp(op.name, op.inputs, op.output, out_ch, scratch))
    return GraphPlan(ops, [int(align(b.elems)) for b in g.buffers])


def graph_counts(t: ArchTable, kernels: str = "reference") -> dict[str, int]:
    """Counts of the converted graph of ``t`` (what the tail and flatbuffer models read), with
    the head planned for ``kernels``."""
    plan = graph_plan(t, kernels)
    g = convert_ops(t)
    names = [o.name for o in g.ops]
    conv_ch = [o.out_ch for o in plan.ops if o.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    pad_kernels = {o.pad for o in g.ops if o.pad is not None}
    n_conv = len(conv_ch)
    return {
        "head": plan.greedy_size(),
        "peak_live": plan.peak_live(),
        "n_ops": len(g.ops),
        "n_conv": n_conv,
        "n_dw": names.count("DEPTHWISE_CONV_2D"),
        "n_pad": names.count("PAD"),
        "n_mean": names.count("MEAN"),
        "n_mul": names.count("MUL"),
        "n_add": names.count("ADD"),
        "n_scratch": sum(1 for o in plan.ops if o.scratch),
        # input + one output per op + weight and bias per conv/FC + distinct PAD paddings + the
        # MEAN axes constant (shared by all MEANs)
        "n_tensors": 1 + len(g.ops) + 2 * (n_conv + 1) + len(pad_kernels) + 1,
        "conv_channels": sum(conv_ch),
        "channel_array_bytes": sum(2 * align(4 * c) for c in conv_ch),
        "weight_bytes": sum(c.weight_count for c in t.convs),
        "bias_bytes": 4 * sum(c.out_ch for c in t.convs),
    }


COUNT_KEYS = ("peak_live", "n_ops", "n_conv", "n_dw", "n_pad", "n_mean", "n_mul", "n_add", "n_scratch", "n_tensors",
              "conv_channels", "channel_array_bytes", "weight_bytes", "bias_bytes")


# ---- a population: the same templates over arrays -------------------------------------------------


@dataclass
class _Part:
    """One part (stem, a block, head) evaluated over arrays: per op of its template the shape,
    aligned output bytes (0 where absent), aligned scratch bytes and reads."""

    template: tuple
    shapes: dict
    size: dict
    scratch: dict
    reads: list


def _part(template, shapes, kernels: str) -> _Part:
    size = {t.key: align(shapes[t.key].ch * shapes[t.key].hw ** 2) * shapes[t.key].exists for t in template}
    scratch = {t.key: _op_scratch(kernels, t.op, shapes[t.key]) for t in template}
    return _Part(template, shapes, size, scratch, reads(template, shapes))


def _peak(p: _Part, live_in) -> np.ndarray:
    """Peak of live bytes over the ops of a part entered with only its input (``live_in``
    bytes) live: each op's output is allocated, its scratch is live while it runs, then every
    buffer it is the last reader of is freed."""
    n = len(p.template)
    last: list[list[tuple[str, object]]] = [[] for _ in range(n)]
    later: dict[str, object] = {}
    for j in reversed(range(n)):
        for key, r in p.reads[j]:
            seen = later.get(key, False)
            last[j].append((key, r & logical_not(seen)))
            later[key] = seen | r
    sizes = {IN: live_in, **p.size}
    live, peak = live_in, 0
    for j, t in enumerate(p.template):
        live = live + p.size[t.key]
        peak = np.maximum(peak, live + p.scratch[t.key])
        for key, is_last in last[j]:
            live = live - sizes[key] * is_last
    return peak


def _count_columns(cfg) -> tuple[str, ...]:
    return ("n_ops", "n_conv", "n_dw", "n_pad", "n_mean", "n_mul", "n_add", "conv_channels", "channel_array_bytes",
            "weight_bytes", "bias_bytes") + tuple(f"pad_k{k}" for k in sorted({FIRST_KERNEL, *cfg.ks_list}))


def _counts(p: _Part, columns: tuple[str, ...]) -> np.ndarray:
    """The counts of :data:`COUNT_KEYS` that do not depend on the kernel set, for one part:
    ``(..., len(columns))`` (per-kernel PAD counts last: distinct paddings share a constant)."""
    one = next(iter(p.size.values()))
    out = {c: np.zeros(np.shape(one), np.int64) for c in columns}
    count = {"DEPTHWISE_CONV_2D": "n_dw", "PAD": "n_pad", "MEAN": "n_mean", "MUL": "n_mul", "ADD": "n_add"}
    for t in p.template:
        s = p.shapes[t.key]
        out["n_ops"] = out["n_ops"] + s.exists
        if t.op in count:
            out[count[t.op]] = out[count[t.op]] + s.exists
        if t.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            out["n_conv"] = out["n_conv"] + s.exists
            out["conv_channels"] = out["conv_channels"] + s.ch * s.exists
            out["channel_array_bytes"] = out["channel_array_bytes"] + 2 * align(4 * s.ch) * s.exists
        if t.role is not None:
            out["weight_bytes"] = out["weight_bytes"] + s.ch * s.fan_in * s.kernel ** 2 * s.exists
            out["bias_bytes"] = out["bias_bytes"] + 4 * s.ch * s.exists
        if t.op == "PAD":
            k = p.shapes[pad_target(p.template, t.key)].kernel
            for c in columns:
                if c.startswith("pad_k"):
                    out[c] = out[c] + s.exists * (k == int(c[5:]))
    return np.stack([np.broadcast_to(out[c], np.shape(one)) for c in columns], axis=-1)


@dataclass(frozen=True)
class _Tables:
    """Per part configuration (:class:`~ofa_mcu.space.ops.PartGrid`): the peak of live bytes
    and the scratch requests for one kernel set, and the counts (kernel-independent)."""

    slot_peak: np.ndarray  # (S * C + 1,)
    slot_scratch: np.ndarray
    slot_counts: np.ndarray  # (S * C + 1, Q)
    fixed_peak: np.ndarray  # (F,)
    fixed_scratch: np.ndarray
    fixed_counts: np.ndarray  # (F, Q)
    columns: tuple[str, ...]


def _n_scratch(p: _Part) -> object:
    return sum(np.asarray(p.scratch[t.key]) > 0 for t in p.template)


@lru_cache(maxsize=32)
def _tables(cfg, kernels: str) -> _Tables:
    """The templates walked once per configuration of each part of space ``cfg``."""
    g = part_grid(cfg)
    columns = _count_columns(cfg)
    slot = _part(BLOCK_OPS, block_shapes(g.slots), kernels)
    stem = _part(STEM_OPS, stem_shapes(g.net), kernels)
    block0 = _part(BLOCK_OPS, block_shapes(g.block0), kernels)
    head = _part(HEAD_OPS, head_shapes(g.net), kernels)
    image = align(g.net.in_channels * g.net.image_size ** 2)
    fixed_peak = np.maximum.reduce([_peak(stem, image), _peak(block0, stem.size["first_conv"]),
                                    _peak(head, align(g.net.mix_in * g.net.mix_hw ** 2))])
    fixed_scratch = sum(np.broadcast_to(_n_scratch(p), g.net.image_size.shape) for p in (stem, block0, head))
    return _Tables(
        flat_slot_table(_peak(slot, align(g.slots.in_ch * g.slots.in_hw ** 2))),
        flat_slot_table(np.broadcast_to(_n_scratch(slot), g.slots.in_ch.shape)),
        flat_slot_table(_counts(slot, columns)),
        fixed_peak.astype(np.int64), fixed_scratch.astype(np.int64),
        sum(_counts(p, columns) for p in (stem, block0, head)), columns)


def batch_head(bt: BatchTable, kernels: str = "reference", greedy: bool = True) -> dict[str, np.ndarray]:
    """``head`` (TFLM's greedy layout, or ``peak_live`` when not ``greedy``), ``peak_live`` and
    ``n_scratch`` of every row planned for ``kernels``: the part of :func:`batch_graph` that
    depends on the kernel set."""
    _check_kernels(kernels)
    t = _tables(bt.cfg, kernels)
    g = part_grid(bt.cfg)
    rows, fixed = g.slot_rows(bt), g.fixed_rows(bt)
    peak = t.fixed_peak[fixed]
    if rows.shape[0]:
        peak = np.maximum(peak, t.slot_peak[rows].max(axis=0))
    n_scratch = t.fixed_scratch[fixed] + t.slot_scratch[rows].sum(axis=0)
    return {"head": batch_greedy(*batch_buffers(bt, kernels)) if greedy else peak, "peak_live": peak,
            "n_scratch": n_scratch}


def batch_graph(bt: BatchTable, greedy: bool = True, kernels: str = "reference") -> dict[str, np.ndarray]:
    """Vectorized :func:`graph_counts`: the head and every count, one int64 array each.

    ``greedy=False`` skips the planner simulation (the costly part) and reports ``peak_live``
    as the head: a lower bound, equal to TFLM's head on about 99 % of random subnets."""
    _check_kernels(kernels)
    t = _tables(bt.cfg, "reference")
    g = part_grid(bt.cfg)
    c = t.fixed_counts[g.fixed_rows(bt)] + t.slot_counts[g.slot_rows(bt)].sum(axis=0)
    out = {name: c[:, i] for i, name in enumerate(t.columns) if not name.startswith("pad_k")}
    distinct_pads = (c[:, len(out):] > 0).sum(axis=1)
    # input + one output per op + weight and bias per conv/FC + distinct PAD paddings + the MEAN
    # axes constant (shared by all MEANs)
    out["n_tensors"] = 1 + out["n_ops"] + 2 * (out["n_conv"] + 1) + distinct_pads + 1
    return {**batch_head(bt, kernels, greedy), **out}


# ---- the activation plan of a whole population -------------------------------------------------

# Two buffers whose lifetimes overlap are at most this far apart in op order: a residual block's
# input lives until its ADD, at most one block's ops and its depthwise scratch later.
_WINDOW = len(BLOCK_OPS) + 1


def batch_buffers(bt: BatchTable, kernels: str = "reference") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every row's planned buffers in op order: ``(size, first, last, count)``, arrays of
    shape (N, M) compacted to the left (``count`` (N,) of them exist; the rest have size 0 and
    an empty lifetime). The vectorized twin of :meth:`GraphPlan.planned_buffers` (scratch
    buffers in op order here, each right after its op's output; ties in size are placed tensors
    first by TFLM, a tie-break the planner simulation only approximates)."""
    _check_kernels(kernels)
    n = bt.image_size.shape[0]
    rows = np.arange(n)
    net = batch_net_view(bt)
    parts = [(STEM_OPS, stem_shapes(net)), (BLOCK_OPS, block_shapes(batch_block0_view(bt)))]
    parts += [(BLOCK_OPS, block_shapes(batch_slot_view(bt, s))) for s in range(bt.active.shape[0])]
    parts.append((HEAD_OPS, head_shapes(net)))
    width = 1 + sum(2 * len(template) for template, _ in parts)  # the input, each op's output and scratch
    size = np.zeros((n, width), np.int64)
    ex = np.zeros((n, width), bool)
    scratch = np.zeros(width, bool)  # columns holding scratch buffers (not op outputs)
    last_reader = np.tile(np.arange(width), (n, 1))  # column of the last op reading it (itself: none)
    size[:, 0], ex[:, 0] = align(net.in_channels * net.image_size ** 2), True
    cur = np.zeros(n, np.int64)  # column of the buffer the next part reads as its input
    j = 1
    for template, shapes in parts:
        p = _part(template, shapes, kernels)
        col = {IN: cur}
        for t, row in zip(template, p.reads):
            col[t.key] = j
            size[:, j], ex[:, j] = p.size[t.key], shapes[t.key].exists
            if np.any(p.scratch[t.key]):
                j += 1
                size[:, j], ex[:, j], scratch[j] = p.scratch[t.key], np.asarray(p.scratch[t.key]) > 0, True
            for key, r in row:  # the last reader seen so far: this op, where it reads
                c = col[key]
                last_reader[rows, c] = np.where(r, col[t.key], last_reader[rows, c])
            j += 1
        for t in template:  # the part hands on the output of its last existing op
            cur = np.where(shapes[t.key].exists, col[t.key], cur)
    size, ex, scratch, last_reader = size[:, :j], ex[:, :j], scratch[:j], last_reader[:, :j]
    # Column i > 0 of the op outputs is written by op i - 1; a scratch buffer lives during the op
    # whose output precedes it (it is not an output, so it does not advance the count).
    op_of = np.maximum(np.cumsum(ex & ~scratch, axis=1) - 2, 0)
    last = np.take_along_axis(op_of, last_reader, axis=1)
    count = ex.sum(axis=1)
    order = np.argsort(~ex, axis=1, kind="stable")[:, :max(int(count.max()), 1)]  # beyond: nothing
    size_c = np.take_along_axis(size, order, axis=1)
    ex_c = np.take_along_axis(ex, order, axis=1)
    first_c = np.where(ex_c, np.take_along_axis(op_of, order, axis=1), np.iinfo(np.int64).max // 4)
    last_c = np.where(ex_c, np.take_along_axis(last, order, axis=1), -1)
    return size_c, first_c, last_c, count


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
