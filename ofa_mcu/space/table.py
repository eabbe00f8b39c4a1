"""The per-layer table: one source of truth for a network's shape.

``build_table(arch, cfg)`` turns an arch dict into the blocks and convolutions of the subnet,
in forward order. The analytic arithmetic (MACs, params, memory), the torch subnet, the
TFLite converter and the C code generator all read this table instead of re-deriving shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..config import VWW, SpaceConfig, make_divisible
from .arch import active_slots, validate_arch


# The stem conv's kernel size (the space's only fixed kernel).
FIRST_KERNEL = 3


def conv_out_hw(in_hw: int, stride: int) -> int:
    """Output size of an odd-kernel conv with PyTorch's symmetric ``k // 2`` padding."""
    return (in_hw - 1) // stride + 1


@dataclass(frozen=True)
class ConvSpec:
    """One Conv2d or Linear of the subnet.

    ``kind`` is ``"conv"`` or ``"linear"``; ``role`` says what it does in its block
    (first_conv, expand, depthwise, se_reduce, se_expand, project, feature_mix, classifier).
    """

    kind: str
    role: str
    in_ch: int
    out_ch: int
    kernel: int
    stride: int
    groups: int
    in_hw: int
    out_hw: int
    bias: bool
    bn: bool
    act: str  # "relu6", "relu", "hsigmoid" (relu6(x + 3) / 6) or "none"
    block: int  # index into ArchTable.blocks, -1 for the stem and the head

    @property
    def macs(self) -> int:
        """Multiply-accumulates of this layer."""
        return self.out_ch * self.out_hw * self.out_hw * (self.in_ch // self.groups) * self.kernel * self.kernel

    @property
    def weight_count(self) -> int:
        """Number of weights (no bias, no BN)."""
        return self.out_ch * (self.in_ch // self.groups) * self.kernel * self.kernel

    @property
    def params(self) -> int:
        """Trainable parameters as ``nn.Module.parameters()`` counts them (weights, bias, BN)."""
        return self.weight_count + (self.out_ch if self.bias else 0) + (2 * self.out_ch if self.bn else 0)

    @property
    def in_elems(self) -> int:
        """Elements of the input activation."""
        return self.in_ch * self.in_hw * self.in_hw

    @property
    def out_elems(self) -> int:
        """Elements of the output activation."""
        return self.out_ch * self.out_hw * self.out_hw

    def fixture_row(self) -> list:
        """The row format of ``space_fixtures.json``'s ``layers`` list."""
        return [self.kind, self.in_ch, self.out_ch, self.kernel, self.stride, self.groups,
                self.in_hw, self.out_hw, int(self.bias), self.macs]


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block that runs in the subnet.

    ``slot`` is its index in the arch's ``ks``/``e`` lists (-1 for the fused block 0, which is
    a single 1x1 projection). ``mid`` is 0 when the block has no expansion conv.
    """

    slot: int
    stage: int
    in_ch: int
    mid: int
    out_ch: int
    kernel: int
    stride: int
    se_mid: int  # 0 when the block has no squeeze-and-excite
    residual: bool
    in_hw: int
    out_hw: int

    @property
    def fused(self) -> bool:
        """True for block 0, the projection-only first block."""
        return self.slot < 0

    @property
    def supernet_index(self) -> int:
        """Index of this block in the supernet's ``blocks`` ModuleList."""
        return self.slot + 1


@dataclass(frozen=True)
class ArchTable:
    """The subnet of one arch: stem, blocks, head, and every conv in forward order."""

    arch: dict
    cfg: SpaceConfig
    first_conv: ConvSpec
    blocks: tuple[BlockSpec, ...]
    feature_mix: ConvSpec
    classifier: ConvSpec
    convs: tuple[ConvSpec, ...]

    @property
    def image_size(self) -> int:
        """Input resolution."""
        return self.arch["image_size"]

    def block_convs(self, index: int) -> list[ConvSpec]:
        """The convs of block ``index`` (an index into ``blocks``)."""
        return [c for c in self.convs if c.block == index]


def _block_convs(b: BlockSpec, index: int, se_act: str) -> list[ConvSpec]:
    convs = []
    if b.mid:
        convs.append(ConvSpec("conv", "expand", b.in_ch, b.mid, 1, 1, 1, b.in_hw, b.in_hw, False, True, "relu6", index))
        dw_ch = b.mid
    else:
        dw_ch = b.in_ch
    if not b.fused:
        convs.append(ConvSpec("conv", "depthwise", dw_ch, dw_ch, b.kernel, b.stride, dw_ch, b.in_hw, b.out_hw,
                              False, True, "relu6", index))
        if b.se_mid:
            convs.append(ConvSpec("conv", "se_reduce", dw_ch, b.se_mid, 1, 1, 1, 1, 1, True, False, se_act, index))
            convs.append(ConvSpec("conv", "se_expand", b.se_mid, dw_ch, 1, 1, 1, 1, 1, True, False, "hsigmoid", index))
    convs.append(ConvSpec("conv", "project", dw_ch, b.out_ch, 1, 1, 1, b.out_hw, b.out_hw, False, True, "none", index))
    return convs


def build_table(arch: Mapping, cfg: SpaceConfig = VWW, validate: bool = True) -> ArchTable:
    """The per-layer table of ``arch`` (validated against ``cfg`` unless ``validate=False``)."""
    if validate:
        arch = validate_arch(arch, cfg)
    widths = cfg.widths(arch["wid"])
    hw = arch["image_size"]
    first_hw = conv_out_hw(hw, cfg.first_stride)
    first = ConvSpec("conv", "first_conv", cfg.in_channels, widths["first"], FIRST_KERNEL, cfg.first_stride, 1, hw, first_hw,
                     False, True, "relu6", -1)
    hw = first_hw
    blocks = [BlockSpec(-1, -1, widths["first"], 0, widths["block0"], 1, 1, 0, False, hw, hw)]
    in_ch = widths["block0"]
    active = active_slots(arch, cfg)
    slot_se = cfg.slot_se
    for slot, (stage, pos) in enumerate(zip(cfg.slot_stage, cfg.slot_index_in_stage)):
        if not active[slot]:
            continue
        out_ch = widths["stages"][stage]
        stride = cfg.stage_strides[stage] if pos == 0 else 1
        mid = make_divisible(round(in_ch * arch["e"][slot]), 8)
        out_hw = conv_out_hw(hw, stride)
        blocks.append(BlockSpec(slot, stage, in_ch, mid, out_ch, arch["ks"][slot], stride,
                                in_ch // 4 if slot_se[slot] else 0, stride == 1 and in_ch == out_ch, hw, out_hw))
        in_ch, hw = out_ch, out_hw
    convs = [first]
    for i, b in enumerate(blocks):
        convs.extend(_block_convs(b, i, cfg.se_reduce_act))
    mix = ConvSpec("conv", "feature_mix", in_ch, widths["feature_mix"], 1, 1, 1, hw, hw, False, True, "relu6", -1)
    cls = ConvSpec("linear", "classifier", widths["feature_mix"], cfg.n_classes, 1, 1, 1, 1, 1, True, False, "none", -1)
    convs += [mix, cls]
    return ArchTable(dict(arch), cfg, first, tuple(blocks), mix, cls, tuple(convs))
