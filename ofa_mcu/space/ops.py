"""The converted op list of a subnet: what the int8 converter emits, derived once from the table.

A subnet converts to TFLite builtins in this order (``ofa_mcu.quant`` builds exactly this graph):

- stem: [PAD] CONV_2D (:data:`STEM_OPS`);
- each block, block 0 included (:data:`BLOCK_OPS`): [CONV_2D expand] [PAD] [DEPTHWISE_CONV_2D]
  [MEAN, CONV_2D, CONV_2D, MUL: squeeze-and-excite] CONV_2D project [ADD residual];
- head: CONV_2D feature mix, MEAN (global pool), FULLY_CONNECTED (:data:`HEAD_OPS`).

The converter's two rules are written here once and every reader applies them from here:

- **PAD** (:func:`needs_pad`): PyTorch pads ``k // 2`` on every side. TFLite's SAME padding
  agrees for stride 1 and for stride 2 on an odd input; for stride 2 on an even input SAME
  would pad one row less on top, so there the converter gets an explicit PAD of ``k // 2``
  before and ``k // 2 - 1`` after (the rows the conv reads, :func:`pad_amounts`) and a VALID
  conv.
- **SE MEAN at 1x1** (:func:`keeps_se_mean`): the converter drops the squeeze-and-excite MEAN
  over a 1x1 map (an identity); the head's MEAN stays (it also drops the H, W axes).

One template per part (:class:`OpTemplate`: the op, its role and the buffers it reads) and one
shape function per part (``*_shapes``: whether each op exists and what it outputs) describe
the graph. The shape functions are plain arithmetic that works on one table's integers and,
unchanged, on a whole population's arrays (:class:`~ofa_mcu.space.batch.BatchTable`), so
:func:`convert_ops` (one subnet, the readable reference) and the vectorized readers (the TFLM
memory model's activation plan and counts, the latency features) walk the same definition.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, NamedTuple

import numpy as np

from .table import FIRST_KERNEL, ArchTable, BlockSpec, ConvSpec

# ---- the converter's rules ---------------------------------------------------------------------


def needs_pad(kernel, stride, in_hw):
    """Whether the converter puts an explicit PAD before a conv (scalars or arrays): stride 2
    on an even input with a kernel larger than 1 (elsewhere TFLite's SAME equals PyTorch's
    symmetric ``k // 2``)."""
    return (stride != 1) & (in_hw % 2 == 0) & (kernel // 2 > 0)


def pad_amounts(kernel: int) -> tuple[int, int]:
    """(before, after) rows and columns of that PAD: the conv's outputs are centred on rows
    0, 2, ..., in_hw - 2, so it reads ``k // 2`` rows before and ``k // 2 - 1`` after."""
    return (kernel // 2, kernel // 2 - 1)


def padded_hw(kernel, in_hw):
    """Height (= width) of a PAD's output (scalars or arrays)."""
    return in_hw + 2 * (kernel // 2) - 1


def keeps_se_mean(hw):
    """Whether the converter keeps a squeeze-and-excite MEAN over an ``hw`` x ``hw`` map
    (scalars or arrays): it drops it over 1x1, where it is an identity."""
    return hw > 1


# ---- templates ---------------------------------------------------------------------------------

IN = "in"  # the buffer a part reads first: the image for the stem, the previous output otherwise


@dataclass(frozen=True)
class OpTemplate:
    """One op of a part of the graph. ``inputs``: per input, the buffers it may read, in order
    of preference; it reads the first one that exists (:data:`IN` always does). ``role``: the
    :class:`~ofa_mcu.space.table.ConvSpec` role of a conv or FC."""

    key: str
    op: str  # TFLite builtin
    inputs: tuple[tuple[str, ...], ...]
    role: str | None = None


STEM_OPS = (
    OpTemplate("first_conv_pad", "PAD", ((IN,),)),
    OpTemplate("first_conv", "CONV_2D", (("first_conv_pad", IN),), "first_conv"),
)
BLOCK_OPS = (
    OpTemplate("expand", "CONV_2D", ((IN,),), "expand"),
    OpTemplate("dw_pad", "PAD", (("expand", IN),)),
    OpTemplate("dw", "DEPTHWISE_CONV_2D", (("dw_pad", "expand", IN),), "depthwise"),
    OpTemplate("se_mean", "MEAN", (("dw",),)),
    OpTemplate("se_reduce", "CONV_2D", (("se_mean", "dw"),), "se_reduce"),
    OpTemplate("se_expand", "CONV_2D", (("se_reduce",),), "se_expand"),
    OpTemplate("se_mul", "MUL", (("dw",), ("se_expand",))),
    OpTemplate("project", "CONV_2D", (("se_mul", "dw", "expand", IN),), "project"),
    OpTemplate("add", "ADD", (("project",), (IN,))),
)
HEAD_OPS = (
    OpTemplate("feature_mix", "CONV_2D", ((IN,),), "feature_mix"),
    OpTemplate("pool", "MEAN", (("feature_mix",),)),
    OpTemplate("classifier", "FULLY_CONNECTED", (("pool",),), "classifier"),
)


class Shape(NamedTuple):
    """What one op outputs: ``exists`` (bool), ``ch`` channels of an ``hw`` x ``hw`` map (1 for
    vectors), and for a conv its ``kernel`` and ``fan_in`` (input channels per group)."""

    exists: Any
    ch: Any
    hw: Any
    kernel: Any = 0
    fan_in: Any = 0


# ---- views: one table's integers or a population's arrays ----------------------------------------


class NetView(NamedTuple):
    """The stem and head of one subnet (ints) or of a population (arrays)."""

    in_channels: Any
    image_size: Any
    first_stride: Any
    first_ch: Any
    first_hw: Any
    mix_in: Any
    mix_out: Any
    mix_hw: Any
    n_classes: Any


class BlockView(NamedTuple):
    """One block of one subnet (ints and bools) or a block slot of a population (arrays;
    slot-major ``(S, N)`` arrays for all slots at once). ``fused``: block 0, a lone projection."""

    active: Any
    fused: Any
    in_ch: Any
    mid: Any
    out_ch: Any
    kernel: Any
    stride: Any
    se_mid: Any
    residual: Any
    in_hw: Any
    out_hw: Any


def net_view(t: ArchTable) -> NetView:
    """The stem and head of table ``t``."""
    fc, mix = t.first_conv, t.feature_mix
    return NetView(fc.in_ch, fc.in_hw, fc.stride, fc.out_ch, fc.out_hw, mix.in_ch, mix.out_ch, mix.out_hw,
                   t.classifier.out_ch)


def block_view(b: BlockSpec) -> BlockView:
    """Block ``b`` of a table."""
    return BlockView(True, b.fused, b.in_ch, b.mid, b.out_ch, b.kernel, b.stride, b.se_mid, b.residual, b.in_hw,
                     b.out_hw)


def batch_net_view(bt) -> NetView:
    """The stem and head of every arch of a :class:`~ofa_mcu.space.batch.BatchTable`."""
    return NetView(bt.in_channels, bt.image_size, bt.first_stride, bt.first_ch, bt.first_hw, bt.mix_in, bt.mix_out,
                   bt.mix_hw, bt.n_classes)


def batch_block0_view(bt) -> BlockView:
    """Block 0 (fused) of every arch of a BatchTable, as ``(N,)`` arrays."""
    hw = bt.first_hw
    return BlockView(True, True, bt.first_ch, 0, bt.b0_out, 1, 1, 0, False, hw, hw)


def batch_slot_view(bt, s=slice(None)) -> BlockView:
    """Block slots ``s`` of every arch of a BatchTable (all slots: ``(S, N)`` arrays; one
    slot index: ``(N,)`` arrays)."""
    return BlockView(bt.active[s], False, bt.in_ch[s], bt.mid[s], bt.out_ch[s], bt.kernel[s], bt.stride[s],
                     bt.se_mid[s], bt.residual[s], bt.in_hw[s], bt.out_hw[s])


# ---- shapes -------------------------------------------------------------------------------------


def logical_not(x):
    """``not x`` for a bool, ``~x`` for a bool array."""
    return (not x) if isinstance(x, (bool, np.bool_)) else ~x


def _where(cond, a, b):
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    return np.where(cond, a, b)


def stem_shapes(v: NetView) -> dict[str, Shape]:
    """The stem's ops (:data:`STEM_OPS`) with the PAD rule applied."""
    return {
        "first_conv_pad": Shape(needs_pad(FIRST_KERNEL, v.first_stride, v.image_size), v.in_channels,
                                padded_hw(FIRST_KERNEL, v.image_size)),
        "first_conv": Shape(True, v.first_ch, v.first_hw, FIRST_KERNEL, v.in_channels),
    }


def block_shapes(b: BlockView) -> dict[str, Shape]:
    """A block's ops (:data:`BLOCK_OPS`) with the PAD and SE MEAN rules applied."""
    expand = b.active & (b.mid > 0)
    dw_ch = _where(expand, b.mid, b.in_ch)
    dw = b.active & logical_not(b.fused)
    se = dw & (b.se_mid > 0)
    return {
        "expand": Shape(expand, b.mid, b.in_hw, 1, b.in_ch),
        "dw_pad": Shape(dw & needs_pad(b.kernel, b.stride, b.in_hw), dw_ch, padded_hw(b.kernel, b.in_hw)),
        "dw": Shape(dw, dw_ch, b.out_hw, b.kernel, 1),
        "se_mean": Shape(se & keeps_se_mean(b.out_hw), dw_ch, 1),
        "se_reduce": Shape(se, b.se_mid, 1, 1, dw_ch),
        "se_expand": Shape(se, dw_ch, 1, 1, b.se_mid),
        "se_mul": Shape(se, dw_ch, b.out_hw),
        "project": Shape(b.active, b.out_ch, b.out_hw, 1, dw_ch),
        "add": Shape(b.active & b.residual, b.out_ch, b.out_hw),
    }


def head_shapes(v: NetView) -> dict[str, Shape]:
    """The head's ops (:data:`HEAD_OPS`); its MEAN is always kept."""
    return {
        "feature_mix": Shape(True, v.mix_out, v.mix_hw, 1, v.mix_in),
        "pool": Shape(True, v.mix_out, 1),
        "classifier": Shape(True, v.n_classes, 1, 1, v.mix_out),
    }


# ---- who reads what -----------------------------------------------------------------------------


def reads(template: tuple[OpTemplate, ...], shapes: Mapping[str, Shape]) -> list[list[tuple[str, Any]]]:
    """For each op of ``template``: ``(buffer key, whether the op reads it)`` for every
    candidate input (scalars or arrays): an existing op reads, per input, the first candidate
    that exists."""
    out = []
    for t in template:
        here = shapes[t.key].exists
        row = []
        for alternatives in t.inputs:
            taken = False
            for key in alternatives:
                present = True if key == IN else shapes[key].exists
                row.append((key, here & present & logical_not(taken)))
                if present is True:
                    break
                taken = taken | present
        out.append(row)
    return out


def part_output(template: tuple[OpTemplate, ...], shapes: Mapping[str, Shape]):
    """Key of the buffer a part hands on (its last existing op; :data:`IN` when none runs):
    a string for one subnet."""
    for t in reversed(template):
        if shapes[t.key].exists:
            return t.key
    return IN


# ---- the op list of one subnet --------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One op of the converted graph: ``name`` (the TFLite builtin), ``key`` (``b3_dw``,
    ``first_conv_pad``, ...), the activation buffers it reads and the one it writes (indices
    into :attr:`ConvertedGraph.buffers`), the conv/FC it computes (None for PAD, MEAN, MUL,
    ADD), and a PAD's ``(before, after)`` amounts."""

    name: str
    key: str
    block: int  # index into ArchTable.blocks; -1 for the stem and the head
    inputs: tuple[int, ...]
    output: int
    conv: ConvSpec | None = None
    pad: tuple[int, int] | None = None


@dataclass(frozen=True)
class Buffer:
    """An activation buffer: ``ch`` channels of an ``hw`` x ``hw`` map (``hw`` 1 for vectors)."""

    ch: int
    hw: int

    @property
    def elems(self) -> int:
        """Elements (= bytes at int8)."""
        return self.ch * self.hw * self.hw


@dataclass(frozen=True)
class ConvertedGraph:
    """The converted graph of one subnet: ``ops`` in execution order and the activation
    ``buffers`` (buffer 0 is the input image; op ``i`` writes buffer ``i + 1``)."""

    table: ArchTable
    ops: tuple[Op, ...]
    buffers: tuple[Buffer, ...]

    def producer(self, buffer: int) -> Op | None:
        """The op that writes ``buffer`` (None for the input image)."""
        return self.ops[buffer - 1] if buffer > 0 else None


def convert_ops(t: ArchTable) -> ConvertedGraph:
    """The ops the converter emits for table ``t``, in order, with their buffers."""
    buffers = [Buffer(t.cfg.in_channels, t.image_size)]
    ops: list[Op] = []

    def walk(template, shapes, src: int, block: int, prefix: str, convs: Mapping[str, ConvSpec]) -> int:
        """Append the part's existing ops reading buffer ``src``; returns the buffer it hands on."""
        where = {IN: src}
        for t, row in zip(template, reads(template, shapes)):
            s = shapes[t.key]
            if not s.exists:
                continue
            conv = convs[t.role] if t.role else None
            pad = pad_amounts(shapes[pad_target(template, t.key)].kernel) if t.op == "PAD" else None
            buffers.append(Buffer(int(s.ch), int(s.hw)))
            ops.append(Op(t.op, prefix + t.key, block, tuple(where[k] for k, r in row if r), len(buffers) - 1,
                          conv, pad))
            where[t.key] = len(buffers) - 1
        return where[part_output(template, shapes)]

    head = {c.role: c for c in (t.first_conv, t.feature_mix, t.classifier)}
    view = net_view(t)
    cur = walk(STEM_OPS, stem_shapes(view), 0, -1, "", head)
    for i, b in enumerate(t.blocks):
        cur = walk(BLOCK_OPS, block_shapes(block_view(b)), cur, i, f"b{i}_", {c.role: c for c in t.block_convs(i)})
    walk(HEAD_OPS, head_shapes(view), cur, -1, "", head)
    return ConvertedGraph(t, tuple(ops), tuple(buffers))


def pad_target(template: tuple[OpTemplate, ...], key: str) -> str:
    """The conv a PAD feeds (the op that lists it first among its candidates)."""
    return next(t.key for t in template if any(alts[0] == key for alts in t.inputs))


# ---- populations: each distinct part evaluated once ------------------------------------------------


@dataclass(frozen=True)
class PartGrid:
    """Every distinct configuration of the parts of a space's subnets, as views over small
    arrays, and where a population's rows find theirs.

    A block slot's shapes depend only on the slot, the width index, the slot's expand ratio and
    kernel and the resolution (every stage runs at least one block, so a slot's input does not
    depend on the depths); the stem, block 0 and head depend on the width index and the
    resolution. So a quantity of a part (a peak, a count, a latency feature) is computed once per
    configuration from the templates and a population's rows gather it: ``slots`` are ``(S, C)``
    arrays (slot ``s`` in configuration ``c``, every slot active), ``net`` and ``block0`` ``(F,)``
    arrays.
    """

    slots: BlockView
    net: NetView
    block0: BlockView
    e_index: np.ndarray  # expand ratio -> its index in the space's list (a table over values)
    k_index: np.ndarray
    r_index: np.ndarray
    n_e: int
    n_k: int
    n_r: int

    def slot_rows(self, bt) -> np.ndarray:
        """``(S, N)``: the row of every slot of every arch of a
        :class:`~ofa_mcu.space.batch.BatchTable` in a slot table made by :func:`flat_slot_table`
        (inactive slots: its last row, zeros)."""
        s, c = self.slots.in_ch.shape
        g = bt.genes
        config = ((g.wid[:, None] * self.n_e + self.e_index[g.e]) * self.n_k + self.k_index[g.ks]) * self.n_r \
            + self.r_index[g.image_size][:, None]
        return np.where(bt.active, config.T + (np.arange(s) * c)[:, None], s * c)

    def fixed_rows(self, bt) -> np.ndarray:
        """``(N,)``: the row of the stem, block 0 and head of every arch in an ``(F, ...)`` table."""
        return bt.genes.wid * self.n_r + self.r_index[bt.genes.image_size]


def flat_slot_table(values) -> np.ndarray:
    """A ``(S, C, ...)`` slot table flattened to rows ``s * C + c``, plus a last row of zeros
    for inactive slots (see :meth:`PartGrid.slot_rows`)."""
    v = np.asarray(values)
    flat = v.reshape((v.shape[0] * v.shape[1],) + v.shape[2:])
    return np.concatenate([flat, np.zeros((1,) + v.shape[2:], flat.dtype)])


def _value_index(values) -> np.ndarray:
    out = np.zeros(max(values) + 1, np.int64)
    out[list(values)] = np.arange(len(values))
    return out


def _grid_archs(cfg, wid, e, k, r):
    from .batch import ArchBatch

    n = len(wid)
    return ArchBatch(wid=np.asarray(wid, np.int64),
                     ks=np.repeat(np.asarray(k, np.int64)[:, None], cfg.n_slots, axis=1),
                     e=np.repeat(np.asarray(e, np.int64)[:, None], cfg.n_slots, axis=1),
                     d=np.full((n, cfg.n_depth), max(cfg.depth_list), np.int64),
                     image_size=np.asarray(r, np.int64))


@lru_cache(maxsize=16)
def part_grid(cfg) -> PartGrid:
    """The :class:`PartGrid` of space ``cfg`` (computed once per space)."""
    from .batch import build_batch_table

    e, k, r = (np.asarray(v) for v in (cfg.expand_ratio_list, cfg.ks_list, cfg.resolutions))
    gw, ge, gk, gr = np.indices((len(cfg.width_mult_list), len(e), len(k), len(r))).reshape(4, -1)
    slots = build_batch_table(_grid_archs(cfg, gw, e[ge], k[gk], r[gr]), cfg)
    fw, fr = np.indices((len(cfg.width_mult_list), len(r))).reshape(2, -1)
    fixed = build_batch_table(_grid_archs(cfg, fw, np.full(len(fw), e[0]), np.full(len(fw), k[0]), r[fr]), cfg)
    return PartGrid(batch_slot_view(slots), batch_net_view(fixed), batch_block0_view(fixed),
                    _value_index(cfg.expand_ratio_list), _value_index(cfg.ks_list), _value_index(cfg.resolutions),
                    len(e), len(k), len(r))
