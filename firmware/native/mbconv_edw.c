/* Fused 1x1 expand + depthwise (the front of an MBConv block): TFLite reference
 * ConvPerChannel for the expand and DepthwiseConvPerChannel for the depthwise, bit for bit.
 * Expanded rows are produced on demand (two pixels at a time through the matrix core) into a
 * ring of K channel-major padded rows, [slot][channel][plane_w] int8, plus one row of padding,
 * so the expanded tensor never exists in full; each output row is then computed channel by
 * channel by the depthwise row engine. Output rows are written in order, after the input rows
 * they need have been read (the planner's streaming rule). */
#include "ofa_kernels.h"
#include "dwrow.h"

static void expand_row(const ofa_conv1x1_params *pw, const int8_t *x, int32_t n, int8_t *r, uint32_t *cols) {
    const int32_t ic = pw->in_c;
    int32_t i = 0;
    for (; i + 1 < n; i += 2, x += 2 * ic) {
        ofa_mm_columns(x, ic, cols, 4);
        ofa_mm_columns(x + ic, ic, cols + 2, 4);
        ofa_mm2(&pw->mm, cols, r + i, r + i + 1);
    }
    if (i < n) {
        ofa_mm_columns(x, ic, cols, 2);
        ofa_mm1(&pw->mm, cols, r + i);
    }
}

OFA_INLINE void edw_body(const ofa_mbconv_edw_params *p, const int8_t *in, int8_t *out, int8_t *ring, const int K,
                         const int S, const int mode) {
    const ofa_dwconv_params *dw = &p->dw;
    const int32_t M = dw->c, PW = dw->plane_w, in_h = dw->in_h, in_w = dw->in_w, ic = p->pw.in_c;
    const int32_t ow = dw->out_w, lo = dw->act_min, hi = dw->act_max;
    const size_t slot_bytes = (size_t)PW * M;
    const int8_t pad = (int8_t)dw->pad_value;
    int8_t *pad_row = ring + (((size_t)K * slot_bytes + 3) & ~(size_t)3);
    uint32_t *cols = (uint32_t *)(pad_row + p->pad_row_bytes);
    memset(pad_row, pad, (size_t)p->pad_row_bytes);
    int32_t x_end = PW - dw->pad_left;
    if (x_end > in_w) x_end = in_w;
    for (int32_t slot = 0; slot < K; ++slot) { /* the padding columns of every row */
        for (int32_t c = 0; c < M; ++c) {
            int8_t *r = ring + (size_t)slot * slot_bytes + (size_t)c * PW;
            memset(r, pad, (size_t)dw->pad_left);
            memset(r + dw->pad_left + x_end, pad, (size_t)(PW - dw->pad_left - x_end));
        }
    }
    const int32_t wstride = K * 2 * ((K + 3) / 4);
    int32_t next = 0;
    for (int32_t oy = 0; oy < dw->out_h; ++oy) {
        const int32_t iy0 = oy * S - dw->pad_top;
        int32_t last = iy0 + K - 1;
        if (last > in_h - 1) last = in_h - 1;
        for (; next <= last; ++next)
            expand_row(&p->pw, in + (size_t)next * in_w * ic, x_end,
                       ring + (size_t)(next % K) * slot_bytes + dw->pad_left, cols);
        const int8_t *base[OFA_DW_MAX_K];
        int32_t step[OFA_DW_MAX_K];
#pragma GCC unroll 8
        for (int fy = 0; fy < K; ++fy) {
            const int32_t iy = iy0 + fy;
            const int outside = iy < 0 || iy >= in_h;
            base[fy] = outside ? pad_row : ring + (size_t)(iy % K) * slot_bytes;
            step[fy] = outside ? 0 : PW;
        }
        int8_t *o = out + (size_t)oy * ow * M;
        const uint32_t *w = dw->weight;
        for (int32_t c = 0; c < M; ++c, w += wstride) {
            const int8_t *rows[OFA_DW_MAX_K];
#pragma GCC unroll 8
            for (int fy = 0; fy < K; ++fy) rows[fy] = base[fy] + c * step[fy];
            ofa_dw_row(rows, w, ow, o + c, M, dw->rq + c, K, S, mode, lo, hi);
        }
    }
}

#define OFA_EDW_VARIANT(K, S, M)                                   \
    if (p->dw.k == K && p->dw.stride == S && p->dw.mode == M) { \
        edw_body(p, in, out, ring, K, S, M);                     \
        return;                                                  \
    }

void ofa_mbconv_edw(const ofa_mbconv_edw_params *p, const int8_t *in, int8_t *out, int8_t *ring) {
    OFA_EDW_VARIANTS(OFA_EDW_VARIANT)
}
