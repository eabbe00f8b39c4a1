/* The int8 matrix core of the convolutions and fully connected layers: output channels of one
 * or two pixels from their input channels, already sign-extended to int16 "columns".
 *
 * Columns of a pixel: for each group of four input channels x0..x3 (zero-filled past the
 * last channel), the words (x0, x2) and (x1, x3) as int16 pairs, which is what SXTB16 makes
 * of the four bytes; two pixels are interleaved per group (four consecutive words).
 * Weights (packed offline by codegen/native/kernels/matmul.py): per pair of output channels,
 * per group of four input channels, the two channels' four int8 weights (two consecutive
 * words), so one LDRD feeds four SMLADs per pixel; an odd last channel has its rows alone.
 * Every sum is TFLite's int32 accumulator exactly (the input offset is folded into the start
 * value); ofa_rq_out requantizes it as TFLite does. Output channel c of a pixel goes to
 * o[c * step] (step 1: NHWC; the fused MBConv front writes channel-major rows). */
#include "ofa_kernels.h"

/* Sign-extend one pixel's n int8 channels into the column words at cols (stride: words
 * between groups; 2 for one pixel, 4 for an interleaved pair). */
void ofa_mm_columns(const int8_t *x, int32_t n, uint32_t *cols, int32_t stride) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4, cols += stride) {
        const uint32_t v = ofa_ld32(x + i);
        cols[0] = ofa_sxtb16(v);
        cols[1] = ofa_sxtb16_ror8(v);
    }
    if (i < n) {
        uint32_t v = 0;
        memcpy(&v, x + i, (size_t)(n - i));
        cols[0] = ofa_sxtb16(v);
        cols[1] = ofa_sxtb16_ror8(v);
    }
}

OFA_INLINE void mm2_body(const ofa_mm_params *a, const uint32_t *cols, int8_t *o0, int8_t *o1, const int mode) {
    const int32_t groups = a->groups, oc = a->out_c, lo = a->act_min, hi = a->act_max, step = a->step;
    const uint32_t *w = (const uint32_t *)a->weight;
    const ofa_rq *rq = a->rq;
    int32_t c = 0;
    for (; c + 1 < oc; c += 2, rq += 2, o0 += 2 * step, o1 += 2 * step) {
        int32_t a00 = rq[0].bias, a01 = a00, a10 = rq[1].bias, a11 = a10;
        const uint32_t *x = cols;
        for (int32_t g = groups; g > 0; --g) {
            const uint32_t x00 = x[0], x01 = x[1], x10 = x[2], x11 = x[3];
            uint32_t wa = w[0], wb = w[1];
            uint32_t e = ofa_sxtb16(wa);
            wa = ofa_sxtb16_ror8(wa);
            a00 = ofa_smlad(e, x00, a00);
            a01 = ofa_smlad(e, x10, a01);
            a00 = ofa_smlad(wa, x01, a00);
            a01 = ofa_smlad(wa, x11, a01);
            e = ofa_sxtb16(wb);
            wb = ofa_sxtb16_ror8(wb);
            a10 = ofa_smlad(e, x00, a10);
            a11 = ofa_smlad(e, x10, a11);
            a10 = ofa_smlad(wb, x01, a10);
            a11 = ofa_smlad(wb, x11, a11);
            x += 4;
            w += 2;
        }
        o0[0] = (int8_t)ofa_rq_out(a00, rq, mode, lo, hi);
        o1[0] = (int8_t)ofa_rq_out(a01, rq, mode, lo, hi);
        o0[step] = (int8_t)ofa_rq_out(a10, rq + 1, mode, lo, hi);
        o1[step] = (int8_t)ofa_rq_out(a11, rq + 1, mode, lo, hi);
    }
    if (c < oc) {
        int32_t a00 = rq->bias, a01 = a00;
        const uint32_t *x = cols;
        for (int32_t g = groups; g > 0; --g, x += 4, ++w) {
            const uint32_t e = ofa_sxtb16(w[0]), d = ofa_sxtb16_ror8(w[0]);
            a00 = ofa_smlad(e, x[0], a00);
            a00 = ofa_smlad(d, x[1], a00);
            a01 = ofa_smlad(e, x[2], a01);
            a01 = ofa_smlad(d, x[3], a01);
        }
        o0[0] = (int8_t)ofa_rq_out(a00, rq, mode, lo, hi);
        o1[0] = (int8_t)ofa_rq_out(a01, rq, mode, lo, hi);
    }
}

OFA_INLINE void mm1_body(const ofa_mm_params *a, const uint32_t *cols, int8_t *o0, const int mode) {
    const int32_t groups = a->groups, oc = a->out_c, lo = a->act_min, hi = a->act_max, step = a->step;
    const uint32_t *w = (const uint32_t *)a->weight;
    const ofa_rq *rq = a->rq;
    int32_t c = 0;
    for (; c + 1 < oc; c += 2, rq += 2, o0 += 2 * step) {
        int32_t a0 = rq[0].bias, a1 = rq[1].bias;
        const uint32_t *x = cols;
        for (int32_t g = groups; g > 0; --g) {
            const uint32_t x0 = x[0], x1 = x[1];
            const uint32_t wa = w[0], wb = w[1];
            a0 = ofa_smlad(ofa_sxtb16(wa), x0, a0);
            a1 = ofa_smlad(ofa_sxtb16(wb), x0, a1);
            a0 = ofa_smlad(ofa_sxtb16_ror8(wa), x1, a0);
            a1 = ofa_smlad(ofa_sxtb16_ror8(wb), x1, a1);
            x += 2;
            w += 2;
        }
        o0[0] = (int8_t)ofa_rq_out(a0, rq, mode, lo, hi);
        o0[step] = (int8_t)ofa_rq_out(a1, rq + 1, mode, lo, hi);
    }
    if (c < oc) {
        int32_t a0 = rq->bias;
        const uint32_t *x = cols;
        for (int32_t g = groups; g > 0; --g, x += 2, ++w) {
            a0 = ofa_smlad(ofa_sxtb16(w[0]), x[0], a0);
            a0 = ofa_smlad(ofa_sxtb16_ror8(w[0]), x[1], a0);
        }
        o0[0] = (int8_t)ofa_rq_out(a0, rq, mode, lo, hi);
    }
}

#define OFA_MM2(m) mm2_body(a, cols, o0, o1, m)
void ofa_mm2(const ofa_mm_params *a, const uint32_t *cols, int8_t *o0, int8_t *o1) { OFA_RQ_DISPATCH(a->mode, OFA_MM2) }

#define OFA_MM1(m) mm1_body(a, cols, o0, m)
void ofa_mm1(const ofa_mm_params *a, const uint32_t *cols, int8_t *o0) { OFA_RQ_DISPATCH(a->mode, OFA_MM1) }
