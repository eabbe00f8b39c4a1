"""A :class:`~ofa_mcu.space.folded.FoldedNet` as a TensorFlow graph (NHWC, batch 1) for the
TFLite converter: the converted op list of :mod:`ofa_mcu.space.ops` emitted op by op.

The graph is laid out so the converter emits exactly that list:

- BN is already folded; ReLU6/ReLU are the convs' fused activation.
- An explicit PAD op feeds a VALID conv; every other conv is SAME (the PAD rule is
  :func:`ofa_mcu.space.ops.needs_pad`).
- Hard-sigmoid ``relu6(z + 3) / 6`` costs no op: the ``+ 3`` goes into the SE expand conv's
  bias and its ReLU6 fuses; the ``/ 6`` is a linear factor on the SE product and is folded into
  the project conv that reads it (``W (x * r / 6) = (W / 6)(x * r)``). SE is then [MEAN] ->
  CONV_2D (ReLU) -> CONV_2D (ReLU6) -> MUL (broadcast).
- Head: 1x1 conv + ReLU6 -> MEAN over H, W -> FULLY_CONNECTED (int8 logits, no softmax).

One walk (:func:`_emit`) over the op list, two small op libraries: ``tf.nn`` ops over
constants (:func:`build_tf_function`, the conversion path: no SavedModel export, about 3x
faster per subnet) and Keras layers (:func:`build_keras`, a ``keras.Model`` with one named layer
per op). Tests check both compute :func:`~ofa_mcu.space.folded.folded_forward` and convert to
the same ops.
"""
from __future__ import annotations

import numpy as np

from ..space.folded import FoldedConv, FoldedNet
from ..space.ops import Op, convert_ops


def _tf_weights(f: FoldedConv) -> np.ndarray:
    """``f``'s weight in TensorFlow's layout: conv (k, k, I, O), depthwise (k, k, C, 1),
    linear (I, O)."""
    w = np.asarray(f.weight, dtype=np.float32)
    if f.spec.kind == "linear":
        return w.T.copy()
    if f.spec.groups > 1:
        if f.spec.groups != f.spec.in_ch:
            raise ValueError(f"{f.spec.role}: grouped convs other than depthwise are not in this space")
        return w.transpose(2, 3, 0, 1).copy()
    return w.transpose(2, 3, 1, 0).copy()


def _hsigmoid_folding(ops: tuple[Op, ...]) -> dict[int, tuple[str, float, float]]:
    """``{op index: (activation, weight scale, bias shift)}`` for the convs whose arithmetic
    carries the hard-sigmoid (see the module docstring); other convs keep their own."""
    out = {}
    for k, op in enumerate(ops):
        if op.conv is not None and op.conv.act == "hsigmoid":
            if op.conv.role != "se_expand":
                raise ValueError(f"{op.key}: hard-sigmoid is only folded after an SE expand conv")
            out[k] = ("relu6", 1.0, 3.0)
    for k, op in enumerate(ops):
        if op.name == "MUL":
            reader = next(j for j, o in enumerate(ops) if op.output in o.inputs)
            act = ops[reader].conv.act if ops[reader].conv is not None else None
            if act is None:
                raise ValueError(f"{op.key}: the SE product must feed a conv (the / 6 of the hard-sigmoid goes there)")
            out[reader] = (act, 1.0 / 6.0, 0.0)
    return out


def _emit(net: FoldedNet, lib, x):
    """Walk the converted op list of ``net`` from input ``x`` with the op library ``lib``;
    returns the logits."""
    g = convert_ops(net.table)
    weights = {f.spec: f for f in net.convs}
    folding = _hsigmoid_folding(g.ops)
    values = {0: x}
    for k, op in enumerate(g.ops):
        ins = [values[i] for i in op.inputs]
        if op.name == "PAD":
            y = lib.pad(ins[0], op.pad, op.key)
        elif op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            act, w_scale, b_shift = folding.get(k, (op.conv.act, 1.0, 0.0))
            f = weights[op.conv]
            after_pad = (p := g.producer(op.inputs[0])) is not None and p.name == "PAD"
            y = lib.conv(ins[0], op.conv, _tf_weights(f) * np.float32(w_scale),
                         np.asarray(f.bias, dtype=np.float32) + np.float32(b_shift), act,
                         "valid" if after_pad else "same", op.key)
        elif op.name == "MEAN":
            y = lib.mean(ins[0], op.block >= 0, op.key)  # an SE's keeps H, W; the head's pool drops them
        elif op.name == "MUL":
            y = lib.mul(ins, op.key)
        elif op.name == "ADD":
            y = lib.add(ins, op.key)
        elif op.name == "FULLY_CONNECTED":
            f = weights[op.conv]
            y = lib.dense(ins[0], _tf_weights(f), np.asarray(f.bias, dtype=np.float32), op.key)
        else:
            raise ValueError(f"no TensorFlow form for op {op.name}")
        values[op.output] = y
    return values[g.ops[-1].output]


