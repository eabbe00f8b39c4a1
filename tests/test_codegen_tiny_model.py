"""A tiny int8 model made here with the TFLite converter: a different op set and input (1
channel, 10 classes) flows through deploy; the float version of it is refused."""
from __future__ import annotations

import re

import numpy as np
import pytest

from codegen.compile_check import check_project
from codegen.project import emit_project
from codegen.tflite_model import read_model
from ofa_mcu.quant.tflm_runner import run_reference
from ofa_mcu.cli import main as cli_main


@pytest.fixture(scope="module")
def tiny_models():
    """(int8 bytes, float bytes) of a 12x12x1 -> 10-class conv net (conv, max-pool, add, mean, dense)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    keras = tf.keras
    inp = keras.Input((12, 12, 1), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D(2)(x)
    y = keras.layers.Conv2D(8, 1, activation="relu")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    float_bytes = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rng.random((1, 12, 12, 1), dtype=np.float32)] for _ in range(32))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert(), float_bytes


def test_tiny_int8_model_project(tiny_models, tmp_path):
    int8, _ = tiny_models
    info = read_model(int8)
    assert info.input.shape == (1, 12, 12, 1) and info.output.shape == (1, 10)
    assert {"CONV_2D", "MAX_POOL_2D", "ADD", "FULLY_CONNECTED", "SOFTMAX"} <= set(info.ops)
    digits = np.arange(144, dtype=np.uint8).reshape(12, 12)
    out = emit_project(int8, "rpi-pico", tmp_path / "p", test_image=digits, model_name="tiny")
    main = (out / "src/main.cc").read_text()
    assert f"MicroMutableOpResolver<{len(info.ops)}>" in main
    assert len(re.findall(r"resolver\.Add\w+\(\)", main)) == len(info.ops)
    settings = (out / "src/model_settings.h").read_text()
    assert "constexpr int kNumChannels = 1;" in settings and "constexpr int kNumClasses = 10;" in settings
    # The expected class and scores are the host TFLM run on the pixel-mapped test image.
    x = np.clip(np.round(digits / 255.0 / info.input.scale) + info.input.zero_point, -128, 127).astype(np.int8)
    ref = run_reference(int8, x.reshape(1, 12, 12, 1)).reshape(-1)
    assert f"constexpr int kSelfTestExpectedClass = {int(np.argmax(ref))};" in settings
    scores = re.search(r"kSelfTestExpectedScores\[kNumClasses\] = \{(.*?)\};", (out / "src/model_settings.cc").read_text()).group(1)
    assert [int(s) for s in scores.split(",")] == ref.tolist()
    assert out.joinpath("ofa-mcu.json").is_file()


@pytest.mark.slow
def test_tiny_project_compiles_for_the_qemu_cortex_m7(tiny_models, tmp_path):
    int8, _ = tiny_models
    out = emit_project(int8, "qemu-mps2-an500", tmp_path / "p", model_name="tiny")
    results = check_project(out, out_dir=tmp_path / "obj", syntax_only=True)
    assert results and all(r.ok for r in results), [r.output for r in results if not r.ok]


def test_float_model_is_refused(tiny_models, tmp_path, capsys):
    _, float_bytes = tiny_models
    path = tmp_path / "float.tflite"
    path.write_bytes(float_bytes)
    assert cli_main(["deploy", str(path), "--board", "rpi-pico", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "input tensor is float32; deploy needs a fully int8-quantized model" in err
    assert not (tmp_path / "o").exists()
