"""The analytic arithmetic reproduces every case of space_fixtures.json exactly."""

import numpy as np
import pytest

from ofa_mcu.efficiency import get_efficiency_model, lab_peak_bytes, table_macs, table_params
from ofa_mcu.space import build_table, smallest_arch
from ofa_mcu.space.batch import ArchBatch, build_batch_table, sample_batch
from ofa_mcu.config import FASHION_MNIST


def test_every_fixture_layer_table_matches(space_fixtures):
    assert len(space_fixtures) == 205
    for case in space_fixtures:
        table = build_table(case["arch"])
        assert [c.fixture_row() for c in table.convs] == case["layers"], case["arch"]
        assert table_macs(table) == case["macs"]
        assert table_params(table) == case["params"]
        assert lab_peak_bytes(table) == case["lab_peak_activation_bytes"]


def test_vectorized_matches_fixtures(space_fixtures):
    batch = ArchBatch.from_dicts([c["arch"] for c in space_fixtures])
    out = get_efficiency_model("analytic").evaluate_batch(batch)
    assert out["macs"].tolist() == [c["macs"] for c in space_fixtures]
    assert out["params"].tolist() == [c["params"] for c in space_fixtures]
    assert out["peak_lab_bytes"].tolist() == [c["lab_peak_activation_bytes"] for c in space_fixtures]


def test_smallest_arch_reference_numbers():
    t = build_table(smallest_arch(image_size=96))
    assert (table_macs(t), table_params(t), lab_peak_bytes(t)) == (7_237_104, 304_538, 73_728)


@pytest.mark.parametrize("cfg", [None, FASHION_MNIST], ids=["vww", "fashion_mnist"])
def test_batch_table_equals_scalar_table(cfg):
    kw = {} if cfg is None else {"cfg": cfg}
    batch = sample_batch(np.random.default_rng(3), 400, **kw)
    bt = build_batch_table(batch, **kw)
    model = get_efficiency_model("analytic", **kw)
    out = model.evaluate_batch(batch)
    for i, arch in enumerate(batch.to_dicts()):
        t = build_table(arch, **kw)
        blocks = [b for b in t.blocks if not b.fused]
        slots = np.flatnonzero(bt.active[:, i])
        assert [b.slot for b in blocks] == slots.tolist()
        for b in blocks:
            s = b.slot
            assert (bt.in_ch[s, i], bt.mid[s, i], bt.out_ch[s, i], bt.kernel[s, i], bt.stride[s, i],
                    bt.se_mid[s, i], bool(bt.residual[s, i]), bt.in_hw[s, i], bt.out_hw[s, i]) == (
                b.in_ch, b.mid, b.out_ch, b.kernel, b.stride, b.se_mid, b.residual, b.in_hw, b.out_hw)
        assert out["macs"][i] == table_macs(t)
        assert out["params"][i] == table_params(t)
        assert out["peak_lab_bytes"][i] == lab_peak_bytes(t)


def test_smallest_arch_is_the_minimum_of_every_metric():
    """The search's infeasibility check relies on this monotonicity."""
    model = get_efficiency_model("analytic")
    small = model.evaluate(smallest_arch())
    out = model.evaluate_batch(sample_batch(np.random.default_rng(4), 5000))
    for k, v in small.items():
        assert out[k].min() >= v, k
