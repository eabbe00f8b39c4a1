"""Accuracy collection: real measurements of subnets, the lab's file format, resumable."""
import gzip
import json
import subprocess
import sys

import pytest

from ofa_mcu.config import FASHION_MNIST
from ofa_mcu.errors import UserError
from ofa_mcu.space import validate_arch
from ofa_mcu.space.arch import largest_arch, smallest_arch
from ofa_mcu.train.collect import collect_pairs, planned_archs


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ofa_mcu", *args], capture_output=True, text=True, timeout=600,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_plan_is_seeded_and_distinct():
    a = planned_archs(FASHION_MNIST, 30, seed=5)
    assert a == planned_archs(FASHION_MNIST, 30, seed=5) and a != planned_archs(FASHION_MNIST, 30, seed=6)
    assert planned_archs(FASHION_MNIST, 40, seed=5)[:30] == a  # a longer plan extends a shorter one
    spread = planned_archs(FASHION_MNIST, 30, seed=5, sampler="spread")
    assert spread == planned_archs(FASHION_MNIST, 30, seed=5, sampler="spread") and spread != a
    with pytest.raises(UserError, match="sampler 'wide' is unknown; choose one of uniform, spread"):
        planned_archs(FASHION_MNIST, 3, seed=5, sampler="wide")


def test_onnx_engine_scores_like_torch():
    """ONNX Runtime scores the same calibrated float subnet as torch: one top-1 at every resolution."""
    import torch

    from ofa_mcu.assets import default_supernet
    from ofa_mcu.data import get_dataset
    from ofa_mcu.nn import OFAMCUNet, load_supernet_state
    from ofa_mcu.train.subnet_eval import ResizedImages, measure_top1

    torch.set_num_threads(1)
    net = OFAMCUNet(FASHION_MNIST)
    load_supernet_state(net, default_supernet("fashion_mnist"))
    data = get_dataset("fashion_mnist")
    images = ResizedImages(data.holdout.subset(range(500)))
    archs = [smallest_arch(FASHION_MNIST, 32), planned_archs(FASHION_MNIST, 1, seed=3)[0] | {"image_size": 40},
             largest_arch(FASHION_MNIST, 48)]
    for arch in archs:
        by = {e: measure_top1(net, arch, data.calib, images, calib_images=200, engine=e) for e in ("torch", "onnx")}
        assert by["onnx"] > 70.0, (arch["image_size"], by)  # a trained subnet, not noise
        assert abs(by["onnx"] - by["torch"]) <= 100 / 500 + 1e-9, (arch["image_size"], by)  # one image at most (a tie)
    assert sorted(images._by_size) == [32, 40, 48]  # each resolution resized once


def test_collect_rejects_an_unknown_engine(tmp_path):
    with pytest.raises(UserError, match="engine 'tvm' is unknown"):
        collect_pairs(None, FASHION_MNIST, None, tmp_path / "p.json", 1, engine="tvm")


@pytest.mark.slow
def test_collect_appends_and_resumes(tmp_path):
    ckpt = tmp_path / "init.pt"
    r = _cli("supernet", "init", "--space", "fashion_mnist", "--out", str(ckpt))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "pairs.json.gz"
    common = ["collect", "--supernet", str(ckpt), "--out", str(out), "--calib-images", "32", "--eval-images", "60",
              "--threads", "1", "--quiet"]
    r = _cli(*common, "-n", "2")
    assert r.returncode == 0, r.stderr
    pairs = json.loads(gzip.decompress(out.read_bytes()))
    assert len(pairs) == 2
    for arch, acc in pairs:
        validate_arch(arch, FASHION_MNIST)
        assert 0.0 <= acc <= 100.0
        assert abs(acc * 0.6 - round(acc * 0.6)) < 1e-3  # a count of correct images out of 60
    r = _cli(*common, "-n", "3")  # resumes: only the third planned subnet is measured
    assert r.returncode == 0, r.stderr
    again = json.loads(gzip.decompress(out.read_bytes()))
    assert again[:2] == pairs and len(again) == 3
    assert [a for a, _ in again] == planned_archs(FASHION_MNIST, 3, seed=0)
    # the file is in the lab's pair format, as the predictor reads it
    from ofa_mcu.predictor import load_pairs

    loaded = load_pairs([out], FASHION_MNIST)
    assert loaded.batch.to_dicts() == [a for a, _ in again] and loaded.acc.tolist() == [x for _, x in again]
    spread = tmp_path / "spread.json"
    r = _cli(*common[:4], str(spread), *common[5:], "-n", "2", "--sampler", "spread")
    assert r.returncode == 0, r.stderr
    assert [a for a, _ in json.loads(spread.read_text())] == planned_archs(FASHION_MNIST, 2, seed=0, sampler="spread")


def test_the_second_calibration_sample_is_disjoint_from_the_first():
    """scripts/label_noise.py and scripts/reference_labels.py measure each subnet under the
    datasets' calibration sample and under this one: same size, plain training images, no image
    in common, spread over the whole training set like the first."""
    from ofa_mcu.data import get_dataset
    from ofa_mcu.train.subnet_eval import disjoint_calibration

    data = get_dataset("fashion_mnist", augment=False, calib_images=2000)
    b = disjoint_calibration(data.train, 2000)
    a_idx, b_idx = set(data.calib.indices.tolist()), set(b.indices.tolist())
    assert len(b) == len(b_idx) == len(a_idx) == 2000
    assert not a_idx & b_idx and b_idx <= set(data.train.indices.tolist())
    assert b.augment is None
    assert max(b_idx) - min(b_idx) > 0.99 * (max(data.train.indices) - min(data.train.indices))
