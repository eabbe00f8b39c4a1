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

/* Two channels (weights w, consecutive per group) x two pixels (interleaved columns) over
 * all groups; returns the weights of the next channel pair. */
#if OFA_DSP
/* One group: LDRD of the two channels' four weights, LDRD of each pixel's two column words,
 * four SXTB16, eight SMLAD (15 instructions for 16 MACs, with post-incremented pointers). */
#define OFA_MM_GROUP                                 \
    "ldrd   %[wa], %[wb], [%[w]], #8\n\t"            \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"            \
    "sxtb16 %[e], %[wa]\n\t"                         \
    "sxtb16 %[wa], %[wa], ror #8\n\t"                \
    "smlad  %[a00], %[e], %[x0], %[a00]\n\t"         \
    "smlad  %[a00], %[wa], %[x1], %[a00]\n\t"        \
    "sxtb16 %[f], %[wb]\n\t"                         \
    "sxtb16 %[wb], %[wb], ror #8\n\t"                \
    "smlad  %[a10], %[f], %[x0], %[a10]\n\t"         \
    "smlad  %[a10], %[wb], %[x1], %[a10]\n\t"        \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"            \
    "smlad  %[a01], %[e], %[x0], %[a01]\n\t"         \
    "smlad  %[a01], %[wa], %[x1], %[a01]\n\t"        \
    "smlad  %[a11], %[f], %[x0], %[a11]\n\t"         \
    "smlad  %[a11], %[wb], %[x1], %[a11]\n\t"

OFA_INLINE const uint32_t *ofa_mm_block2x2(const uint32_t *w, const uint32_t *x, int32_t groups, int32_t *p00,
                                           int32_t *p01, int32_t *p10, int32_t *p11) {
    int32_t a00 = *p00, a01 = *p01, a10 = *p10, a11 = *p11;
    uint32_t wa, wb, e, f, x0, x1;
    int32_t n = groups;
    /* an odd group first, then two groups per iteration */
    __asm__ volatile("lsrs   %[n], %[n], #1\n\t"
                     "bcc    2f\n\t" OFA_MM_GROUP
                     "2:\n\t"
                     "cmp    %[n], #0\n\t"
                     "beq    3f\n\t"
                     "1:\n\t" OFA_MM_GROUP OFA_MM_GROUP
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     "3:\n\t"
                     : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [w] "+r"(w), [x] "+r"(x),
                       [n] "+r"(n), [wa] "=&r"(wa), [wb] "=&r"(wb), [e] "=&r"(e), [f] "=&r"(f), [x0] "=&r"(x0),
                       [x1] "=&r"(x1)
                     :
                     : "memory", "cc");
    *p00 = a00;
    *p01 = a01;
    *p10 = a10;
    *p11 = a11;
    return w;
}
/* One pixel: two channels per group (10 instructions for 8 MACs). */
#define OFA_MM1_GROUP                                \
    "ldrd   %[wa], %[wb], [%[w]], #8\n\t"            \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"            \
    "sxtb16 %[e], %[wa]\n\t"                         \
    "sxtb16 %[wa], %[wa], ror #8\n\t"                \
    "smlad  %[a0], %[e], %[x0], %[a0]\n\t"           \
    "smlad  %[a0], %[wa], %[x1], %[a0]\n\t"          \
    "sxtb16 %[e], %[wb]\n\t"                         \
    "sxtb16 %[wb], %[wb], ror #8\n\t"                \
    "smlad  %[a1], %[e], %[x0], %[a1]\n\t"           \
    "smlad  %[a1], %[wb], %[x1], %[a1]\n\t"

