/* k x k convolution (the stem): TFLite reference ConvPerChannel, padding inside. */
#include "ofa_kernels.h"

void ofa_conv2d(const ofa_conv2d_params *p, const int8_t *in, int8_t *out) {
    const int32_t k = p->k, s = p->stride, ic = p->in_c, oc = p->out_c;
    const int32_t in_h = p->in_h, in_w = p->in_w, off = p->in_offset;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * s - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * s - p->pad_left;
            int8_t *o = out + ((size_t)oy * p->out_w + ox) * oc;
            for (int32_t c = 0; c < oc; ++c) {
                const int8_t *w = p->weight + (size_t)c * k * k * ic;
                int32_t acc = 0;
                for (int32_t fy = 0; fy < k; ++fy) {
                    const int32_t iy = iy0 + fy;
                    if (iy < 0 || iy >= in_h) continue;
                    for (int32_t fx = 0; fx < k; ++fx) {
                        const int32_t ix = ix0 + fx;
                        if (ix < 0 || ix >= in_w) continue;
                        const int8_t *x = in + ((size_t)iy * in_w + ix) * ic;
                        const int8_t *wp = w + (fy * k + fx) * ic;
                        for (int32_t i = 0; i < ic; ++i) acc += (int32_t)wp[i] * ((int32_t)x[i] + off);
                    }
                }
                acc += p->bias[c];
                acc = ofa_requant(acc, p->mult[c], p->shift[c]) + p->out_offset;
                o[c] = ofa_clamp8(acc, p->act_min, p->act_max);
            }
        }
    }
}
