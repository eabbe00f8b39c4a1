"""Rebuild a :class:`~ofa_mcu.space.folded.FoldedNet` as a Keras 3 model (NHWC, batch 1).

The graph is laid out so the TFLite converter emits what an MCU wants:

- BN is already folded; ReLU6/ReLU are the convs' ``activation`` and fuse into CONV_2D /
  DEPTHWISE_CONV_2D.
- Padding: PyTorch pads ``k // 2`` on every side. TFLite's SAME agrees for stride 1 (odd k)
  and for stride 2 when the input size is odd; for stride 2 on an even input SAME would pad
  one row less on top and one more at the bottom, so only there an explicit ZeroPadding2D
  (top/left ``k // 2``, bottom/right ``k // 2 - 1``: the rows the conv actually reads) and a
  'valid' conv are used. See :func:`explicit_padding`.
- Hard-sigmoid ``relu6(z + 3) / 6`` costs no op: the ``+ 3`` goes into the SE expand conv's
  bias and its ReLU6 fuses; the ``/ 6`` is a linear factor on the SE product and is folded
  into the following project conv's weights (``W (x * r / 6) = (W / 6)(x * r)``). SE is then
  MEAN -> CONV_2D (ReLU) -> CONV_2D (ReLU6) -> MUL (broadcast).
- Head: 1x1 conv + ReLU6 -> MEAN over H, W -> FULLY_CONNECTED (int8 logits, no softmax).
"""
from __future__ import annotations

import numpy as np

from ..space.folded import FoldedConv, FoldedNet


def explicit_padding(kernel: int, stride: int, in_hw: int) -> tuple[int, int] | None:
    """(before, after) zero padding needed to reproduce PyTorch's symmetric padding with a
    'valid' conv, or ``None`` when TFLite's SAME already computes the same thing."""
    p = kernel // 2
    if stride == 1 or in_hw % 2 == 1 or p == 0:
        return None
    # Even input, stride 2: outputs are centred on rows 0, 2, ..., in_hw - 2, so the conv
    # reads rows -p .. in_hw - 2 + p: p rows before, p - 1 after.
    return (p, p - 1)


def _keras_weights(f: FoldedConv, depthwise: bool) -> np.ndarray:
    w = np.asarray(f.weight, dtype=np.float32)
    if f.spec.kind == "linear":
        return w.T.copy()
    if depthwise:
        return w.transpose(2, 3, 0, 1).copy()  # (C, 1, k, k) -> (k, k, C, 1)
    return w.transpose(2, 3, 1, 0).copy()  # (O, I, k, k) -> (k, k, I, O)


_ACT = {"relu6": "relu6", "relu": "relu", "none": None}


def _conv(x, f: FoldedConv, name: str, act: str | None = None, w_scale: float = 1.0, b_shift: float = 0.0):
    """Apply one folded conv (with explicit padding where needed) and return the output."""
    from keras import layers

    s = f.spec
    act = s.act if act is None else act
    depthwise = s.groups > 1 and s.groups == s.in_ch
    if s.groups > 1 and not depthwise:
        raise ValueError(f"{s.role}: grouped convs other than depthwise are not in this space")
    pad = explicit_padding(s.kernel, s.stride, s.in_hw)
    padding = "same"
    if pad is not None:
        x = layers.ZeroPadding2D((pad, pad), name=f"{name}_pad")(x)
        padding = "valid"
    if depthwise:
        layer = layers.DepthwiseConv2D(s.kernel, strides=s.stride, padding=padding, use_bias=True,
                                       activation=_ACT[act], name=name)
    else:
        layer = layers.Conv2D(s.out_ch, s.kernel, strides=s.stride, padding=padding, use_bias=True,
                              activation=_ACT[act], name=name)
    y = layer(x)
    w = _keras_weights(f, depthwise) * np.float32(w_scale)
    layer.set_weights([w, (np.asarray(f.bias, dtype=np.float32) + np.float32(b_shift))])
    return y


def build_keras(net: FoldedNet):
    """The subnet as a ``keras.Model``: input ``(1, H, W, C)`` float NHWC (normalised image),
    output ``(1, n_classes)`` float logits; computes :func:`~ofa_mcu.space.folded.folded_forward`."""
    import keras
    from keras import layers

    t = net.table
    hw = t.image_size
    inp = keras.Input((hw, hw, t.cfg.in_channels), batch_size=1, name="image")
    x = _conv(inp, net.convs[0], "first_conv")
    for i, block in enumerate(t.blocks):
        convs = net.block_convs(i)
        block_in = x
        project_scale = 1.0
        if "expand" in convs:
            x = _conv(x, convs["expand"], f"b{i}_expand")
        if "depthwise" in convs:
            x = _conv(x, convs["depthwise"], f"b{i}_dw")
        if "se_reduce" in convs:
            if convs["se_expand"].spec.act != "hsigmoid":
                raise ValueError("SE expand must end in hard-sigmoid")
            s = layers.GlobalAveragePooling2D(keepdims=True, name=f"b{i}_se_mean")(x)
            s = _conv(s, convs["se_reduce"], f"b{i}_se_reduce")
            s = _conv(s, convs["se_expand"], f"b{i}_se_expand", act="relu6", b_shift=3.0)
            x = layers.Multiply(name=f"b{i}_se_mul")([x, s])
            project_scale = 1.0 / 6.0
        x = _conv(x, convs["project"], f"b{i}_project", w_scale=project_scale)
        if block.residual:
            x = layers.Add(name=f"b{i}_add")([x, block_in])
    x = _conv(x, net.convs[-2], "feature_mix")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    cls = net.convs[-1]
    dense = layers.Dense(cls.spec.out_ch, use_bias=True, name="classifier")
    y = dense(x)
    dense.set_weights([_keras_weights(cls, False), np.asarray(cls.bias, dtype=np.float32)])
    return keras.Model(inp, y, name="ofa_mcu_subnet")
