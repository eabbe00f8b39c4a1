/* Depthwise convolution, channel by channel through a padded plane: TFLite reference
 * DepthwiseConvPerChannel (multiplier 1). Each channel's input is copied to the plane before
 * that channel's outputs are written, so the output may overwrite the input in place. */
#include <string.h>

#include "ofa_kernels.h"

#define OFA_MAX_TAPS 121

void ofa_dwconv(const ofa_dwconv_params *p, const int8_t *in, int8_t *out, int8_t *plane) {
    const int32_t C = p->c, k = p->k, s = p->stride, ph = p->plane_h, pw = p->plane_w;
    const int32_t in_h = p->in_h, in_w = p->in_w;
    const int8_t pad = (int8_t)p->pad_value;
    int32_t wk[OFA_MAX_TAPS];
    for (int32_t c = 0; c < C; ++c) {
        for (int32_t py = 0; py < ph; ++py) {
            const int32_t iy = py - p->pad_top;
            int8_t *row = plane + (size_t)py * pw;
            if (iy < 0 || iy >= in_h) {
                memset(row, pad, (size_t)pw);
                continue;
            }
            const int8_t *src = in + (size_t)iy * in_w * C + c;
            for (int32_t px = 0; px < pw; ++px) {
                const int32_t ix = px - p->pad_left;
                row[px] = (ix >= 0 && ix < in_w) ? src[(size_t)ix * C] : pad;
            }
        }
        for (int32_t t = 0; t < k * k; ++t) wk[t] = p->weight[(size_t)t * C + c];
        const int32_t bias = p->bias[c], mult = p->mult[c], shift = p->shift[c];
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int8_t *base_row = plane + (size_t)oy * s * pw;
            int8_t *o = out + (size_t)oy * p->out_w * C + c;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int8_t *base = base_row + ox * s;
                const int32_t *w = wk;
                int32_t acc = bias;
                for (int32_t fy = 0; fy < k; ++fy, base += pw, w += k)
                    for (int32_t fx = 0; fx < k; ++fx) acc += w[fx] * (int32_t)base[fx];
                acc = ofa_requant(acc, mult, shift) + p->out_offset;
                o[(size_t)ox * C] = ofa_clamp8(acc, p->act_min, p->act_max);
            }
        }
    }
}
