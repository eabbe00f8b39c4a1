"""Native backend: every kernel bit-exact with TFLite-Micro on many inputs (single-op and
single-pattern full-int8 models made here with Keras and the project's converter settings)."""
from __future__ import annotations

import pytest

from codegen.native import quant as Q
from codegen.native import testmodels as tm
from codegen.native.graph import lower_tflite
from ofa_mcu.errors import UserError

N_INPUTS = 300


def _exact(tflite, tmp_path, fuse="auto", n=N_INPUTS):
    r = tm.check_bit_exact(tflite, tmp_path / "proj", n_inputs=n, fuse=fuse)
    assert r["mismatched_inputs"] == 0, f"{r['mismatched_inputs']}/{n} inputs differ (max |diff| {r['max_abs_diff']})"
    return r


@pytest.mark.slow
@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_bit_exact(k, stride, tmp_path):
    model, shape = tm.depthwise_model(k, stride, hw=10, c=8, seed=k * 10 + stride)
    tfl = tm.convert(model, shape, seed=k)
    r = _exact(tfl, tmp_path)
    kinds = [l.kernel for l in r["result"].graph.layers]
    assert kinds == ["dwconv"], kinds  # the PAD is folded into the kernel: no copy
    if stride == 2:
        assert r["result"].graph.op_counts.get("PAD") == 1
    p = r["result"].graph.layers[0].params
    assert (p["k"], p["stride"]) == (k, stride)


@pytest.mark.slow
def test_depthwise_same_padding_odd_input(tmp_path):
    model, shape = tm.depthwise_model(5, 2, hw=9, c=8, explicit_pad=False, seed=3)
    _exact(tm.convert(model, shape), tmp_path)


@pytest.mark.slow
def test_stem_conv_bit_exact(tmp_path):
    model, shape = tm.stem_model(hw=16, cin=3, cout=8, seed=1)
    r = _exact(tm.convert(model, shape), tmp_path)
    assert [l.kernel for l in r["result"].graph.layers] == ["conv2d"]


@pytest.mark.slow
@pytest.mark.parametrize("cin,cout,act", [(8, 24, True), (24, 8, False)])
def test_pointwise_bit_exact(cin, cout, act, tmp_path):
    model, shape = tm.pointwise_model(hw=8, cin=cin, cout=cout, act=act, seed=cin)
    r = _exact(tm.convert(model, shape), tmp_path)
    assert [l.kernel for l in r["result"].graph.layers] == ["conv1x1"]


@pytest.mark.slow
@pytest.mark.parametrize("fuse", ["always", "never"])
@pytest.mark.parametrize("k,stride,se", [(3, 1, True), (7, 2, True), (5, 1, False)])
def test_mbconv_patterns_bit_exact(k, stride, se, fuse, tmp_path):
    """Expand/depthwise (fused or not), squeeze-excite and the residual add."""
    model, shape = tm.mbconv_model(k=k, stride=stride, hw=12, cin=8, expand=3, se=se, seed=k + stride)
    r = _exact(tm.convert(model, shape, seed=k), tmp_path, fuse=fuse)
    kinds = [l.kernel for l in r["result"].graph.layers]
    assert ("mbconv_edw" in kinds) == (fuse == "always")
    assert ("se" in kinds) == se
    assert ("add" in kinds) == (stride == 1)


@pytest.mark.slow
@pytest.mark.parametrize("pool", ["mean", "avgpool"])
def test_head_bit_exact(pool, tmp_path):
    """Feature mix, global pool (MEAN or AVERAGE_POOL_2D), FULLY_CONNECTED: TFLM's FC path."""
    model, shape = tm.head_model(hw=4, c=16, classes=10, pool=pool, seed=7)
    r = _exact(tm.convert(model, shape), tmp_path, n=500)
    kinds = [l.kernel for l in r["result"].graph.layers]
    assert kinds[-1] == "fc" and kinds[-2] == ("mean" if pool == "mean" else "avgpool")


@pytest.mark.slow
def test_hsigmoid_gate_steps_bit_exact(tmp_path):
    """An explicit hard-sigmoid leaves scalar gate steps; the SE kernel runs them exactly."""
    model, shape = tm.hsigmoid_gate_model(seed=2)
    r = _exact(tm.convert(model, shape), tmp_path)
    se = [l for l in r["result"].graph.layers if l.kernel == "se"]
    assert se and len(se[0].params["gate"]) >= 1


def test_quantize_multiplier_matches_definition():
    for d in (0.0, 1e-9, 0.000123, 0.25, 0.5, 0.75, 0.999999999, 1.0, 3.7):
        m, s = Q.quantize_multiplier(d)
        if d == 0.0 or d < 2.0 ** -32:
            assert m == 0 or abs(m * 2.0 ** (s - 31) - d) / d < 2 ** -30
            continue
        assert 2**30 <= m < 2**31
        assert abs(m * 2.0 ** (s - 31) - d) / d < 2 ** -30
    # std::round semantics: halves away from zero (Python's round would go to even)
    assert Q.round_half_away(2.5) == 3 and Q.round_half_away(-2.5) == -3


def test_activation_range_relu6():
    lo, hi = Q.activation_range(Q.ACT_RELU6, 6.0 / 255, -128)
    assert (lo, hi) == (-128, 127)
    lo, hi = Q.activation_range(Q.ACT_RELU, 0.1, 5)
    assert (lo, hi) == (5, 127)


def test_not_a_tflite_is_user_error():
    with pytest.raises(UserError, match="TFLite flatbuffer"):
        lower_tflite(b"this is not a model at all")


@pytest.mark.slow
def test_unsupported_op_is_user_error():
    import keras
    from keras import layers

    inp = keras.Input((4, 4, 4), batch_size=1)
    x = layers.Conv2D(4, 1)(inp)
    x = layers.Activation("tanh")(x)
    tfl = tm.convert(keras.Model(inp, x), (4, 4, 4))
    with pytest.raises(UserError, match="TANH.*not supported.*--backend tflm"):
        lower_tflite(tfl)
