"""The converted op list (ofa_mcu.space.ops): the converter's rules, one subnet's ops, and the
population forms (templates over arrays, per-configuration tables) against direct evaluation."""
from __future__ import annotations

import numpy as np
import pytest

from ofa_mcu.config import FASHION_MNIST, VWW
from ofa_mcu.space.arch import smallest_arch
from ofa_mcu.space.batch import build_batch_table, sample_batch
from ofa_mcu.space.ops import (
    BLOCK_OPS,
    batch_slot_view,
    block_shapes,
    block_view,
    convert_ops,
    keeps_se_mean,
    needs_pad,
    pad_amounts,
)
from ofa_mcu.space.table import build_table


@pytest.mark.parametrize("kernel, stride, hw, pad", [
    (3, 1, 32, False), (3, 2, 33, False), (3, 2, 32, True), (7, 2, 14, True), (5, 2, 7, False), (1, 2, 8, False)])
def test_the_pad_rule(kernel, stride, hw, pad):
    assert bool(needs_pad(kernel, stride, hw)) is pad
    k = np.array([kernel, kernel])
    assert needs_pad(k, np.array([stride] * 2), np.array([hw] * 2)).tolist() == [pad, pad]


def test_pad_amounts_keep_pytorchs_output_size():
    for k in (3, 5, 7):
        before, after = pad_amounts(k)
        for hw in (8, 14, 56):
            valid_out = (hw + before + after - k) // 2 + 1
            assert valid_out == (hw - 1) // 2 + 1  # what PyTorch's k // 2 padding gives


def test_se_mean_is_dropped_only_over_1x1_and_the_pool_stays():
    assert not keeps_se_mean(1) and keeps_se_mean(2)
    # Fashion-MNIST at 32 px: the last SE stage runs at 1x1
    t = build_table(smallest_arch(FASHION_MNIST, 32), FASHION_MNIST)
    g = convert_ops(t)
    by_block = {}
    for op in g.ops:
        by_block.setdefault(op.block, []).append(op.name)
    for i, b in enumerate(t.blocks):
        if b.se_mid:
            assert by_block[i].count("MEAN") == (1 if b.out_hw > 1 else 0) and by_block[i].count("MUL") == 1
    assert any(b.se_mid and b.out_hw == 1 for b in t.blocks)
    assert g.ops[-2].name == "MEAN" and g.ops[-2].key == "pool"


def test_one_subnets_op_list_reads_and_writes_consistent_buffers():
    t = build_table(smallest_arch(VWW, 112), VWW)
    g = convert_ops(t)
    assert [op.output for op in g.ops] == list(range(1, len(g.ops) + 1))
    assert all(max(op.inputs) < op.output for op in g.ops)
    convs = [op.conv for op in g.ops if op.conv is not None]
    assert convs == list(t.convs)  # every conv of the table, in order, once
    pads = [op for op in g.ops if op.name == "PAD"]
    assert pads and all(g.ops[op.output].inputs[0] == op.output for op in pads)  # a PAD feeds its conv


@pytest.mark.parametrize("cfg", [VWW, FASHION_MNIST], ids=lambda c: c.name)
def test_block_shapes_are_the_same_on_one_table_and_on_arrays(cfg):
    batch = sample_batch(np.random.default_rng(3), 40, cfg, wids=tuple(range(len(cfg.width_mult_list))))
    bt = build_batch_table(batch, cfg)
    arrays = block_shapes(batch_slot_view(bt))
    for n, arch in enumerate(batch.to_dicts()):
        t = build_table(arch, cfg)
        slots = [b for b in t.blocks if not b.fused]
        active = np.flatnonzero(bt.active[:, n])
        assert [b.slot for b in slots] == active.tolist()
        for b in slots:
            one = block_shapes(block_view(b))
            for op in BLOCK_OPS:
                s, a = one[op.key], arrays[op.key]
                assert bool(s.exists) == bool(np.asarray(a.exists)[b.slot, n]), (op.key, arch)
                if s.exists:
                    assert (s.ch, s.hw) == (np.asarray(a.ch)[b.slot, n], np.broadcast_to(a.hw, bt.active.shape)[b.slot, n])


@pytest.mark.parametrize("kernels", ["reference", "cmsis-nn"])
@pytest.mark.parametrize("cfg", [VWW, FASHION_MNIST], ids=lambda c: c.name)
def test_per_configuration_tables_equal_the_templates_walked_over_the_population(cfg, kernels):
    """The peak and counts (TFLM plan) and the latency features gathered from the tables of
    each part configuration equal the templates evaluated on the population's own arrays."""
    from ofa_mcu.efficiency import tflm_plan as tp
    from ofa_mcu.efficiency.latency import FEATURES, batch_features, part_features

    batch = sample_batch(np.random.default_rng(4), 500, cfg, wids=tuple(range(len(cfg.width_mult_list))))
    bt = build_batch_table(batch, cfg)
    view = batch_slot_view(bt)
    slots = tp._part(BLOCK_OPS, block_shapes(view), kernels)
    peak = tp._peak(slots, tp.align(bt.in_ch * bt.in_hw ** 2) * bt.active).max(axis=0)
    gathered = tp._tables(cfg, kernels)
    rows = tp.part_grid(cfg).slot_rows(bt)
    assert np.array_equal(gathered.slot_peak[rows].max(axis=0), peak)
    counts = tp._counts(slots, gathered.columns).sum(axis=0)
    assert np.array_equal(gathered.slot_counts[rows].sum(axis=0), counts)
    feats = part_features(BLOCK_OPS, block_shapes(view), view)
    direct = np.stack([np.broadcast_to(np.asarray(feats[k], float), bt.active.shape).sum(axis=0) for k in FEATURES], 1)
    fixed = batch_features(bt) - direct  # the stem, block 0 and head part, the same for equal (wid, resolution)
    key = batch.wid * 1000 + batch.image_size
    for k in np.unique(key):
        assert np.allclose(fixed[key == k], fixed[key == k][0])