OFA_INLINE const uint32_t *ofa_mm_block2x1(const uint32_t *w, const uint32_t *x, int32_t groups, int32_t *p0,
                                           int32_t *p1) {
    int32_t a0 = *p0, a1 = *p1;
    uint32_t wa, wb, e, x0, x1;
    int32_t n = groups;
    __asm__ volatile("lsrs   %[n], %[n], #1\n\t"
                     "bcc    2f\n\t" OFA_MM1_GROUP
                     "2:\n\t"
                     "cmp    %[n], #0\n\t"
                     "beq    3f\n\t"
                     "1:\n\t" OFA_MM1_GROUP OFA_MM1_GROUP
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     "3:\n\t"
                     : [a0] "+r"(a0), [a1] "+r"(a1), [w] "+r"(w), [x] "+r"(x), [n] "+r"(n), [wa] "=&r"(wa),
                       [wb] "=&r"(wb), [e] "=&r"(e), [x0] "=&r"(x0), [x1] "=&r"(x1)
                     :
                     : "memory", "cc");
    *p0 = a0;
    *p1 = a1;
    return w;
}
#else
OFA_INLINE const uint32_t *ofa_mm_block2x1(const uint32_t *w, const uint32_t *x, int32_t groups, int32_t *p0,
                                           int32_t *p1) {
    int32_t a0 = *p0, a1 = *p1;
    for (int32_t g = groups; g > 0; --g, x += 2, w += 2) {
        a0 = ofa_smlad(ofa_sxtb16_ror8(w[0]), x[1], ofa_smlad(ofa_sxtb16(w[0]), x[0], a0));
        a1 = ofa_smlad(ofa_sxtb16_ror8(w[1]), x[1], ofa_smlad(ofa_sxtb16(w[1]), x[0], a1));
    }
    *p0 = a0;
    *p1 = a1;
    return w;
}
#endif

#if !OFA_DSP
OFA_INLINE const uint32_t *ofa_mm_block2x2(const uint32_t *w, const uint32_t *x, int32_t groups, int32_t *p00,
                                           int32_t *p01, int32_t *p10, int32_t *p11) {
    int32_t a00 = *p00, a01 = *p01, a10 = *p10, a11 = *p11;
    for (int32_t g = groups; g > 0; --g, x += 4, w += 2) {
        const uint32_t ea = ofa_sxtb16(w[0]), oa = ofa_sxtb16_ror8(w[0]);
        const uint32_t eb = ofa_sxtb16(w[1]), ob = ofa_sxtb16_ror8(w[1]);
        a00 = ofa_smlad(oa, x[1], ofa_smlad(ea, x[0], a00));
        a01 = ofa_smlad(oa, x[3], ofa_smlad(ea, x[2], a01));
        a10 = ofa_smlad(ob, x[1], ofa_smlad(eb, x[0], a10));
        a11 = ofa_smlad(ob, x[3], ofa_smlad(eb, x[2], a11));
    }
    *p00 = a00;
    *p01 = a01;
    *p10 = a10;
    *p11 = a11;
    return w;
}
#endif

OFA_INLINE void mm2_body(const ofa_mm_params *a, const uint32_t *cols, int8_t *o0, int8_t *o1, const int mode) {
    const int32_t groups = a->groups, oc = a->out_c, lo = a->act_min, hi = a->act_max, step = a->step;
    const uint32_t *w = (const uint32_t *)a->weight;
    const ofa_rq *rq = a->rq;
    int32_t c = 0;
    for (; c + 1 < oc; c += 2, rq += 2, o0 += 2 * step, o1 += 2 * step) {
        int32_t a00 = rq[0].bias, a01 = a00, a10 = rq[1].bias, a11 = a10;
        w = ofa_mm_block2x2(w, cols, groups, &a00, &a01, &a10, &a11);
        /* every parameter is read before the first int8 store (which may alias anything) */
        const int32_t m0 = rq[0].mult, c0 = rq[0].add, s0 = rq[0].shifts;
        const int32_t m1 = rq[1].mult, c1 = rq[1].add, s1 = rq[1].shifts;
        const int32_t v00 = ofa_rq_val(a00, m0, c0, s0, mode, lo, hi), v01 = ofa_rq_val(a01, m0, c0, s0, mode, lo, hi);
        const int32_t v10 = ofa_rq_val(a10, m1, c1, s1, mode, lo, hi), v11 = ofa_rq_val(a11, m1, c1, s1, mode, lo, hi);
        o0[0] = (int8_t)v00;
        o1[0] = (int8_t)v01;
        o0[step] = (int8_t)v10;
        o1[step] = (int8_t)v11;
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
        w = ofa_mm_block2x1(w, cols, groups, &a0, &a1);
        const int32_t v0 = ofa_rq_out(a0, rq, mode, lo, hi), v1 = ofa_rq_out(a1, rq + 1, mode, lo, hi);
        o0[0] = (int8_t)v0;
        o0[step] = (int8_t)v1;
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
