"""Accuracy collection: real measurements of subnets, the lab's file format, resumable."""
import gzip
import json
import subprocess
import sys

import pytest

from ofa_mcu.config import FASHION_MNIST
from ofa_mcu.space import validate_arch
from ofa_mcu.train.collect import planned_archs


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ofa_mcu", *args], capture_output=True, text=True, timeout=600,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_plan_is_seeded_and_distinct():
    a = planned_archs(FASHION_MNIST, 30, seed=5)
    assert a == planned_archs(FASHION_MNIST, 30, seed=5) and a != planned_archs(FASHION_MNIST, 30, seed=6)
    assert planned_archs(FASHION_MNIST, 40, seed=5)[:30] == a  # a longer plan extends a shorter one


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
