"""Native backend on whole random subnets converted by the project's converter
(``ofa_mcu.quant.convert_int8``): bit-exact with TFLite-Micro on many inputs, every kernel
size / stride / SE / residual case covered, and a static arena at most half TFLM's."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from codegen.native import check_plan, testmodels as tm
from codegen.native.latency import FEATURES, layer_features
from ofa_mcu.efficiency.latency import batch_features
from ofa_mcu.config import FASHION_MNIST
from ofa_mcu.space.arch import validate_arch
from ofa_mcu.space.batch import ArchBatch, build_batch_table
from ofa_mcu.space.folded import random_folded
from ofa_mcu.space.table import build_table

CFG = FASHION_MNIST


def _arch(i: int) -> dict:
    n = CFG.n_slots
    return validate_arch({
        "wid": i % 3,
        "ks": [(3, 5, 7)[(j + i) % 3] for j in range(n)],
        "e": [(3, 4, 6)[(j + 2 * i) % 3] for j in range(n)],
        "d": [(2, 1, 2, 1, 2, 0)[(j + i) % 6] for j in range(CFG.n_depth)],
        "image_size": (32, 40, 32)[i % 3],
    }, CFG)


ARCHS = [_arch(i) for i in range(3)]


@functools.cache
def _convert(i: int):
    """(arch, tflite, TFLM arena) of subnet ``i`` (converted once per test process)."""
    from ofa_mcu.quant import convert_int8, measure_tflm

    arch = ARCHS[i]
    rng = np.random.default_rng(100 + i)
    net = random_folded(build_table(arch, CFG), rng)
    calib = rng.standard_normal((8, 1, arch["image_size"], arch["image_size"])).astype(np.float32)
    tfl = convert_int8(net, calib)
    return arch, tfl, measure_tflm(tfl)["tflm_arena_bytes"]


@pytest.fixture
def converted():
    class _Lazy:
        def __getitem__(self, i):
            return _convert(i)

        def __iter__(self):
            return (_convert(i) for i in range(len(ARCHS)))
    return _Lazy()


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(ARCHS)))
def test_subnet_bit_exact_and_half_the_tflm_arena(converted, i, tmp_path):
    arch, tfl, tflm_arena = converted[i]
    r = tm.check_bit_exact(tfl, tmp_path / "proj", n_inputs=200, seed=i)
    assert r["mismatched_inputs"] == 0, f"{r['mismatched_inputs']}/200 differ (max |diff| {r['max_abs_diff']})"
    res = r["result"]
    assert check_plan(res.graph, res.plan) == []
    assert res.plan.lower_bound <= res.peak_bytes <= 0.5 * tflm_arena, (res.peak_bytes, tflm_arena)
    # the vectorized lowering the latency model uses sees exactly the work of the real lowering
    bt = build_batch_table(ArchBatch.from_dicts([arch], CFG), CFG)
    want = dict(zip(FEATURES, layer_features(res.graph).sum(axis=0)))
    got = dict(zip(FEATURES, batch_features(bt)[0]))
    for f in FEATURES:
        if f == "calls":  # a fused expand+depthwise is one call instead of two
            assert abs(got[f] - want[f]) <= 0.1 * want[f]
        else:
            assert got[f] == pytest.approx(want[f], rel=1e-9, abs=1e-9), f


@pytest.mark.slow
def test_subnets_cover_every_kernel_case(converted):
    from codegen.native import lower_tflite

    seen = set()
    for _, tfl, _ in converted:
        for l in lower_tflite(tfl).layers:
            if l.kernel in ("dwconv", "mbconv_edw"):
                p = l.params if l.kernel == "dwconv" else l.params["dw"]
                seen.add(("dw", p["k"], p["stride"]))
            seen.add((l.kernel,))
    for k in (3, 5, 7):
        assert any(s[:2] == ("dw", k) for s in seen), k
    assert any(s[0] == "dw" and s[2] == 1 for s in seen) and any(s[0] == "dw" and s[2] == 2 for s in seen)
    for kind in ("conv2d", "conv1x1", "se", "add", "mean", "fc", "mbconv_edw"):
        assert (kind,) in seen, kind
