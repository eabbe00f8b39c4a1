/* Depthwise convolution (multiplier 1), channel by channel through a padded plane: TFLite
 * reference DepthwiseConvPerChannel. Each channel's input is copied into the plane (padding
 * = the input zero point) before that channel's outputs are written, so the output may
 * overwrite the input in place. The rows are computed by the row engine (dwrow.h), compiled
 * for the (K, stride, requantization mode) variants the model uses (OFA_DWCONV_VARIANTS in
 * ofa_kernels.h, written by the code generator) and, for any other layer, generically. */
#include "ofa_kernels.h"
#include "dwrow.h"

static void build_plane(const ofa_dwconv_params *p, const int8_t *in, int32_t c, int8_t *plane) {
    const int32_t C = p->c, ph = p->plane_h, pw = p->plane_w, in_h = p->in_h, in_w = p->in_w;
    const int32_t left = p->pad_left;
    int32_t right = pw - left - in_w;
    const int32_t cols = right < 0 ? in_w + right : in_w;
    right = right < 0 ? 0 : right;
    const int8_t pad = (int8_t)p->pad_value;
    for (int32_t py = 0; py < ph; ++py) {
        const int32_t iy = py - p->pad_top;
        int8_t *row = plane + (size_t)py * pw;
        if (iy < 0 || iy >= in_h) {
            memset(row, pad, (size_t)pw);
            continue;
        }
        const int8_t *src = in + (size_t)iy * in_w * C + c;
        int32_t x = 0;
        for (; x < left; ++x) row[x] = pad;
        int8_t *d = row + left;
        int32_t n = cols;
        for (; n >= 4; n -= 4, d += 4, src += 4 * C) {
            d[0] = src[0];
            d[1] = src[C];
            d[2] = src[2 * C];
            d[3] = src[3 * C];
        }
        for (; n > 0; --n, src += C) *d++ = *src;
        for (x = 0; x < right; ++x) d[x] = pad;
    }
}

OFA_INLINE void dw_body(const ofa_dwconv_params *p, const int8_t *in, int8_t *out, int8_t *plane, const int K,
                        const int S, const int mode) {
    const int32_t C = p->c, pw = p->plane_w, ow = p->out_w, lo = p->act_min, hi = p->act_max;
    const int32_t wstride = K * 2 * ((K + 3) / 4);
    for (int32_t c = 0; c < C; ++c) {
        build_plane(p, in, c, plane);
        const uint32_t *w = p->weight + (size_t)c * wstride;
        const ofa_rq *rq = p->rq + c;
        int8_t *o = out + c;
        for (int32_t oy = 0; oy < p->out_h; ++oy, o += (size_t)ow * C) {
            const int8_t *rows[OFA_DW_MAX_K];
#pragma GCC unroll 8
            for (int fy = 0; fy < K; ++fy) rows[fy] = plane + (size_t)(oy * S + fy) * pw;
            ofa_dw_row(rows, w, ow, o, C, rq, K, S, mode, lo, hi);
        }
    }
}

#ifdef OFA_DWCONV_GENERIC
/* Any K and stride (the weights' row length and the window step are read at run time). */
static void dw_generic(const ofa_dwconv_params *p, const int8_t *in, int8_t *out, int8_t *plane) {
    const int32_t C = p->c, K = p->k, S = p->stride, pw = p->plane_w, ow = p->out_w;
    const int32_t G = (K + 3) / 4, wstride = K * 2 * G;
    for (int32_t c = 0; c < C; ++c) {
        build_plane(p, in, c, plane);
        const ofa_rq *rq = p->rq + c;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < ow; ++ox) {
                const uint32_t *w = p->weight + (size_t)c * wstride;
                int32_t acc = rq->bias;
                for (int32_t fy = 0; fy < K; ++fy) {
                    const int8_t *q = plane + (size_t)(oy * S + fy) * pw + ox * S;
                    for (int32_t g = 0; g < G; ++g, w += 2) {
                        const uint32_t v = ofa_ld32(q + 4 * g);
                        acc = ofa_smlad(ofa_sxtb16(v), w[0], acc);
                        acc = ofa_smlad(ofa_sxtb16_ror8(v), w[1], acc);
                    }
                }
                out[((size_t)oy * ow + ox) * C + c] = (int8_t)ofa_rq_out(acc, rq, p->mode, p->act_min, p->act_max);
            }
        }
    }
}
#endif

#define OFA_DW_VARIANT(K, S, M) \
    if (p->k == K && p->stride == S && p->mode == M) { \
        dw_body(p, in, out, plane, K, S, M);            \
        return;                                         \
    }

void ofa_dwconv(const ofa_dwconv_params *p, const int8_t *in, int8_t *out, int8_t *plane) {
    OFA_DWCONV_VARIANTS(OFA_DW_VARIANT)
#ifdef OFA_DWCONV_GENERIC
    dw_generic(p, in, out, plane);
#endif
}
