/* Fused 1x1 expand + depthwise (the front of an MBConv block). Expanded rows are produced
 * on demand into a ring of k padded rows (plus one row of padding), so the expanded tensor
 * never exists in full. Arithmetic: ConvPerChannel for the expand, DepthwiseConvPerChannel
 * for the depthwise, bit for bit; output rows are written in order after the input rows
 * they need have been read. */
#include <string.h>

#include "ofa_kernels.h"

#define OFA_MAX_K 11

void ofa_mbconv_edw(const ofa_conv1x1_params *pw, const ofa_dwconv_params *dw, const int8_t *in,
                    int8_t *out, int8_t *ring) {
    const int32_t k = dw->k, s = dw->stride, M = dw->c, PW = dw->plane_w;
    const int32_t in_h = dw->in_h, in_w = dw->in_w, ic = pw->in_c;
    const size_t row_bytes = (size_t)PW * M;
    const int8_t pad = (int8_t)dw->pad_value;
    int8_t *pad_row = ring + (size_t)k * row_bytes;
    memset(pad_row, pad, row_bytes);
    for (int32_t slot = 0; slot < k; ++slot) {
        int8_t *r = ring + (size_t)slot * row_bytes;
        for (int32_t px = 0; px < PW; ++px) {
            const int32_t ix = px - dw->pad_left;
            if (ix < 0 || ix >= in_w) memset(r + (size_t)px * M, pad, (size_t)M);
        }
    }
    int32_t x_end = PW - dw->pad_left;
    if (x_end > in_w) x_end = in_w;
    int32_t next = 0;
    const int8_t *rows[OFA_MAX_K];
    for (int32_t oy = 0; oy < dw->out_h; ++oy) {
        const int32_t iy0 = oy * s - dw->pad_top;
        int32_t last = iy0 + k - 1;
        if (last > in_h - 1) last = in_h - 1;
        for (; next <= last; ++next) {
            int8_t *r = ring + (size_t)(next % k) * row_bytes + (size_t)dw->pad_left * M;
            const int8_t *x = in + (size_t)next * in_w * ic;
            for (int32_t ix = 0; ix < x_end; ++ix) ofa_pw_pixel(pw, x + (size_t)ix * ic, r + (size_t)ix * M);
        }
        for (int32_t fy = 0; fy < k; ++fy) {
            const int32_t iy = iy0 + fy;
            rows[fy] = (iy < 0 || iy >= in_h) ? pad_row : ring + (size_t)(iy % k) * row_bytes;
        }
        int8_t *o = out + (size_t)oy * dw->out_w * M;
        for (int32_t ox = 0; ox < dw->out_w; ++ox, o += M) {
            const size_t col = (size_t)ox * s * M;
            for (int32_t c = 0; c < M; ++c) {
                int32_t acc = dw->bias[c];
                const int8_t *w = dw->weight + c;
                for (int32_t fy = 0; fy < k; ++fy) {
                    const int8_t *r = rows[fy] + col + c;
                    for (int32_t fx = 0; fx < k; ++fx, w += M) acc += (int32_t)*w * (int32_t)r[(size_t)fx * M];
                }
                acc = ofa_requant(acc, dw->mult[c], dw->shift[c]) + dw->out_offset;
                o[c] = ofa_clamp8(acc, dw->act_min, dw->act_max);
            }
        }
    }
}
