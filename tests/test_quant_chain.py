"""The int8 chain on a tiny subnet with real ONNX Runtime, TFLite and TFLite-Micro."""
from __future__ import annotations

import numpy as np
import pytest

from ofa_mcu.config import FASHION_MNIST, VWW
from ofa_mcu.errors import UserError
from ofa_mcu.space.arch import smallest_arch
from ofa_mcu.space.folded import folded_forward, random_folded
from ofa_mcu.space.table import build_table

pytestmark = pytest.mark.slow


def _randomize_bn(model, rng):
    """Give every BN non-trivial running statistics and affine parameters (a 'trained-ish' net)."""
    import torch

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.2, n).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, n).astype(np.float32)))
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, n).astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rng.normal(0, 0.2, n).astype(np.float32)))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A tiny Fashion-MNIST subnet (torch StaticSubnet, BN folded), its data, and every backend's output."""
    from ofa_mcu.nn import StaticSubnet
    from ofa_mcu.quant import convert_int8, export_onnx, quantize_onnx, run_onnx, run_tflite, run_tflm

    rng = np.random.default_rng(0)
    table = build_table(smallest_arch(FASHION_MNIST), FASHION_MNIST)
    model = StaticSubnet(table).eval()
    _randomize_bn(model, rng)
    net = model.fold()
    images = rng.standard_normal((48, 1, 32, 32)).astype(np.float32)
    calib, test = images[:24], images[24:]
    d = tmp_path_factory.mktemp("chain")
    float_onnx = export_onnx(model, (1, 1, 32, 32), d / "float.onnx")
    int8_onnx = quantize_onnx(float_onnx, calib, d / "int8.onnx")
    tflite = convert_int8(net, calib)
    return {
        "model": model, "net": net, "test": test, "tflite": tflite, "float_onnx": float_onnx, "int8_onnx": int8_onnx,
        "logits": {
            "float": folded_forward(net, test),
            "onnx_float": run_onnx(float_onnx, test),
            "onnx_int8": run_onnx(int8_onnx, test),
            "tflite": run_tflite(tflite, test),
            "tflm": run_tflm(tflite, test),
        },
    }


def test_graph_is_clean_full_int8(chain):
    from ofa_mcu.quant import check_full_int8
    from ofa_mcu.efficiency.tflm_plan import graph_plan

    info = check_full_int8(chain["tflite"])
    assert info["input"]["dtype"] == "int8" and info["output"]["dtype"] == "int8"
    assert info["input"]["shape"] == [1, 32, 32, 1] and info["output"]["shape"] == [1, 10]
    assert set(info["tensor_types"]) <= {"INT8", "INT32"}
    assert not info["per_tensor_conv_weights"]
    assert "QUANTIZE" not in info["ops"] and "DEQUANTIZE" not in info["ops"]
    # Exactly the op sequence the memory model assumes (PADs only where they are needed).
    assert info["ops"] == [op.op for op in graph_plan(chain["net"].table).ops]
    n_se = sum(1 for b in chain["net"].table.blocks if b.se_mid)
    assert n_se >= 1 and info["op_counts"]["MUL"] == n_se  # hard-sigmoid costs no op of its own


def test_tflite_and_tflm_agree_bit_for_bit(chain):
    a = chain["logits"]["tflite"].astype(np.int32)
    b = chain["logits"]["tflm"].astype(np.int32)
    assert a.dtype == b.dtype and a.shape == (24, 10)
    # Reference kernels: equal except FULLY_CONNECTED rounding (1 LSB at most).
    assert np.abs(a - b).max() <= 1


def test_onnx_float_matches_torch_and_folded(chain):
    import torch

    with torch.no_grad():
        torch_out = chain["model"](torch.from_numpy(chain["test"])).numpy()
    scale = np.abs(torch_out).max()
    assert np.abs(chain["logits"]["onnx_float"] - torch_out).max() <= 1e-4 * scale
    assert np.abs(chain["logits"]["float"] - torch_out).max() <= 1e-4 * scale


def test_int8_paths_track_float(chain):
    from ofa_mcu.quant import agreement, output_quant

    logits = chain["logits"]
    m = agreement(logits)
    assert m["tflite"]["tflm"] == 1.0 and m["float"]["float"] == 1.0
    assert m["float"]["onnx_int8"] >= 0.8 and m["float"]["tflite"] >= 0.8
    scale, zp = output_quant(chain["tflite"])
    deq = scale * (logits["tflite"].astype(np.float64) - zp)
    spread = np.ptp(logits["float"])
    assert np.abs(deq - logits["float"]).mean() <= 0.05 * spread


def test_onnx_int8_is_qdq_per_channel(chain):
    import onnx

    model = onnx.load(str(chain["int8_onnx"]))
    kinds = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= kinds
    weight_scales = [i for i in model.graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1 and i.dims[0] > 1]
    assert weight_scales, "expected per-channel weight scales"
    onnx.checker.check_model(model)


