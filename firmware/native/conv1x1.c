/* 1x1 convolution (expand, project, feature mix): TFLite reference ConvPerChannel with the
 * input offset folded into the bias. */
#include <string.h>

#include "ofa_kernels.h"

static inline int8_t ofa_pw_out(const ofa_conv1x1_params *p, int32_t c, int32_t acc) {
    acc = ofa_requant(acc, p->mult[c], p->shift[c]) + p->out_offset;
    return ofa_clamp8(acc, p->act_min, p->act_max);
}

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>

static inline uint32_t ofa_ld4(const int8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4); /* one (unaligned-capable) LDR */
    return v;
}

/* Cortex-M4/M7 DSP path: SXTB16 splits four int8 into two int16 pairs (bytes 0,2 and 1,3),
 * SMLAD multiplies and accumulates both pairs; two output channels share each input load.
 * Same integer sums as the scalar loop (int32 wrap-around included). */
void ofa_pw_pixel(const ofa_conv1x1_params *p, const int8_t *x, int8_t *o) {
    const int32_t ic = p->in_c, oc = p->out_c, ic4 = ic & ~3;
    const int8_t *w = p->weight;
    int32_t c = 0;
    for (; c + 1 < oc; c += 2, w += 2 * ic) {
        const int8_t *w1 = w + ic;
        int32_t a0 = p->bias[c], a1 = p->bias[c + 1];
        int32_t i = 0;
        for (; i < ic4; i += 4) {
            const uint32_t xv = ofa_ld4(x + i);
            const int32_t xe = __sxtb16(xv), xo = __sxtb16((xv >> 8) | (xv << 24));
            const uint32_t v0 = ofa_ld4(w + i), v1 = ofa_ld4(w1 + i);
            a0 = __smlad(__sxtb16(v0), xe, a0);
            a0 = __smlad(__sxtb16((v0 >> 8) | (v0 << 24)), xo, a0);
            a1 = __smlad(__sxtb16(v1), xe, a1);
            a1 = __smlad(__sxtb16((v1 >> 8) | (v1 << 24)), xo, a1);
        }
        for (; i < ic; ++i) {
            a0 += (int32_t)w[i] * (int32_t)x[i];
            a1 += (int32_t)w1[i] * (int32_t)x[i];
        }
        o[c] = ofa_pw_out(p, c, a0);
        o[c + 1] = ofa_pw_out(p, c + 1, a1);
    }
    for (; c < oc; ++c, w += ic) {
        int32_t acc = p->bias[c];
        for (int32_t i = 0; i < ic; ++i) acc += (int32_t)w[i] * (int32_t)x[i];
        o[c] = ofa_pw_out(p, c, acc);
    }
}
#else
void ofa_pw_pixel(const ofa_conv1x1_params *p, const int8_t *x, int8_t *o) {
    const int32_t ic = p->in_c, oc = p->out_c;
    const int8_t *w = p->weight;
    for (int32_t c = 0; c < oc; ++c, w += ic) {
        int32_t acc = p->bias[c];
        for (int32_t i = 0; i < ic; ++i) acc += (int32_t)w[i] * (int32_t)x[i];
        o[c] = ofa_pw_out(p, c, acc);
    }
}
#endif

void ofa_conv1x1(const ofa_conv1x1_params *p, const int8_t *in, int8_t *out, int8_t *pixbuf) {
    const int32_t s = p->stride, ic = p->in_c, oc = p->out_c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int8_t *x = in + ((size_t)(oy * s) * p->in_w + (size_t)(ox * s)) * ic;
            if (pixbuf) {
                memcpy(pixbuf, x, (size_t)ic);
                x = pixbuf;
            }
            ofa_pw_pixel(p, x, out + ((size_t)oy * p->out_w + ox) * oc);
        }
    }
}
