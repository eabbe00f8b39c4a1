/* Fully connected (and 1x1 conv on a single pixel): TFLite reference FullyConnected /
 * ConvPerChannel with the input offset folded into the bias. */
#include "ofa_kernels.h"

void ofa_fc(const ofa_fc_params *p, const int8_t *in, int8_t *out) {
    const int8_t *w = p->weight;
    for (int32_t o = 0; o < p->out_n; ++o, w += p->in_n) {
        int32_t acc = p->bias[o];
        for (int32_t i = 0; i < p->in_n; ++i) acc += (int32_t)w[i] * (int32_t)in[i];
        acc = ofa_requant(acc, p->mult[o], p->shift[o]) + p->out_offset;
        out[o] = ofa_clamp8(acc, p->act_min, p->act_max);
    }
}