class _TfOps:
    """``tf.nn`` ops over constants."""

    def __init__(self):
        import tensorflow as tf

        self.tf = tf
        self.act = {"relu6": tf.nn.relu6, "relu": tf.nn.relu, "none": lambda v: v}

    def pad(self, x, pad, name):
        return self.tf.pad(x, [[0, 0], list(pad), list(pad), [0, 0]])

    def conv(self, x, spec, w, b, act, padding, name):
        tf = self.tf
        if spec.groups > 1:
            y = tf.nn.depthwise_conv2d(x, tf.constant(w), [1, spec.stride, spec.stride, 1], padding.upper())
        else:
            y = tf.nn.conv2d(x, tf.constant(w), spec.stride, padding.upper())
        return self.act[act](tf.nn.bias_add(y, tf.constant(b)))

    def mean(self, x, keepdims, name):
        return self.tf.reduce_mean(x, axis=[1, 2], keepdims=keepdims)

    def mul(self, ins, name):
        return ins[0] * ins[1]

    def add(self, ins, name):
        return ins[0] + ins[1]

    def dense(self, x, w, b, name):
        return self.tf.matmul(x, self.tf.constant(w)) + self.tf.constant(b)


class _KerasOps:
    """Keras layers, one per op, named after it (``first_conv_pad``, ``b3_dw``, ...)."""

    _ACT = {"relu6": "relu6", "relu": "relu", "none": None}

    def __init__(self):
        from keras import layers

        self.layers = layers

    def pad(self, x, pad, name):
        return self.layers.ZeroPadding2D((pad, pad), name=name)(x)

    def conv(self, x, spec, w, b, act, padding, name):
        L = self.layers
        if spec.groups > 1:
            layer = L.DepthwiseConv2D(spec.kernel, strides=spec.stride, padding=padding, use_bias=True,
                                      activation=self._ACT[act], name=name)
        else:
            layer = L.Conv2D(spec.out_ch, spec.kernel, strides=spec.stride, padding=padding, use_bias=True,
                             activation=self._ACT[act], name=name)
        y = layer(x)
        layer.set_weights([w, b])
        return y

    def mean(self, x, keepdims, name):
        return self.layers.GlobalAveragePooling2D(keepdims=keepdims, name=name)(x)

    def mul(self, ins, name):
        return self.layers.Multiply(name=name)(ins)

    def add(self, ins, name):
        return self.layers.Add(name=name)(ins)

    def dense(self, x, w, b, name):
        layer = self.layers.Dense(w.shape[1], use_bias=True, name=name)
        y = layer(x)
        layer.set_weights([w, b])
        return y


def build_tf_function(net: FoldedNet):
    """A concrete ``tf.function``: float NHWC ``(1, H, W, C)`` -> float logits ``(1, classes)``."""
    import tensorflow as tf

    lib = _TfOps()
    hw = net.table.image_size
    spec = tf.TensorSpec((1, hw, hw, net.table.cfg.in_channels), tf.float32, name="image")
    return tf.function(lambda x: _emit(net, lib, x), input_signature=[spec]).get_concrete_function()


def build_keras(net: FoldedNet):
    """The subnet as a ``keras.Model``: input ``(1, H, W, C)`` float NHWC (normalised image),
    output ``(1, n_classes)`` float logits; computes :func:`~ofa_mcu.space.folded.folded_forward`."""
    import keras

    hw = net.table.image_size
    inp = keras.Input((hw, hw, net.table.cfg.in_channels), batch_size=1, name="image")
    return keras.Model(inp, _emit(net, _KerasOps(), inp), name="ofa_mcu_subnet")
