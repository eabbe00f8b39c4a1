"""The shipped Fashion-MNIST supernet against its own record: the supernet-vs-alone table in
``ofa_mcu/assets/supernets/fashion_mnist.json`` re-measures from the shipped weights, and every
from-scratch baseline's subnet taken from the supernet is within a point of training it alone."""
import json

import pytest

from ofa_mcu.config import FASHION_MNIST


@pytest.fixture(scope="module")
def record() -> dict:
    from ofa_mcu.assets import ASSETS

    return json.loads((ASSETS / "supernets" / "fashion_mnist.json").read_text())


def test_every_baseline_subnet_is_within_a_point_of_training_alone(record):
    rows = record["supernet_vs_alone"]["rows"]
    baselines = {json.dumps(b["arch"], sort_keys=True): b for b in record["scratch_baselines"]}
    assert len(rows) == len(baselines) >= 3
    for r in rows:
        b = baselines[json.dumps(r["arch"], sort_keys=True)]
        assert r["alone"] == b["top1"] and b["epochs"] == 13 and b["n"] == 5000
        assert r["gap"] == pytest.approx(r["alone"] - r["supernet"], abs=0.011)
        assert r["gap"] <= 1.0, r["subnet"]


def test_the_smallest_rows_supernet_figure_re_measures_from_the_shipped_weights(record):
    """BN re-calibrated on 1,000 training images, scored on the baseline's 5,000 holdout images,
    as scripts/ship_default.py measured it."""
    import torch

    from ofa_mcu.assets import default_supernet
    from ofa_mcu.data import evenly_spaced, get_dataset
    from ofa_mcu.nn import OFAMCUNet, load_supernet_state
    from ofa_mcu.space.arch import smallest_arch
    from ofa_mcu.train.subnet_eval import measure_subnet

    torch.set_num_threads(1)
    arch = smallest_arch(FASHION_MNIST, 32)
    (row,) = [r for r in record["supernet_vs_alone"]["rows"] if r["arch"] == arch]
    net = OFAMCUNet(FASHION_MNIST)
    load_supernet_state(net, default_supernet("fashion_mnist"))
    data = get_dataset("fashion_mnist")
    holdout = data.holdout.subset(evenly_spaced(len(data.holdout), 5000))
    top1 = measure_subnet(net, arch, data.calib, holdout, calib_images=1000)["top1"]
    assert top1 == pytest.approx(row["supernet"], abs=0.021)  # one image in 5,000 is 0.02 points
