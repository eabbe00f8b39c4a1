/* Elementwise int8 add (residual): TFLite reference AddFunc. Input 2 may be a scalar
 * (n_b == 1) for the squeeze-excite gate. out may equal a or b. */
#include "ofa_kernels.h"

void ofa_add(const ofa_add_params *p, const int8_t *a, const int8_t *b, int8_t *out) {
    const int32_t step_b = p->n_b == 1 ? 0 : 1;
    for (int32_t i = 0; i < p->n; ++i) {
        const int32_t x1 = (int32_t)((uint32_t)(p->in1_offset + a[i]) << p->left_shift);
        const int32_t x2 = (int32_t)((uint32_t)(p->in2_offset + b[i * step_b]) << p->left_shift);
        const int32_t s1 = ofa_requant(x1, p->in1_mult, p->in1_shift);
        const int32_t s2 = ofa_requant(x2, p->in2_mult, p->in2_shift);
        const int32_t r = ofa_requant(s1 + s2, p->out_mult, p->out_shift) + p->out_offset;
        out[i] = ofa_clamp8(r, p->act_min, p->act_max);
    }
}
