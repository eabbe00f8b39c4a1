/* Average pool: TFLite reference integer AveragePool (rounded average, no rescale). */
#include "ofa_kernels.h"

void ofa_avgpool(const ofa_avgpool_params *p, const int8_t *in, int8_t *out) {
    const int32_t C = p->c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
        const int32_t fy1 = p->filter_h < p->in_h - iy0 ? p->filter_h : p->in_h - iy0;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t fx1 = p->filter_w < p->in_w - ix0 ? p->filter_w : p->in_w - ix0;
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            for (int32_t c = 0; c < C; ++c) {
                int32_t acc = 0;
                for (int32_t fy = fy0; fy < fy1; ++fy)
                    for (int32_t fx = fx0; fx < fx1; ++fx)
                        acc += in[((size_t)(iy0 + fy) * p->in_w + (size_t)(ix0 + fx)) * C + c];
                acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                out[((size_t)oy * p->out_w + ox) * C + c] = ofa_clamp8(acc, p->act_min, p->act_max);
            }
        }
    }
}
