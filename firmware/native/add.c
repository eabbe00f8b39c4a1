/* int8 ADD: TFLite reference AddFunc. t1[x] and t2[y] are the inputs' rescaled values
 * (MultiplyByQuantizedMultiplierSmallerThanOneExp((x + offset) << 20), tables made offline with
 * the reference arithmetic, indexed by the int8 value); their sum is requantized to the output
 * (ofa_rq_out). Input 2 is elementwise (n_b == n), a scalar (n_b == 1) or one value per channel
 * (n_b channels). out may equal a or b. */
#include "ofa_kernels.h"

OFA_INLINE void add_body(const ofa_add_params *p, const int8_t *a, const int8_t *b, int8_t *out, const int mode) {
    const int32_t *t1 = p->t1, *t2 = p->t2;
    const ofa_rq *rq = p->rq;
    const int32_t n = p->n, nb = p->n_b, lo = p->act_min, hi = p->act_max;
    if (nb == n) {
        for (int32_t i = 0; i < n; ++i) out[i] = (int8_t)ofa_rq_out(t1[a[i]] + t2[b[i]], rq, mode, lo, hi);
    } else if (nb == 1) {
        const int32_t s2 = t2[b[0]];
        for (int32_t i = 0; i < n; ++i) out[i] = (int8_t)ofa_rq_out(t1[a[i]] + s2, rq, mode, lo, hi);
    } else {
        for (int32_t q = 0; q < n; q += nb, a += nb, out += nb)
            for (int32_t c = 0; c < nb; ++c) out[c] = (int8_t)ofa_rq_out(t1[a[c]] + t2[b[c]], rq, mode, lo, hi);
    }
}

#define OFA_ADD(m) add_body(p, a, b, out, m)
void ofa_add(const ofa_add_params *p, const int8_t *a, const int8_t *b, int8_t *out) { OFA_RQ_DISPATCH(p->mode, OFA_ADD) }
