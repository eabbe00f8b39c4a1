/* int8 MUL: TFLite reference MulElementwise / BroadcastMul6DSlow, (x + offset1) * (y +
 * offset2) requantized with one multiplier (ofa_rq_out). Input 2 is elementwise (n_b == n), a
 * scalar (n_b == 1) or one value per channel (n_b channels). out may equal a. */
#include "ofa_kernels.h"

OFA_INLINE void mul_body(const ofa_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out, const int mode) {
    const ofa_rq *rq = p->rq;
    const int32_t n = p->n, nb = p->n_b, o1 = p->in1_offset, o2 = p->in2_offset, lo = p->act_min, hi = p->act_max;
    if (nb == n) {
        for (int32_t i = 0; i < n; ++i) out[i] = (int8_t)ofa_rq_out((a[i] + o1) * (b[i] + o2), rq, mode, lo, hi);
    } else if (nb == 1) {
        const int32_t y = b[0] + o2;
        for (int32_t i = 0; i < n; ++i) out[i] = (int8_t)ofa_rq_out((a[i] + o1) * y, rq, mode, lo, hi);
    } else {
        for (int32_t q = 0; q < n; q += nb, a += nb, out += nb)
            for (int32_t c = 0; c < nb; ++c) out[c] = (int8_t)ofa_rq_out((a[c] + o1) * (b[c] + o2), rq, mode, lo, hi);
    }
}

#define OFA_MUL(m) mul_body(p, a, b, out, m)
void ofa_mul(const ofa_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out) { OFA_RQ_DISPATCH(p->mode, OFA_MUL) }
