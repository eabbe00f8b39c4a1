/* int8 multiply with broadcast of input 2 (scalar or per channel): TFLite reference
 * MulElementwise / BroadcastMul6DSlow. out may equal a. */
#include "ofa_kernels.h"

void ofa_mul(const ofa_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out) {
    const int32_t nb = p->n_b;
    const int32_t pixels = p->n / nb;
    for (int32_t q = 0; q < pixels; ++q) {
        const int8_t *aa = a + (size_t)q * nb;
        int8_t *oo = out + (size_t)q * nb;
        for (int32_t i = 0; i < nb; ++i) {
            const int32_t x1 = p->in1_offset + aa[i];
            const int32_t x2 = p->in2_offset + b[i];
            const int32_t r = ofa_requant(x1 * x2, p->out_mult, p->out_shift) + p->out_offset;
            oo[i] = ofa_clamp8(r, p->act_min, p->act_max);
        }
    }
}
