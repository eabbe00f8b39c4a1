"""TFLite's offline quantization arithmetic, reproduced exactly (pure functions).

Every multiplier here is what TFLite-Micro computes in its ``Prepare`` step from the float32
scales stored in the flatbuffer: products and quotients in double precision from the float32
values, then ``QuantizeMultiplier`` (``frexp``, round half away from zero to Q31).
"""
from __future__ import annotations

import math

import numpy as np

# tflite ActivationFunctionType
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3
INT8_MIN, INT8_MAX = -128, 127


def round_half_away(x: float) -> int:
    """``std::round``: halves go away from zero (Python's ``round`` goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(d: float) -> tuple[int, int]:
    """``tflite::QuantizeMultiplier``: ``d = m * 2**(shift - 31)`` with ``m`` in Q31."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if q_fixed > 2**31 - 1:
        raise ValueError(f"multiplier {d} does not fit Q31")
    return int(q_fixed), int(shift)


def f32(x) -> float:
    """A float32 value as the double it widens to in C++."""
    return float(np.float32(x))


def conv_multipliers(in_scale: float, filter_scales: np.ndarray, out_scale: float, n: int):
    """Per-channel (or repeated per-tensor) multipliers and shifts of a conv / FC layer
    (``PopulateConvolutionQuantizationParams``: ``double(in) * double(f) / double(out)``)."""
    scales = np.asarray(filter_scales, dtype=np.float32).reshape(-1)
    if len(scales) not in (1, n):
        raise ValueError(f"{len(scales)} filter scales for {n} output channels")
    mult = np.empty(n, dtype=np.int64)
    shift = np.empty(n, dtype=np.int64)
    for i in range(n):
        fs = scales[i if len(scales) == n else 0]
        mult[i], shift[i] = quantize_multiplier(f32(in_scale) * f32(fs) / f32(out_scale))
    return mult.astype(np.int32), shift.astype(np.int8)


def quantize_value(f: float, scale: float, zero_point: int) -> int:
    """``tflite::Quantize`` of an activation bound: ``zp + round(float(f) / float(scale))``."""
    return int(zero_point) + round_half_away(float(np.float32(f) / np.float32(scale)))


