/* Squeeze-excite: mean over H, W -> 1x1 reduce (+ReLU) -> 1x1 expand -> hard-sigmoid gate
 * (whatever elementwise int8 steps the converter left after the expand conv) -> per-channel
 * multiply of x, in place. Each step is the TFLite reference op of that node. */
#include "ofa_kernels.h"

void ofa_se(const ofa_se_params *p, int8_t *x, int8_t *scratch) {
    const int32_t big = p->c > p->c_mid ? p->c : p->c_mid;
    uint32_t *cols = (uint32_t *)scratch;
    int8_t *m = scratch + 8 * ((big + 3) / 4);
    int8_t *r = m + p->c;
    int8_t *g = r + p->c_mid;
    ofa_mean(&p->mean, x, m);
    ofa_fc(&p->reduce, m, r, cols);
    ofa_fc(&p->expand, r, g, cols);
    for (int32_t i = 0; i < p->n_gate; ++i) {
        const ofa_gate_step *st = &p->gate[i];
        if (st->op == OFA_GATE_MUL)
            ofa_mul(&st->mul, g, &st->constant, g);
        else
            ofa_add(&st->add, g, &st->constant, g);
    }
    ofa_mul(&p->scale, x, g, x);
}
