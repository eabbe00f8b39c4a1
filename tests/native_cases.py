"""Random single-op int8 models for the native kernel tests: shapes, strides, paddings, fused
activations and quantization parameters drawn from a seeded generator, written as .tflite
without TensorFlow (``codegen.native.opmodel``). Each case is ``(id, tflite bytes, lowering
choices, kernels the lowering must pick)``."""
from __future__ import annotations

import numpy as np

from codegen.native.opmodel import TensorSpec, graph_model, single_op_model

ACTS = {"none": 0, "relu": 1, "relu6": 3}


def _act_spec(rng, shape, scale=None, zp=None) -> TensorSpec:
    return TensorSpec(tuple(shape), "int8", float(scale if scale is not None else rng.uniform(0.01, 0.1)),
                      int(zp if zp is not None else rng.integers(-128, 100)))


def _weights(rng, shape, per_channel: int | None, axis: int) -> TensorSpec:
    w = rng.integers(-127, 128, size=shape, dtype=np.int64).astype(np.int8)
    scales = rng.uniform(0.002, 0.02, per_channel) if per_channel else rng.uniform(0.002, 0.02)
    return TensorSpec(tuple(shape), "int8", scales, 0, w, quantized_dimension=axis)


def _bias(rng, n, x: TensorSpec, w: TensorSpec, big: bool = False) -> TensorSpec:
    """int32 bias with TFLite's scale (input scale x weight scale, per channel)."""
    b = rng.integers(-20000, 20000, size=n)
    if big:  # a "dead" channel: tiny weights, huge bias (as BN folding leaves them)
        b[0] = 2**30
    scales = np.broadcast_to(np.asarray(w.scale, np.float64) * float(x.scale), (n,))
    return TensorSpec((n,), "int32", [float(v) for v in scales], 0, b.astype(np.int32))


