"""Small full-int8 test models with the op patterns of the OFA-MCUNet subnets (one op or one
pattern each), and the bit-exactness check the tests and benchmarks share."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _keras():
    import keras
    from keras import layers

    return keras, layers


def convert(model, input_shape, seed: int = 0, n_calib: int = 16) -> bytes:
    """Full-int8 TFLite (int8 in/out, int8 builtins) of a Keras model, calibrated on random
    normal inputs; the project's converter settings (``ofa_mcu.quant``)."""
    from ofa_mcu.quant.tflite_convert import convert_keras_int8

    rng = np.random.default_rng(seed)
    calib = rng.standard_normal((n_calib, *input_shape)).astype(np.float32)
    return convert_keras_int8(model, calib, strip=True)


def _randomize(model, seed: int) -> None:
    """Random weights with a sane scale and non-zero biases (Keras initialises biases to 0,
    which would hide bias bugs)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if w.ndim == 1:
                new.append(rng.normal(0.0, 0.3, size=w.shape).astype(np.float32))
            else:
                fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1
                if "depthwise" in layer.name or w.shape[-1] == 1:
                    fan_in = int(np.prod(w.shape[:2]))
                new.append(rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), size=w.shape).astype(np.float32))
        layer.set_weights(new)


def _relu6():
    import tensorflow as tf

    return tf.nn.relu6


def depthwise_model(k: int, stride: int, hw: int = 10, c: int = 8, explicit_pad: bool = True, seed: int = 0):
    """One depthwise conv (+ReLU6). Stride 2 with ``explicit_pad`` puts a PAD op in front
    (PyTorch's symmetric padding), as the converter does for even inputs."""
    keras, layers = _keras()
    inp = keras.Input((hw, hw, c), batch_size=1)
    if stride == 2 and explicit_pad:
        x = layers.ZeroPadding2D(((k // 2, k // 2 - 1), (k // 2, k // 2 - 1)))(inp)
        x = layers.DepthwiseConv2D(k, stride, "valid", activation=_relu6())(x)
    else:
        x = layers.DepthwiseConv2D(k, stride, "same", activation=_relu6())(inp)
    m = keras.Model(inp, x)
    _randomize(m, seed)
    return m, (hw, hw, c)


def stem_model(hw: int = 16, cin: int = 3, cout: int = 8, seed: int = 0):
    """PAD + 3x3 stride-2 conv + ReLU6 (the first layer)."""
    keras, layers = _keras()
    inp = keras.Input((hw, hw, cin), batch_size=1)
    x = layers.ZeroPadding2D(((1, 0), (1, 0)))(inp)
    x = layers.Conv2D(cout, 3, 2, "valid", activation=_relu6())(x)
    m = keras.Model(inp, x)
    _randomize(m, seed)
    return m, (hw, hw, cin)


def pointwise_model(hw: int = 8, cin: int = 8, cout: int = 24, act: bool = True, seed: int = 0):
    """One 1x1 conv (expand with ReLU6, or a linear projection)."""
    keras, layers = _keras()
    inp = keras.Input((hw, hw, cin), batch_size=1)
    x = layers.Conv2D(cout, 1, activation=_relu6() if act else None)(inp)
    m = keras.Model(inp, x)
    _randomize(m, seed)
    return m, (hw, hw, cin)


def mbconv_model(k: int = 5, stride: int = 1, hw: int = 12, cin: int = 8, expand: int = 3, cout: int | None = None,
                 se: bool = True, seed: int = 0):
    """An MBConv block: 1x1 expand + ReLU6 -> kxk depthwise + ReLU6 -> [SE: mean, 1x1 + ReLU,
    1x1 + ReLU6, multiply] -> 1x1 project -> [+ input when stride 1 and cin == cout]."""
    keras, layers = _keras()
    cout = cin if cout is None else cout
    mid = cin * expand
    inp = keras.Input((hw, hw, cin), batch_size=1)
    y = layers.Conv2D(mid, 1, activation=_relu6())(inp)
    if stride == 2:
        y = layers.ZeroPadding2D(((k // 2, k // 2 - 1), (k // 2, k // 2 - 1)))(y)
        y = layers.DepthwiseConv2D(k, 2, "valid", activation=_relu6())(y)
    else:
        y = layers.DepthwiseConv2D(k, 1, "same", activation=_relu6())(y)
    if se:
        s = layers.GlobalAveragePooling2D(keepdims=True)(y)
        s = layers.Conv2D(max(mid // 4, 1), 1, activation="relu")(s)
        s = layers.Conv2D(mid, 1, activation=_relu6())(s)
        y = layers.Multiply()([y, s])
    y = layers.Conv2D(cout, 1)(y)
    if stride == 1 and cin == cout:
        y = layers.Add()([inp, y])
    m = keras.Model(inp, y)
    _randomize(m, seed)
    return m, (hw, hw, cin)


def head_model(hw: int = 4, c: int = 16, classes: int = 10, pool: str = "mean", seed: int = 0):
    """1x1 conv + ReLU6 -> global average pool (MEAN, or AVERAGE_POOL_2D) -> dense."""
    keras, layers = _keras()
    inp = keras.Input((hw, hw, c), batch_size=1)
    x = layers.Conv2D(2 * c, 1, activation=_relu6())(inp)
    if pool == "mean":
        x = layers.GlobalAveragePooling2D()(x)
    else:
        x = layers.AveragePooling2D(hw)(x)
        x = layers.Flatten()(x)
    x = layers.Dense(classes)(x)
    m = keras.Model(inp, x)
    _randomize(m, seed)
    return m, (hw, hw, c)


def hsigmoid_gate_model(hw: int = 6, c: int = 16, seed: int = 0):
    """SE with an explicit hard-sigmoid ``relu6(z + 3) * (1/6)``: leaves a scalar MUL (a
    gate step) between the expand conv and the broadcast multiply."""
    keras, layers = _keras()
    inp = keras.Input((hw, hw, c), batch_size=1)
    x = layers.Conv2D(c, 1, activation=_relu6())(inp)
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(c // 4, 1, activation="relu")(s)
    s = layers.Conv2D(c, 1)(s)
    s = layers.ReLU(6.0)(s + 3.0) * (1.0 / 6.0)
    y = layers.Conv2D(c // 2, 1)(x * s)
    m = keras.Model(inp, y)
    _randomize(m, seed)
    return m, (hw, hw, c)


def check_bit_exact(tflite: bytes, out_dir, n_inputs: int = 200, seed: int = 0, fuse: str = "auto",
                    choices: dict | None = None) -> dict:
    """Emit the native project, build it for the host, run ``n_inputs`` random int8 inputs
    through it and through the TFLM host interpreter; returns the comparison."""
    from .emit import emit_native
    from .host import build_host, run_host
    from .reference import random_inputs, tflm_outputs

    res = emit_native(tflite, Path(out_dir), board="qemu-mps2-an386", plot=False, force=True, fuse=fuse,
                      choices=choices)
    x = random_inputs(np.random.default_rng(seed), n_inputs, res.graph.input_shape[1:])
    ref = tflm_outputs(tflite, x)
    got = run_host(build_host(res.out_dir), x, ref.shape[1])
    return {"result": res, "ref": ref, "got": got, "mismatched_inputs": int((ref != got).any(axis=1).sum()),
            "max_abs_diff": int(np.abs(ref.astype(int) - got.astype(int)).max())}


# ---- the MLPerf Tiny reference architectures (mlcommons/tiny, v1.0 training scripts) ----------
# Faithful Keras rebuilds with random weights (and random batch-norm statistics, so the folded
# convolutions are not trivial), converted to full int8 with the project's converter settings
# on random calibration data: what deploys and runs is the real op graph of each reference
# model, not its trained accuracy.


def _randomize_bn(model, seed: int) -> None:
    """Random BatchNorm statistics (gamma, beta, mean, variance) in sane ranges."""
    from keras import layers

    rng = np.random.default_rng(seed + 1000)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32), rng.normal(0, 0.2, n).astype(np.float32),
                               rng.normal(0, 0.2, n).astype(np.float32), rng.uniform(0.5, 2.0, n).astype(np.float32)])


def resnet8(seed: int = 0):
    """Image classification (CIFAR-10 32x32x3): ResNet-8 of the MLPerf Tiny reference."""
    keras, layers = _keras()

    def bn_relu(x):
        return layers.Activation("relu")(layers.BatchNormalization()(x))

    inp = keras.Input((32, 32, 3), batch_size=1)
    x = bn_relu(layers.Conv2D(16, 3, 1, "same")(inp))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = bn_relu(layers.Conv2D(filters, 3, stride, "same")(x))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, 1, "same")(y))
        if stride != 1:
            x = layers.Conv2D(filters, 1, stride, "same")(x)
        x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.AveragePooling2D(pool_size=8)(x)
    x = layers.Flatten()(x)
    out = layers.Dense(10, activation="softmax")(x)
    m = keras.Model(inp, out)
    _randomize_bn(m, seed)
    return m, (32, 32, 3)


def ds_cnn(seed: int = 0):
    """Keyword spotting (49x10x1 MFCC): DS-CNN of the MLPerf Tiny reference."""
    keras, layers = _keras()
    inp = keras.Input((49, 10, 1), batch_size=1)
    x = layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(inp)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    for _ in range(4):
        x = layers.DepthwiseConv2D((3, 3), padding="same")(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.Conv2D(64, (1, 1), padding="same")(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(pool_size=(25, 5))(x)
    x = layers.Flatten()(x)
    out = layers.Dense(12, activation="softmax")(x)
    m = keras.Model(inp, out)
    _randomize_bn(m, seed)
    return m, (49, 10, 1)


def fc_autoencoder(seed: int = 0):
    """Anomaly detection (640 log-mel values): the FC autoencoder of the MLPerf Tiny reference."""
    keras, layers = _keras()
    inp = keras.Input((640,), batch_size=1)
    h = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        h = layers.Activation("relu")(layers.BatchNormalization()(layers.Dense(units)(h)))
    out = layers.Dense(640)(h)
    m = keras.Model(inp, out)
    _randomize_bn(m, seed)
    return m, (640,)


MLPERF_TINY = {"resnet8": resnet8, "ds_cnn": ds_cnn, "fc_autoencoder": fc_autoencoder}


def mlperf_tiny_tflite(name: str, seed: int = 0) -> bytes:
    """The full-int8 .tflite of one rebuilt MLPerf Tiny reference model (``MLPERF_TINY``)."""
    model, shape = MLPERF_TINY[name](seed)
    return convert(model, shape, seed=seed, n_calib=32)