def activation_range(act: int, scale: float, zero_point: int) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for int8 outputs."""
    if act == ACT_NONE:
        return INT8_MIN, INT8_MAX
    if act == ACT_RELU:
        return max(INT8_MIN, quantize_value(0.0, scale, zero_point)), INT8_MAX
    if act == ACT_RELU6:
        return (max(INT8_MIN, quantize_value(0.0, scale, zero_point)),
                min(INT8_MAX, quantize_value(6.0, scale, zero_point)))
    if act == ACT_RELU_N1_TO_1:
        return (max(INT8_MIN, quantize_value(-1.0, scale, zero_point)),
                min(INT8_MAX, quantize_value(1.0, scale, zero_point)))
    raise ValueError(f"unsupported fused activation {act}")


def fold_bias(bias: np.ndarray, weight_rows: np.ndarray, in_offset: int) -> np.ndarray:
    """``bias + in_offset * sum(w)`` per output row, wrapped to int32 like the C sums
    (int32 addition is a ring modulo 2**32, so the kernel's result is unchanged)."""
    w = np.asarray(weight_rows, dtype=np.int64).reshape(len(bias), -1)
    total = np.asarray(bias, dtype=np.int64) + int(in_offset) * w.sum(axis=1)
    return ((total + 2**31) % 2**32 - 2**31).astype(np.int32)


def add_params(s1: float, z1: int, s2: float, z2: int, so: float, zo: int, act: int) -> dict:
    """Int8 ADD (``PrepareInt8AddSub``): left shift 20, inputs rescaled to twice the larger
    input scale, then to the output scale."""
    left_shift = 20
    twice_max = 2.0 * f32(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(f32(s1) / twice_max)
    m2, sh2 = quantize_multiplier(f32(s2) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * f32(so)))
    lo, hi = activation_range(act, so, zo)
    return dict(in1_offset=-int(z1), in2_offset=-int(z2), out_offset=int(zo), in1_mult=m1, in2_mult=m2,
                out_mult=mo, in1_shift=sh1, in2_shift=sh2, out_shift=sho, left_shift=left_shift,
                act_min=lo, act_max=hi)


def mul_params(s1: float, z1: int, s2: float, z2: int, so: float, zo: int, act: int) -> dict:
    """Int8 MUL: one multiplier ``double(s1) * double(s2) / double(so)``."""
    m, sh = quantize_multiplier(f32(s1) * f32(s2) / f32(so))
    lo, hi = activation_range(act, so, zo)
    return dict(in1_offset=-int(z1), in2_offset=-int(z2), out_offset=int(zo), out_mult=m, out_shift=sh,
                act_min=lo, act_max=hi)


def mean_params(s_in: float, z_in: int, s_out: float, z_out: int, count: int) -> dict:
    """Int8 MEAN over ``count`` elements (``QuantizedMeanOrSum``: the multiplier of
    ``s_in / s_out`` is divided by ``count`` with extra precision bits)."""
    mult, shift = quantize_multiplier(f32(s_in) / f32(s_out))
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    mult = (mult << extra) // count
    return dict(in_zp=int(z_in), out_zp=int(z_out), mult=int(mult), shift=int(shift - extra))


RQ_FAST, RQ_CLAMP = 1, 2
INT32_LIMIT = 2**31


def accumulator_range(bias: np.ndarray, weight_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the smallest and largest ``bias + sum(w * (x + input_offset))`` any
    int8 input can give (``|x + input_offset| <= 255``): what the requantization must take."""
    w = np.abs(np.asarray(weight_rows, dtype=np.int64)).reshape(len(bias), -1).sum(axis=1)
    b = np.asarray(bias, dtype=np.int64).reshape(-1)
    return b - 255 * w, b + 255 * w


def requant_table(acc_init: np.ndarray, mult: np.ndarray, shift: np.ndarray, out_zp: int, acc_lo: np.ndarray,
                  acc_hi: np.ndarray, act_min: int, act_max: int) -> tuple[np.ndarray, int]:
    """The per-channel ``ofa_rq`` records ``(n, 4)`` int32 (start value, multiplier, addend,
    shifts) and the layer's mode bits (``firmware/native/ofa_native.h`` says how each mode
    computes TFLite's MultiplyByQuantizedMultiplier exactly), for accumulators in
    ``[acc_lo, acc_hi]`` per channel.

    A channel whose requantized, clamped output is the same at both ends of its range (the
    function is monotonic) is constant: multiplier 0 and an addend that gives that constant.
    The fast form needs, on every other channel, no left shift, a right shift of at least 1 and
    no int32 overflow of ``acc << 1`` and of the addend sum."""
    mult = np.asarray(mult, dtype=np.int64).reshape(-1)
    shift = np.asarray(shift, dtype=np.int64).reshape(-1)
    acc_lo = np.asarray(acc_lo, dtype=np.int64).reshape(-1)
    acc_hi = np.asarray(acc_hi, dtype=np.int64).reshape(-1)
    n = len(mult)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    out_lo = np.array([int(requantize_reference(acc_lo[i], int(mult[i]), int(shift[i]), out_zp, act_min, act_max))
                       for i in range(n)]) if n else np.zeros(0, np.int64)
    out_hi = np.array([int(requantize_reference(acc_hi[i], int(mult[i]), int(shift[i]), out_zp, act_min, act_max))
                       for i in range(n)]) if n else np.zeros(0, np.int64)
    constant = (out_lo == out_hi) & (np.maximum(np.abs(acc_lo), np.abs(acc_hi)) < 2**31)
    bound = np.maximum(np.abs(acc_lo), np.abs(acc_hi))
    right_ok = (right >= 1) & (right <= 30)
    add_fast = np.where(right_ok, np.left_shift(1, np.clip(right - 1, 0, 29)) + np.left_shift(int(out_zp),
                                                                                          np.clip(right, 0, 30)), 0)
    no_overflow = bound < (INT32_LIMIT >> np.minimum(left + 1, 31))  # acc << (left + 1) fits int32
    high = np.where(no_overflow, (np.where(no_overflow, bound, 0) << left) * mult // 2**31 + 2, 0)  # |SRDHM| + slack
    ok = (left == 0) & right_ok & no_overflow & (np.abs(add_fast) + high < INT32_LIMIT)
    fast = bool(np.all(ok | constant))
    rows = np.empty((n, 4), dtype=np.int64)
    rows[:, 0] = np.asarray(acc_init, dtype=np.int64)
    rows[:, 1] = mult
    if fast:
        rows[:, 2] = add_fast
        rows[:, 3] = right
        # (SMMLAR(., 0, 2c + 1) + sign) >> 1 == c for either sign
        rows[constant, 1] = 0
        rows[constant, 2] = 2 * out_lo[constant] + 1
        rows[constant, 3] = 1
    else:
        rows[:, 2] = int(out_zp)
        rows[:, 3] = left | (right << 8)
    mode = (RQ_FAST if fast else 0) | (RQ_CLAMP if (act_min, act_max) != (INT8_MIN, INT8_MAX) else 0)
    return rows.astype(np.int32), mode


def multiply_by_quantized_multiplier(x, mult: int, shift: int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier on int32 values (numpy, exact: the int32 left
    shift wraps, SaturatingRoundingDoublingHighMul, RoundingDivideByPOT)."""
    x = np.asarray(x, dtype=np.int64)
    left, right = max(int(shift), 0), max(-int(shift), 0)
    x = ((x << left) + 2**31) % 2**32 - 2**31
    ab = x * int(mult)
    s = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = np.where(s >= 0, s // 2**31, -((-s) // 2**31))
    mask = (1 << right) - 1
    return (s >> right) + ((s & mask) > (mask >> 1) + (s < 0))


def requantize_reference(acc: np.ndarray, mult: int, shift: int, out_zp: int, lo: int, hi: int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier + zero point + clamp on int32 accumulators
    (numpy, exact): the reference the C forms are tested against."""
    return np.clip(multiply_by_quantized_multiplier(acc, mult, shift) + out_zp, lo, hi)