def conv(rng, kh, kw, sh, sw, pad, ic, oc, h, w, act="relu6", big=False, out_scale=None):
    """CONV_2D with per-channel weights."""
    oh = -(-h // sh) if pad == "same" else (h - kh) // sh + 1
    ow = -(-w // sw) if pad == "same" else (w - kw) // sw + 1
    x = _act_spec(rng, (1, h, w, ic))
    y = _act_spec(rng, (1, oh, ow, oc), out_scale)
    opts = {"padding": 0 if pad == "same" else 1, "strideH": sh, "strideW": sw, "dilationHFactor": 1,
            "dilationWFactor": 1, "fusedActivationFunction": ACTS[act]}
    w_ = _weights(rng, (oc, kh, kw, ic), oc, 0)
    return single_op_model("CONV_2D", [x, w_, _bias(rng, oc, x, w_, big)], [y], "Conv2DOptions", opts)


def depthwise(rng, k, s, pad, c, h, act="relu"):
    """DEPTHWISE_CONV_2D, multiplier 1."""
    o = -(-h // s) if pad == "same" else (h - k) // s + 1
    x = _act_spec(rng, (1, h, h, c))
    y = _act_spec(rng, (1, o, o, c))
    opts = {"padding": 0 if pad == "same" else 1, "strideH": s, "strideW": s, "depthMultiplier": 1,
            "dilationHFactor": 1, "dilationWFactor": 1, "fusedActivationFunction": ACTS[act]}
    w_ = _weights(rng, (1, k, k, c), c, 3)
    return single_op_model("DEPTHWISE_CONV_2D", [x, w_, _bias(rng, c, x, w_)], [y], "DepthwiseConv2DOptions", opts)


def fully_connected(rng, n_in, n_out, act="none"):
    """FULLY_CONNECTED with per-tensor weights."""
    x = _act_spec(rng, (1, n_in))
    y = _act_spec(rng, (1, n_out))
    w_ = _weights(rng, (n_out, n_in), None, 0)
    return single_op_model("FULLY_CONNECTED", [x, w_, _bias(rng, n_out, x, w_)], [y], "FullyConnectedOptions",
                           {"fusedActivationFunction": ACTS[act]})


def binary(rng, opcode, shape, b_shape, const_b: bool, act="none"):
    """ADD or MUL; input 2 elementwise (a requantized copy of input 1), per channel (the mean
    of input 1), or a constant (scalar or per channel)."""
    a = _act_spec(rng, shape)
    b = _act_spec(rng, b_shape)
    y = _act_spec(rng, shape)
    opts = {"fusedActivationFunction": ACTS[act]}
    options_type = "AddOptions" if opcode == "ADD" else "MulOptions"
    if const_b:
        b.data = rng.integers(-128, 128, size=b_shape).astype(np.int8)
        return single_op_model(opcode, [a, b], [y], options_type, opts)
    if tuple(b_shape) == tuple(shape):
        first = ("QUANTIZE", [0], [1], "QuantizeOptions", {})
    else:
        axes = TensorSpec((2,), "int32", None, 0, np.array([1, 2], np.int32))
        return graph_model([a, b, y, axes], [("MEAN", [0, 3], [1], "ReducerOptions", {"keepDims": True}),
                                             (opcode, [0, 1], [2], options_type, opts)], [0], [2])
    return graph_model([a, b, y], [first, (opcode, [0, 1], [2], options_type, opts)], [0], [2])


def pool(rng, opcode, fh, fw, sh, sw, pad, c, h, w, act="none"):
    """AVERAGE_POOL_2D or MAX_POOL_2D (same quantization in and out)."""
    oh = -(-h // sh) if pad == "same" else (h - fh) // sh + 1
    ow = -(-w // sw) if pad == "same" else (w - fw) // sw + 1
    x = _act_spec(rng, (1, h, w, c))
    y = TensorSpec((1, oh, ow, c), "int8", x.scale, x.zero_point)
    opts = {"padding": 0 if pad == "same" else 1, "strideH": sh, "strideW": sw, "filterHeight": fh,
            "filterWidth": fw, "fusedActivationFunction": ACTS[act]}
    return single_op_model(opcode, [x], [y], "Pool2DOptions", opts)


def mean(rng, h, w, c, keep_dims=True):
    """MEAN over axes 1 and 2."""
    x = _act_spec(rng, (1, h, w, c))
    y = _act_spec(rng, (1, 1, 1, c) if keep_dims else (1, c))
    axes = TensorSpec((2,), "int32", None, 0, np.array([1, 2], np.int32))
    return single_op_model("MEAN", [x, axes], [y], "ReducerOptions", {"keepDims": keep_dims})


def softmax(rng, outer, depth, beta=1.0):
    """SOFTMAX over the last dimension (int8 output: zero point -128, scale 1/256)."""
    x = _act_spec(rng, (1, outer, depth), rng.uniform(0.02, 0.3))
    y = TensorSpec((1, outer, depth), "int8", 1.0 / 256, -128)
    return single_op_model("SOFTMAX", [x], [y], "SoftmaxOptions", {"beta": beta})


def unary(rng, opcode, shape, options_type=None, options=None, out=None):
    """An elementwise int8 op (LOGISTIC output: zero point -128, scale 1/256, as TFLite needs)."""
    x = _act_spec(rng, shape, rng.uniform(0.02, 0.1))
    if opcode == "LOGISTIC":
        y = TensorSpec(tuple(shape), "int8", 1.0 / 256, -128)
    elif opcode == "TANH":
        y = TensorSpec(tuple(shape), "int8", 1.0 / 128, 0)
    else:
        y = out or _act_spec(rng, shape)
    return single_op_model(opcode, [x], [y], options_type, options)


def pad(rng, shape, pads, value=None):
    """PAD (zero point) or PADV2 (a constant value)."""
    x = _act_spec(rng, shape)
    out = tuple(s + a + b for s, (a, b) in zip(shape, pads))
    y = TensorSpec(out, "int8", x.scale, x.zero_point)
    p = TensorSpec((len(shape), 2), "int32", None, 0, np.array(pads, np.int32))
    if value is None:
        return single_op_model("PAD", [x, p], [y], "PadOptions", {})
    v = TensorSpec((1,), "int8", x.scale, x.zero_point, np.array([value], np.int8))
    return single_op_model("PADV2", [x, p, v], [y], "PadV2Options", {})


def concat(rng, shapes, axis, const_index=None):
    """CONCATENATION of int8 tensors: the input, a requantized copy of it (when two shapes
    match) and constants."""
    x = _act_spec(rng, shapes[0])
    tensors, ops, ins = [x], [], [0]
    for j, s in enumerate(shapes[1:], 1):
        t = TensorSpec(tuple(s), "int8", x.scale, x.zero_point)  # TFLite requires one quantization
        if j == const_index:
            t.data = rng.integers(-128, 128, size=s).astype(np.int8)
        tensors.append(t)
        if t.data is None:  # a requantized copy of the input
            ops.append(("QUANTIZE", [0], [len(tensors) - 1], "QuantizeOptions", {}))
        ins.append(len(tensors) - 1)
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    tensors.append(TensorSpec(tuple(out), "int8", x.scale, x.zero_point))
    ops.append(("CONCATENATION", ins, [len(tensors) - 1], "ConcatenationOptions",
                {"axis": axis, "fusedActivationFunction": 0}))
    return graph_model(tensors, ops, [0], [len(tensors) - 1])


def cases(seed: int = 0) -> list[tuple[str, bytes, dict, set]]:
    """Every case of the kernel tests."""
    rng = np.random.default_rng(seed)
    out = []

    def add(name, tfl, kernels, choices=None):
        out.append((name, tfl, choices or {}, set(kernels)))

    add("conv3x3_s2_same_ic3", conv(rng, 3, 3, 2, 2, "same", 3, 8, 11, 9), {"conv2d"})
    add("conv10x4_s2_same_ic1", conv(rng, 10, 4, 2, 2, "same", 1, 16, 15, 8, act="relu"), {"conv2d"})
    add("conv3x3_s1_valid_ic16", conv(rng, 3, 3, 1, 1, "valid", 16, 12, 7, 6, act="none"), {"conv2d"})
    add("conv5x3_s2x1_same", conv(rng, 5, 3, 2, 1, "same", 5, 7, 9, 7), {"conv2d"})
    add("conv1x1_s1_odd_channels", conv(rng, 1, 1, 1, 1, "valid", 13, 9, 5, 5), {"conv1x1"})
    add("conv1x1_s2", conv(rng, 1, 1, 2, 2, "valid", 24, 16, 7, 7, act="relu"), {"conv1x1"})
    add("conv1x1_dead_channel", conv(rng, 1, 1, 1, 1, "valid", 8, 6, 4, 4, big=True), {"conv1x1"})
    # an output scale below the input's: multipliers >= 0.5, the reference's own requantization steps
    add("conv1x1_left_shift", conv(rng, 1, 1, 1, 1, "valid", 8, 6, 4, 4, act="none", out_scale=1e-5), {"conv1x1"})
    for k, s in ((3, 1), (3, 2), (5, 1), (5, 2), (7, 1), (7, 2)):
        tfl = depthwise(rng, k, s, "same", 6 + k, 9 + s)
        add(f"dw{k}x{k}_s{s}_plane", tfl, {"dwconv"}, {"depthwise": "plane"})
        add(f"dw{k}x{k}_s{s}_nhwc", tfl, {"dwnhwc"}, {"depthwise": "nhwc"})
    add("dw3x3_s1_valid", depthwise(rng, 3, 1, "valid", 8, 8, act="relu6"), {"dwconv"}, {"depthwise": "plane"})
    add("dw9x9_s3_generic", depthwise(rng, 9, 3, "same", 5, 12), {"dwconv"}, {"depthwise": "plane"})
    add("fc_odd_inputs", fully_connected(rng, 37, 11), {"fc"})
    add("fc_relu", fully_connected(rng, 64, 10, act="relu"), {"fc"})
    add("add_elementwise_relu", binary(rng, "ADD", (1, 5, 5, 8), (1, 5, 5, 8), False, act="relu"), {"add", "lut"})
    add("add_scalar_const", binary(rng, "ADD", (1, 4, 4, 6), (1,), True), {"add"})
    add("add_per_channel", binary(rng, "ADD", (1, 3, 3, 7), (1, 1, 1, 7), False), {"add", "mean"})
    add("mul_elementwise", binary(rng, "MUL", (1, 4, 4, 8), (1, 4, 4, 8), False), {"mul", "lut"})
    add("mul_per_channel", binary(rng, "MUL", (1, 5, 5, 12), (1, 1, 1, 12), False, act="relu6"), {"mul", "mean"})
    add("mul_per_channel_const", binary(rng, "MUL", (1, 3, 3, 5), (1, 1, 1, 5), True), {"mul"})
    add("avgpool_3x3_s2_same", pool(rng, "AVERAGE_POOL_2D", 3, 3, 2, 2, "same", 9, 7, 8), {"avgpool"})
    add("avgpool_global", pool(rng, "AVERAGE_POOL_2D", 5, 5, 5, 5, "valid", 16, 5, 5), {"avgpool"})
    add("maxpool_2x2_s2", pool(rng, "MAX_POOL_2D", 2, 2, 2, 2, "valid", 11, 8, 8), {"maxpool"})
    add("maxpool_3x3_s2_same_relu", pool(rng, "MAX_POOL_2D", 3, 3, 2, 2, "same", 8, 9, 7, act="relu"), {"maxpool"})
    add("mean_keepdims", mean(rng, 5, 4, 13), {"mean"})
    add("mean_flat", mean(rng, 3, 3, 8, keep_dims=False), {"mean"})
    add("softmax_10", softmax(rng, 1, 10), {"softmax"})
    add("softmax_rows_beta", softmax(rng, 3, 33, beta=0.7), {"softmax"})
    add("logistic", unary(rng, "LOGISTIC", (1, 6, 6, 4)), {"lut"})
    add("tanh", unary(rng, "TANH", (1, 40)), {"lut"})
    add("hard_swish", unary(rng, "HARD_SWISH", (1, 4, 4, 8), "HardSwishOptions", {}), {"lut"})
    add("relu6", unary(rng, "RELU6", (1, 30)), {"lut"})
    add("leaky_relu", unary(rng, "LEAKY_RELU", (1, 30), "LeakyReluOptions", {"alpha": 0.15}), {"lut"})
    add("quantize_int8", unary(rng, "QUANTIZE", (1, 3, 3, 4), "QuantizeOptions", {}), {"lut"})
    add("pad_spatial_and_channels", pad(rng, (1, 4, 5, 3), [[0, 0], [1, 2], [0, 1], [1, 2]]), {"pad"})
    add("padv2_value", pad(rng, (1, 6, 3), [[0, 0], [2, 1], [1, 1]], value=17), {"pad"})
    add("concat_channels", concat(rng, [(1, 3, 3, 4), (1, 3, 3, 4)], 3), {"concat", "lut"})
    add("concat_rows_const", concat(rng, [(1, 2, 4, 3), (1, 1, 4, 3), (1, 2, 4, 3)], 1, const_index=1), {"concat", "lut"})
    out += _extra_cases(rng)
    return out


def residual_block(rng, h=6, w=5, c=8, c1=12, k=3):
    """ResNet's basic block: conv k x k (ReLU) -> conv k x k -> ADD with the input (ReLU), between
    1x1 convs (so the block may be written over its input)."""
    x0 = _act_spec(rng, (1, h, w, 3))
    x = _act_spec(rng, (1, h, w, c))
    y1 = _act_spec(rng, (1, h, w, c1))
    y2 = _act_spec(rng, (1, h, w, c))
    out = _act_spec(rng, (1, h, w, c))
    head = _act_spec(rng, (1, h, w, 4))
    w0, wa, wb = _weights(rng, (c, 1, 1, 3), c, 0), _weights(rng, (c1, k, k, c), c1, 0), _weights(rng, (c, k, k, c1), c, 0)
    wh = _weights(rng, (4, 1, 1, c), 4, 0)
    t = [x0, w0, _bias(rng, c, x0, w0), x, wa, _bias(rng, c1, x, wa), y1, wb, _bias(rng, c, y1, wb), y2, out,
         wh, _bias(rng, 4, out, wh), head]
    conv = {"padding": 0, "strideH": 1, "strideW": 1, "dilationHFactor": 1, "dilationWFactor": 1}
    ops = [("CONV_2D", [0, 1, 2], [3], "Conv2DOptions", {**conv, "fusedActivationFunction": 1}),
           ("CONV_2D", [3, 4, 5], [6], "Conv2DOptions", {**conv, "fusedActivationFunction": 1}),
           ("CONV_2D", [6, 7, 8], [9], "Conv2DOptions", {**conv, "fusedActivationFunction": 0}),
           ("ADD", [9, 3], [10], "AddOptions", {"fusedActivationFunction": 1}),
           ("CONV_2D", [10, 11, 12], [13], "Conv2DOptions", {**conv, "fusedActivationFunction": 0})]
    return graph_model(t, ops, [0], [13])


def _extra_cases(rng):
    return [("residual_block_3x3", residual_block(rng), {}, {"conv1x1", "resblock"}),
            ("residual_block_5x5_wide", residual_block(rng, h=7, w=9, c=4, c1=6, k=5), {}, {"conv1x1", "resblock"})]