def test_keras_and_tf_function_match_folded_forward():
    """Both graph builders compute folded_forward, on a VWW arch whose stride-2 inputs are odd
    (SAME padding) and even (explicit PAD)."""
    import tensorflow as tf

    from ofa_mcu.quant import build_keras
    from ofa_mcu.quant.tf_graph import build_tf_function
    from ofa_mcu.quant.tflite_convert import nchw_to_nhwc

    table = build_table(smallest_arch(VWW, image_size=112), VWW)
    net = random_folded(table, np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((2, 3, 112, 112)).astype(np.float32)
    ref = folded_forward(net, x)
    keras_model = build_keras(net)
    fn = build_tf_function(net)
    k = np.concatenate([keras_model(nchw_to_nhwc(x[i:i + 1])).numpy() for i in range(2)])
    t = np.concatenate([fn(tf.constant(nchw_to_nhwc(x[i:i + 1]))).numpy() for i in range(2)])
    tol = 1e-4 * np.abs(ref).max()
    assert np.abs(k - ref).max() <= tol and np.abs(t - ref).max() <= tol
    pads = [layer.name for layer in keras_model.layers if layer.name.endswith("_pad")]
    # 112 -> stem pads (even); stride-2 blocks see 56, 28, 14 (even: PAD) and then 7 (odd: SAME)
    stride2 = [(i, b.in_hw) for i, b in enumerate(table.blocks) if b.stride == 2]
    assert [hw for _, hw in stride2] == [56, 28, 14, 7]
    assert pads == ["first_conv_pad"] + [f"b{i}_dw_pad" for i, hw in stride2 if hw % 2 == 0]


def test_keras_path_emits_the_same_graph():
    """The Keras path (build_keras + from_keras_model) and the default tf-function path give the
    same flatbuffer on maps larger than 1x1 (on 1x1 maps the Keras path adds a RESHAPE)."""
    from ofa_mcu.quant import convert_int8, inspect_tflite

    net = random_folded(build_table(smallest_arch(FASHION_MNIST, image_size=48), FASHION_MNIST),
                        np.random.default_rng(3))
    calib = np.random.default_rng(4).standard_normal((4, 1, 48, 48)).astype(np.float32)
    tf_bytes = convert_int8(net, calib)
    keras_bytes = convert_int8(net, calib, path="keras")
    assert inspect_tflite(keras_bytes)["ops"] == inspect_tflite(tf_bytes)["ops"]
    assert len(keras_bytes) == len(tf_bytes)


def test_strip_names_keeps_the_arithmetic(chain):
    from ofa_mcu.quant import convert_int8, run_tflm
    from ofa_mcu.quant.tflite_inspect import load_model

    calib = chain["test"][:4]
    plain = convert_int8(chain["net"], calib, strip=False)
    stripped = convert_int8(chain["net"], calib)
    assert len(stripped) < len(plain)
    assert all(not t.name for t in load_model(stripped).subgraphs[0].tensors)
    assert np.array_equal(run_tflm(plain, chain["test"]), run_tflm(stripped, chain["test"]))


def test_input_quant_round_trips(chain):
    from ofa_mcu.quant import input_quant
    from ofa_mcu.quant.tflite_inspect import quantize_input

    scale, zp = input_quant(chain["tflite"])
    assert scale > 0 and -128 <= zp <= 127
    x = np.array([0.0, scale * 3, -1e9, 1e9])
    q = quantize_input(x, scale, zp)
    assert q.dtype == np.int8 and q[0] == zp and q[1] == zp + 3 and q[2] == -128 and q[3] == 127


def test_float_and_malformed_models_get_one_line_errors(chain, tmp_path):
    import tensorflow as tf

    from ofa_mcu.quant import check_full_int8, run_tflm
    from ofa_mcu.quant.tf_graph import build_tf_function

    fn = build_tf_function(chain["net"])
    float_model = tf.lite.TFLiteConverter.from_concrete_functions([fn]).convert()
    with pytest.raises(UserError) as e:
        check_full_int8(float_model)
    msg = str(e.value)
    assert "\n" not in msg and "FLOAT32" in msg and "input is float32" in msg
    with pytest.raises(UserError) as e:
        run_tflm(float_model, chain["test"][:1])
    assert "\n" not in str(e.value)
    for junk in (b"", b"not a model at all", chain["tflite"][:4] + b"TFL3" + b"\x00" * 8):
        with pytest.raises(UserError) as e:
            check_full_int8(junk)
        assert "\n" not in str(e.value)
        with pytest.raises(UserError):
            run_tflm(junk, chain["test"][:1])
    with pytest.raises(UserError):
        run_tflm(chain["tflite"], chain["test"][:1, :, :16, :16])  # wrong image size
