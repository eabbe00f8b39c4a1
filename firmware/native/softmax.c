/* int8 softmax over the last dimension: TFLite reference Softmax (gemmlowp fixed point).
 * exp[d] is exp_on_negative_values of the rescaled difference -d from the row's maximum (a
 * FixedPoint<0> raw value, zero where the reference skips it), made offline; the sum of their
 * Rescale<12>, its fixed-point reciprocal (GetReciprocal: one_over_one_plus_x_for_x_in_0_1, three
 * Newton-Raphson steps) and the final scaling are the reference's integer steps. out may equal
 * in. */
#include "ofa_kernels.h"

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0 (saturating left shift) */
static int32_t sat_shl(int32_t x, int e) {
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1 (FixedPoint<int32, 0> in and out) */
static int32_t one_over_one_plus_x(int32_t a) {
    const int64_t s = (int64_t)a + INT32_MAX;
    const int32_t half = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum(a, One) */
    int32_t x = (int32_t)((uint32_t)1515870810 + (uint32_t)ofa_srdhm(half, -1010580540)); /* F2 */
    for (int i = 0; i < 3; ++i) {
        const int32_t hdx = ofa_srdhm(half, x);
        const int32_t omh = (int32_t)((uint32_t)(1 << 29) - (uint32_t)hdx);
        x = (int32_t)((uint32_t)x + (uint32_t)sat_shl(ofa_srdhm(x, omh), 2));
    }
    return sat_shl(x, 1);
}

void ofa_softmax(const ofa_softmax_params *p, const int8_t *in, int8_t *out) {
    const int32_t depth = p->depth;
    const int32_t *exp = p->exp;
    for (int32_t r = 0; r < p->outer; ++r, in += depth, out += depth) {
        int32_t mx = -128;
        for (int32_t c = 0; c < depth; ++c) mx = in[c] > mx ? in[c] : mx;
        int32_t sum = 0;
        for (int32_t c = 0; c < depth; ++c) sum = (int32_t)((uint32_t)sum + (uint32_t)ofa_rdbpot(exp[mx - in[c]], 12));
        const int headroom = __builtin_clz((uint32_t)sum);
        const int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
        const int32_t scale = one_over_one_plus_x(shifted);
        const int exponent = (12 - headroom) + 31 - 8;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t v = ofa_rdbpot(ofa_srdhm(scale, exp[mx - in[c]]), exponent) - 128;
            out[c] = ofa_clamp8(v, -128, 127);
        }
    }
}
