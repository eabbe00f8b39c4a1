/* kh x kw convolution, any strides and padding: TFLite reference ConvPerChannel. Two output
 * pixels at a time: their kh x kw x C input patches are gathered (taps in the padding read the
 * input zero point, which contributes nothing once the folded input offset is applied, as
 * the reference skips them), sign-extended into columns, then the matrix core computes every
 * output channel. Output rows are written in order, after the input rows they need. */
#include "ofa_kernels.h"

static void gather(const ofa_conv2d_params *p, const int8_t *in, int32_t oy, int32_t ox, int8_t *patch) {
    const int32_t kh = p->kh, kw = p->kw, ic = p->in_c, row = kw * ic;
    const int32_t iy0 = oy * p->sh - p->pad_top, ix0 = ox * p->sw - p->pad_left;
    const int8_t pad = (int8_t)p->pad_value;
    const int inside_x = ix0 >= 0 && ix0 + kw <= p->in_w;
    for (int32_t fy = 0; fy < kh; ++fy, patch += row) {
        const int32_t iy = iy0 + fy;
        if (iy < 0 || iy >= p->in_h) {
            memset(patch, pad, (size_t)row);
            continue;
        }
        const int8_t *src = in + ((size_t)iy * p->in_w + ix0) * ic;
        if (inside_x) {
            int32_t i = 0;
            for (; i + 4 <= row; i += 4) {
                const uint32_t v = ofa_ld32(src + i);
                memcpy(patch + i, &v, 4);
            }
            for (; i < row; ++i) patch[i] = src[i];
            continue;
        }
        for (int32_t fx = 0; fx < kw; ++fx) {
            const int32_t ix = ix0 + fx;
            if (ix < 0 || ix >= p->in_w)
                memset(patch + fx * ic, pad, (size_t)ic);
            else
                memcpy(patch + fx * ic, src + (size_t)fx * ic, (size_t)ic);
        }
    }
}

void ofa_conv2d(const ofa_conv2d_params *p, const int8_t *in, int8_t *out, uint32_t *scratch) {
    const int32_t kk = p->kh * p->kw * p->in_c, oc = p->mm.out_c, ow = p->out_w;
    const int32_t n = p->out_h * ow;
    uint32_t *cols = scratch;
    int8_t *patch0 = (int8_t *)(scratch + 4 * p->mm.groups), *patch1 = patch0 + p->patch;
    int32_t oy = 0, ox = 0;
    for (int32_t q = 0; q < n; q += 2) {
        gather(p, in, oy, ox, patch0);
        if (++ox == ow) {
            ox = 0;
            ++oy;
        }
        if (q + 1 == n) {
            ofa_mm_columns(patch0, kk, cols, 2);
            ofa_mm1(&p->mm, cols, out + (size_t)q * oc);
            break;
        }
        gather(p, in, oy, ox, patch1);
        if (++ox == ow) {
            ox = 0;
            ++oy;
        }
        ofa_mm_columns(patch0, kk, cols, 4);
        ofa_mm_columns(patch1, kk, cols + 2, 4);
        ofa_mm2(&p->mm, cols, out + (size_t)q * oc, out + (size_t)(q + 1) * oc);
    }
}
