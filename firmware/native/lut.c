/* Elementwise int8 op as a table: out[i] = table[in[i]] (table points at entry 0 of a 256-byte
 * array indexed from -128). The tables are TFLite-Micro's own outputs of the op for every int8
 * input (LOGISTIC, HARD_SWISH, TANH, RELU*, LEAKY_RELU, ELU, int8 QUANTIZE). out may equal in. */
#include "ofa_kernels.h"

void ofa_lut(const ofa_lut_params *p, const int8_t *in, int8_t *out) {
    const int8_t *t = p->table;
    int32_t i = 0;
    for (; i + 4 <= p->n; i += 4) {
        const int8_t a = in[i], b = in[i + 1], c = in[i + 2], d = in[i + 3];
        out[i] = t[a];
        out[i + 1] = t[b];
        out[i + 2] = t[c];
        out[i + 3] = t[d];
    }
    for (; i < p->n; ++i) out[i] = t[in[i]];
}
