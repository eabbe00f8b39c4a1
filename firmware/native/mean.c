/* Mean over H and W of an NHWC tensor: TFLite reference QuantizedMeanOrSum (int32 sum, zero
 * point removed, one requantization, int8 clamp). Four channels are summed at a time in two
 * int16x2 lanes (SXTAB16: one 32-bit load and two instructions per four values), moved into
 * int32 every 256 pixels so no lane can overflow. */
#include "ofa_kernels.h"

OFA_INLINE int32_t lo16(uint32_t x) { return (int16_t)(x & 0xffffu); }
OFA_INLINE int32_t hi16(uint32_t x) { return (int16_t)(x >> 16); }

void ofa_mean(const ofa_mean_params *p, const int8_t *in, int8_t *out) {
    const int32_t C = p->c, hw = p->hw, bias = -p->in_zp * hw;
    int32_t c = 0;
    for (; c + 4 <= C; c += 4) {
        int32_t s0 = bias, s1 = bias, s2 = bias, s3 = bias;
        const int8_t *x = in + c;
        for (int32_t q0 = 0; q0 < hw; q0 += 256) {
            const int32_t q1 = q0 + 256 < hw ? q0 + 256 : hw;
            uint32_t e = 0, o = 0;
            for (int32_t q = q0; q < q1; ++q, x += C) {
                const uint32_t v = ofa_ld32(x);
                e = ofa_sxtab16(e, v);
                o = ofa_sxtab16_ror8(o, v);
            }
            s0 += lo16(e);
            s2 += hi16(e);
            s1 += lo16(o);
            s3 += hi16(o);
        }
        out[c] = ofa_clamp8(ofa_requant(s0, p->mult, p->shift) + p->out_zp, -128, 127);
        out[c + 1] = ofa_clamp8(ofa_requant(s1, p->mult, p->shift) + p->out_zp, -128, 127);
        out[c + 2] = ofa_clamp8(ofa_requant(s2, p->mult, p->shift) + p->out_zp, -128, 127);
        out[c + 3] = ofa_clamp8(ofa_requant(s3, p->mult, p->shift) + p->out_zp, -128, 127);
    }
    for (; c < C; ++c) {
        int32_t sum = bias;
        const int8_t *x = in + c;
        for (int32_t q = 0; q < hw; ++q) sum += x[(size_t)q * C];
        out[c] = ofa_clamp8(ofa_requant(sum, p->mult, p->shift) + p->out_zp, -128, 127);
    }
}
