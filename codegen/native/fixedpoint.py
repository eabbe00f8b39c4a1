"""gemmlowp's fixed-point arithmetic (``third_party/gemmlowp/fixedpoint/fixedpoint.h``, int32
raw values), as TFLite's reference kernels use it, in exact integer Python: what the native
kernels' tables are computed from offline (the softmax exp table) and the reference their C
is tested against. ``bits`` is a value's number of integer bits (``FixedPoint<int32_t, bits>``).
"""
from __future__ import annotations

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def wrap32(x: int) -> int:
    """``x`` as an int32 (two's-complement wrap, as the C++ arithmetic does on these targets)."""
    return (int(x) + 2**31) % 2**32 - 2**31


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul (int32)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def _trunc_div(n: int, d: int) -> int:
    """C++ integer division (truncation toward zero)."""
    q = abs(n) // d
    return q if n >= 0 else -q


def rounding_half_sum(a: int, b: int) -> int:
    """gemmlowp RoundingHalfSum (int32)."""
    s = a + b
    return _trunc_div(s + (1 if s >= 0 else -1), 2)


def rdbpot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT (round half away from zero)."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def mul_by_pot(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT<exponent> (int32)."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return wrap32(x << exponent)


def rescale(x: int, src_bits: int, dst_bits: int) -> int:
    """Rescale<dst_bits> of a FixedPoint<int32, src_bits> raw value."""
    return mul_by_pot(x, src_bits - dst_bits)


def one(bits: int) -> int:
    """FixedPoint<int32, bits>::One()."""
    return INT32_MAX if bits == 0 else 1 << (31 - bits)


def constant_pot(exponent: int, bits: int) -> int:
    """FixedPoint<int32, bits>::ConstantPOT<exponent>()."""
    return 1 << (31 - bits + exponent)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """exp(a) for a FixedPoint<int32, 0> in [-1/4, 0)."""
    constant_term, constant_1_over_3 = 1895147668, 715827883
    x = wrap32(a + constant_pot(-3, 0))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = mul_by_pot(x4, -2)
    poly = mul_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
           (4, 242))


def exp_on_negative_values(a: int, bits: int) -> int:
    """exp(a) as FixedPoint<int32, 0> for a FixedPoint<int32, bits> a <= 0."""
    frac = 31 - bits
    quarter = constant_pot(-2, bits)
    mask = quarter - 1
    a_mod = wrap32((a & mask) - quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(a_mod, bits, 0))
    remainder = wrap32(a_mod - a)
    for exponent, mult in _BARREL:
        if bits > exponent and remainder & (1 << (frac + exponent)):
            result = srdhm(result, mult)
    if bits > 5 and a < -(1 << (36 - bits)):
        result = 0
    return one(0) if a == 0 else result


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """1 / (1 + a) for a FixedPoint<int32, 0> a in [0, 1) (Newton-Raphson, as gemmlowp)."""
    half_denominator = rounding_half_sum(a, one(0))
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))
    for _ in range(3):
        hdx = srdhm(half_denominator, x)
        omh = wrap32(one(2) - hdx)
        x = wrap32(x + rescale(srdhm(x, omh), 4, 2))
    return rescale(x, 1, 0)  # Rescale<0>(ExactMulByPot<-1>(x))


def get_reciprocal(x: int, x_integer_digits: int) -> tuple[int, int]:
    """tflite::GetReciprocal: ``(shifted_scale raw, num_bits_over_unit)`` for a positive
    FixedPoint<int32, x_integer_digits>."""
    headroom_plus_one = 32 - x.bit_length()  # CountLeadingZeros(uint32)
    shifted_minus_one = wrap32((x << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), x_integer_digits - headroom_plus_one

