/* The depthwise row engine the depthwise kernels share: one output row of one channel from K
 * int8 input rows of that channel (padded, so every window is inside), with the channel's
 * weights packed offline (codegen/native/kernels/dwrow.py): per filter row, per group of four
 * taps j..j+3, the words (w_j, w_j+2) and (w_j+1, w_j+3) as int16 pairs (zero past the last
 * tap). One 32-bit load of four inputs, SXTB16 into (x_j, x_j+2) and (x_j+1, x_j+3), and two
 * SMLADs make four taps. At stride 1 two neighbouring outputs share their loads (their
 * windows overlap by K - 1 taps): 3x3 costs 7 instructions per filter row for 6 MACs.
 * Sums are TFLite's int32 accumulators exactly (DepthwiseConvPerChannel; the input offset is
 * folded into the start value, padding reads the input zero point). A row may read up to
 * three bytes past its last window (the planner gives every such buffer four spare bytes).
 * K and S are compile-time constants in each instantiation. */
#ifndef OFA_DWROW_H
#define OFA_DWROW_H

#include "ofa_native.h"

#define OFA_DW_MAX_K 7 /* the largest K with compiled variants (codegen/native/kernels/dwrow.py) */

/* One output at window q (generic K: ceil(K / 4) loads per filter row). */
OFA_INLINE int32_t ofa_dw_one(const int8_t *const *r, int32_t off, const uint32_t *w, int32_t acc, const int K) {
    const int G = (K + 3) / 4;
#pragma GCC unroll 8
    for (int fy = 0; fy < K; ++fy) {
        const int8_t *q = r[fy] + off;
#pragma GCC unroll 2
        for (int g = 0; g < G; ++g, w += 2) {
            const uint32_t v = ofa_ld32(q + 4 * g);
            acc = ofa_smlad(ofa_sxtb16(v), w[0], acc);
            if (K - 4 * g >= 2) acc = ofa_smlad(ofa_sxtb16_ror8(v), w[1], acc);
        }
    }
    return acc;
}

/* Two outputs at windows off and off + 1 (stride 1), for K = 3, 5, 7: per filter row the
 * inputs x0.. are loaded once; e = (x0, x2), o = (x1, x3), e2 = (x4, x6), o2 = (x5, x7). */
OFA_INLINE void ofa_dw_pair_s1(const int8_t *const *r, int32_t off, const uint32_t *w, int32_t *a0, int32_t *a1,
                               const int K) {
    int32_t s0 = *a0, s1 = *a1;
#pragma GCC unroll 8
    for (int fy = 0; fy < K; ++fy) {
        const int8_t *q = r[fy] + off;
        const uint32_t v = ofa_ld32(q);
        const uint32_t e = ofa_sxtb16(v), o = ofa_sxtb16_ror8(v);
        if (K == 3) {
            const uint32_t w02 = w[0], w1 = w[1];
            s0 = ofa_smlad(e, w02, s0);
            s0 = ofa_smlabb(o, w1, s0);
            s1 = ofa_smlad(o, w02, s1);
            s1 = ofa_smlatb(e, w1, s1);
            w += 2;
        } else {
            const uint32_t v2 = ofa_ld32(q + 4);
            const uint32_t e2 = ofa_sxtb16(v2);
            const uint32_t w02 = w[0], w13 = w[1], w46 = w[2], w5 = w[3];
            s0 = ofa_smlad(e, w02, s0);
            s0 = ofa_smlad(o, w13, s0);
            s1 = ofa_smlad(o, w02, s1);
            s1 = ofa_smlatb(e, w13, s1);
            s1 = ofa_smlabt(e2, w13, s1);
            if (K == 5) {
                const uint32_t o2 = ofa_sxtb16_ror8(v2);
                s0 = ofa_smlabb(e2, w46, s0);
                s1 = ofa_smlabb(o2, w46, s1);
            } else { /* K == 7 */
                const uint32_t o2 = ofa_sxtb16_ror8(v2);
                s0 = ofa_smlad(e2, w46, s0);
                s0 = ofa_smlabb(o2, w5, s0);
                s1 = ofa_smlatb(e2, w5, s1);
                s1 = ofa_smlad(o2, w46, s1);
            }
            w += 4;
        }
    }
    *a0 = s0;
    *a1 = s1;
}

/* One output row (ow outputs, out_step bytes apart) of one channel. */
OFA_INLINE void ofa_dw_row(const int8_t *const *rows, const uint32_t *w, int32_t ow, int8_t *out, int32_t out_step,
                           const ofa_rq *rq, const int K, const int S, const int mode, int32_t lo, int32_t hi) {
    const int8_t *r[OFA_DW_MAX_K];
#pragma GCC unroll 8
    for (int fy = 0; fy < K; ++fy) r[fy] = rows[fy];
    const int32_t bias = rq->bias;
    int32_t ox = 0;
    if (S == 1 && (K == 3 || K == 5 || K == 7)) {
        for (; ox + 1 < ow; ox += 2) {
            int32_t a0 = bias, a1 = bias;
            ofa_dw_pair_s1(r, ox, w, &a0, &a1, K);
            out[0] = (int8_t)ofa_rq_out(a0, rq, mode, lo, hi);
            out[out_step] = (int8_t)ofa_rq_out(a1, rq, mode, lo, hi);
            out += 2 * out_step;
        }
    }
    for (; ox < ow; ++ox, out += out_step)
        *out = (int8_t)ofa_rq_out(ofa_dw_one(r, ox * S, w, bias, K), rq, mode, lo, hi);
}

#endif
