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
    assert len(kinds) == 1 and kinds[0] in ("dwconv", "dwnhwc"), kinds  # the PAD is folded into the kernel
    if stride == 2:
        assert r["result"].graph.op_counts.get("PAD") == 1
    p = r["result"].graph.layers[0].params
    assert (p["k"], p["stride"]) == (k, stride)


def test_fast_requantization_equals_the_reference():
    """The one-SMMLAR form (emulated exactly) gives TFLite's MultiplyByQuantizedMultiplier on
    every channel the code generator takes it for, over the channel's whole accumulator range;
    constant channels give their constant."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = 64
    mult = rng.integers(2**30, 2**31 - 1, n)
    shift = -rng.integers(1, 20, n)
    lo, hi = -rng.integers(0, 2**22, n), rng.integers(0, 2**22, n)
    lo[:4] = 2**29  # constant after the clamp (a dead channel's huge bias)
    hi[:4] = 2**29 + 1000
    for zp, act in ((-128, (-128, 127)), (5, (5, 127))):
        rq, mode = Q.requant_table(np.zeros(n), mult, shift, zp, lo, hi, *act)
        assert mode & Q.RQ_FAST and bool(mode & Q.RQ_CLAMP) == (act != (-128, 127))
        for c in range(n):
            acc = np.unique(np.concatenate([rng.integers(lo[c], hi[c] + 1, 300), [lo[c], hi[c], 0, -1, 1]]))
            acc = acc[(acc >= lo[c]) & (acc <= hi[c])]
            m, add, sh = (int(v) for v in rq[c, 1:])
            t = ((acc << 1) * m + 2**31) // 2**32 + add  # SMMLAR
            got = np.clip((t + np.where(acc < 0, -1, 0)) >> sh, -128, 127).clip(*act)
            want = Q.requantize_reference(acc, int(mult[c]), int(shift[c]), zp, *act)
            assert np.array_equal(got, want), c
    # a left shift (multiplier >= 1) or a possible overflow keeps the reference's own steps
    _, mode = Q.requant_table(np.zeros(1), [2**30], [2], 0, [-100], [100], -128, 127)
    assert not mode & Q.RQ_FAST
    _, mode = Q.requant_table(np.zeros(1), [2**30], [-3], 0, [-2**30], [100], -128, 127)
    assert not mode & Q.RQ_FAST


def test_softmax_table_and_reciprocal_follow_the_float_function():
    """The gemmlowp fixed point in Python (the tables' source) is the exponential and the
    reciprocal it approximates."""
    import math

    from codegen.native import fixedpoint as FP
    from codegen.native.kernels.softmax import exp_table, softmax_reference

    for d, bits in ((0, 0), (1, 0), (7, 0), (0, 5), (7, 5), (40, 5), (200, 5)):
        a = -d << (31 - bits - 3)  # -d/8 in FixedPoint<bits>
        got = FP.exp_on_negative_values(a, bits) / 2**31
        assert abs(got - math.exp(-d / 8)) < 2e-6, (d, bits)
    for x in (0, 2**29, 2**30, 2**31 - 2):
        assert abs(FP.one_over_one_plus_x_for_x_in_0_1(x) / 2**31 - 1 / (1 + x / 2**31)) < 1e-6
    import numpy as np

    table = exp_table(1.0, 0.1)
    out = softmax_reference(np.array([10, 0, -30, 10], np.int8), table)
    probs = np.exp(0.1 * np.array([10, 0, -30, 10.0]))
    assert np.abs((out.astype(int) + 128) / 256 - probs / probs.sum()).max() < 2 / 256


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


def test_unsupported_op_is_one_line_error_listing_the_supported_ops():
    import numpy as np

    from codegen.native.kernels import supported_ops
    from codegen.native.opmodel import TensorSpec, single_op_model

    x = TensorSpec((1, 4, 4, 2), "int8", 0.1, 0)
    size = TensorSpec((2,), "int32", None, 0, np.array([8, 8], np.int32))
    tfl = single_op_model("RESIZE_NEAREST_NEIGHBOR", [x, size], [TensorSpec((1, 8, 8, 2), "int8", 0.1, 0)],
                          "ResizeNearestNeighborOptions", {})
    with pytest.raises(UserError) as err:
        lower_tflite(tfl)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("op RESIZE_NEAREST_NEIGHBOR is not supported by the native backend")
    assert f"(supported: {', '.join(supported_ops())})" in msg and msg.endswith("use --backend tflm for this model")
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
               "MEAN", "PAD", "RESHAPE", "SQUEEZE", "SOFTMAX", "LOGISTIC", "HARD_SWISH", "CONCATENATION", "QUANTIZE"):
        assert op in supported_ops()


def test_float_model_and_batched_input_are_one_line_errors():
    import numpy as np

    from codegen.native.opmodel import TensorSpec, single_op_model

    f = single_op_model("LOGISTIC", [TensorSpec((1, 8), "float32")], [TensorSpec((1, 8), "float32")])
    with pytest.raises(UserError, match="is float32; the native backend needs a full-int8 model"):
        lower_tflite(f)
    w = TensorSpec((4, 8), "int8", 0.01, 0, np.ones((4, 8), np.int8))
    b = TensorSpec((4,), "int32", [0.001] * 4, 0, np.zeros(4, np.int32))
    fc = single_op_model("FULLY_CONNECTED", [TensorSpec((2, 8), "int8", 0.1, 0), w, b], [TensorSpec((2, 4), "int8", 0.1, 0)],
                         "FullyConnectedOptions", {})
    with pytest.raises(UserError, match="has batch 2; the native backend runs batch 1"):
        lower_tflite(fc)
