/* Max pool: TFLite reference MaxPool (int8): the largest input over the window's cells inside
 * the input, clamped to the fused activation's range. Four channels at a time: SSUB8 sets the
 * per-byte signed greater-or-equal flags and SEL takes each lane's larger value. */
#include "ofa_kernels.h"

#if OFA_DSP
OFA_INLINE uint32_t max8x4(uint32_t a, uint32_t b) {
    uint32_t d, r;
    __asm__ volatile("ssub8 %0, %2, %3\n\tsel %1, %2, %3" : "=&r"(d), "=r"(r) : "r"(a), "r"(b) : "cc");
    (void)d;
    return r;
}
#else
OFA_INLINE uint32_t max8x4(uint32_t a, uint32_t b) {
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(a >> i), y = (int8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x > y ? x : y) << i;
    }
    return r;
}
#endif

void ofa_maxpool(const ofa_maxpool_params *p, const int8_t *in, int8_t *out) {
    const int32_t C = p->c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t fy0 = iy0 < 0 ? -iy0 : 0, fy1 = p->filter_h < p->in_h - iy0 ? p->filter_h : p->in_h - iy0;
        for (int32_t ox = 0; ox < p->out_w; ++ox, out += C) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t fx0 = ix0 < 0 ? -ix0 : 0, fx1 = p->filter_w < p->in_w - ix0 ? p->filter_w : p->in_w - ix0;
            const int8_t *first = in + ((size_t)(iy0 + fy0) * p->in_w + (ix0 + fx0)) * C;
            int32_t c = 0;
            for (; c + 4 <= C; c += 4) {
                uint32_t m = ofa_ld32(first + c);
                for (int32_t fy = fy0; fy < fy1; ++fy) {
                    const int8_t *x = in + ((size_t)(iy0 + fy) * p->in_w + (ix0 + fx0)) * C + c;
                    for (int32_t fx = fx0; fx < fx1; ++fx, x += C) m = max8x4(m, ofa_ld32(x));
                }
                for (int32_t i = 0; i < 4; ++i) out[c + i] = ofa_clamp8((int8_t)(m >> (8 * i)), p->act_min, p->act_max);
            }
            for (; c < C; ++c) {
                int32_t m = first[c];
                for (int32_t fy = fy0; fy < fy1; ++fy) {
                    const int8_t *x = in + ((size_t)(iy0 + fy) * p->in_w + (ix0 + fx0)) * C + c;
                    for (int32_t fx = fx0; fx < fx1; ++fx, x += C) m = *x > m ? *x : m;
                }
                out[c] = ofa_clamp8(m, p->act_min, p->act_max);
            }
        }
    }
}
