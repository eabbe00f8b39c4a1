/* Mean over H and W of an NHWC tensor: TFLite reference QuantizedMeanOrSum (int32 sum,
 * zero point removed, one requantization, int8 clamp). */
#include "ofa_kernels.h"

void ofa_mean(const ofa_mean_params *p, const int8_t *in, int8_t *out) {
    const int32_t C = p->c, hw = p->hw;
    for (int32_t c = 0; c < C; ++c) {
        int32_t sum = 0;
        const int8_t *x = in + c;
        for (int32_t q = 0; q < hw; ++q) sum += x[(size_t)q * C];
        const int32_t r = ofa_requant(sum - p->in_zp * hw, p->mult, p->shift) + p->out_zp;
        out[c] = ofa_clamp8(r, -128, 127);
    }
}
