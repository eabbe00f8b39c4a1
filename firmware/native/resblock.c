/* Fused residual block: out = x + conv_b(conv_a(x)) for two k x k stride-1 "same" convolutions
 * (ResNet's basic block), written over x row by row: TFLite reference ConvPerChannel twice and
 * AddFunc, bit for bit. conv_a's output never exists in full: its rows go through a ring of K
 * rows; output row r is the sum of x's row r and conv_b's row r, and by the time it is written
 * x's row r is no longer needed (conv_a's rows up to r + K/2, the last that read it, are done).
 * So the block needs x, the ring and one row instead of x and two whole tensors. */
#include "ofa_kernels.h"

/* k x k patches of one output row from row pointers (NULL: a padding row), two pixels at a time
 * through the matrix core. */
static void conv_row(const ofa_conv2d_params *p, const int8_t *const *rows, int8_t *out, uint32_t *cols,
                     int8_t *patch0, int8_t *patch1) {
    const int32_t k = p->kh, ic = p->in_c, row = k * ic, kk = k * row, ow = p->out_w, oc = p->mm.out_c;
    const int8_t pad = (int8_t)p->pad_value;
    for (int32_t ox = 0; ox < ow; ox += 2) {
        int8_t *patches[2] = {patch0, patch1};
        const int32_t n = ox + 1 < ow ? 2 : 1;
        for (int32_t j = 0; j < n; ++j) {
            const int32_t ix0 = ox + j - p->pad_left;
            int8_t *d = patches[j];
            for (int32_t fy = 0; fy < k; ++fy, d += row) {
                const int8_t *src = rows[fy];
                if (!src) {
                    memset(d, pad, (size_t)row);
                    continue;
                }
                for (int32_t fx = 0; fx < k; ++fx) {
                    const int32_t ix = ix0 + fx;
                    if (ix < 0 || ix >= p->in_w)
                        memset(d + fx * ic, pad, (size_t)ic);
                    else
                        memcpy(d + fx * ic, src + (size_t)ix * ic, (size_t)ic);
                }
            }
        }
        if (n == 2) {
            ofa_mm_columns(patch0, kk, cols, 4);
            ofa_mm_columns(patch1, kk, cols + 2, 4);
            ofa_mm2(&p->mm, cols, out + (size_t)ox * oc, out + (size_t)(ox + 1) * oc);
        } else {
            ofa_mm_columns(patch0, kk, cols, 2);
            ofa_mm1(&p->mm, cols, out + (size_t)ox * oc);
        }
    }
}

void ofa_resblock(const ofa_resblock_params *p, int8_t *x, int8_t *scratch) {
    const ofa_conv2d_params *a = &p->a, *b = &p->b;
    const int32_t H = a->in_h, W = a->in_w, C = a->in_c, C1 = a->mm.out_c, K = a->kh, half = K / 2;
    const size_t slot = (size_t)W * C1, xrow = (size_t)W * C;
    uint32_t *cols = (uint32_t *)scratch;
    int8_t *patch0 = scratch + p->cols_bytes, *patch1 = patch0 + p->patch_bytes;
    int8_t *y2 = patch1 + p->patch_bytes;
    int8_t *ring = y2 + p->row_bytes;
    const int8_t *rows[OFA_RESBLOCK_MAX_K];
    int32_t next = 0;
    for (int32_t r = 0; r < H; ++r) {
        const int32_t need = r + half < H - 1 ? r + half : H - 1;
        for (; next <= need; ++next) { /* conv_a row `next` from x rows next - half .. next + half */
            for (int32_t fy = 0; fy < K; ++fy) {
                const int32_t iy = next - half + fy;
                rows[fy] = (iy < 0 || iy >= H) ? NULL : x + (size_t)iy * xrow;
            }
            conv_row(a, rows, ring + (size_t)(next % K) * slot, cols, patch0, patch1);
        }
        for (int32_t fy = 0; fy < K; ++fy) { /* conv_b row r from the ring */
            const int32_t iy = r - half + fy;
            rows[fy] = (iy < 0 || iy >= H) ? NULL : ring + (size_t)(iy % K) * slot;
        }
        conv_row(b, rows, y2, cols, patch0, patch1);
        int8_t *xr = x + (size_t)r * xrow;
        if (p->x_first)
            ofa_add(&p->add, xr, y2, xr);
        else
            ofa_add(&p->add, y2, xr, xr);
    }
}
