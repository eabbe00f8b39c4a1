/* Fully connected, batch 1 (and the squeeze-excite's 1x1 convs on one pixel): TFLite
 * reference FullyConnected / ConvPerChannel through the matrix core. */
#include "ofa_kernels.h"

void ofa_fc(const ofa_fc_params *p, const int8_t *in, int8_t *out, uint32_t *cols) {
    ofa_mm_columns(in, p->in_n, cols, 2);
    ofa_mm1(&p->mm, cols, out);
}
