/* 1x1 convolution (expand, project, feature mix), any stride: TFLite reference
 * ConvPerChannel. Two pixels at a time are sign-extended into the column buffer (so the
 * output may overwrite input pixels already read: the planner's streaming rule), then the
 * matrix core computes every output channel of both. */
#include "ofa_kernels.h"

void ofa_conv1x1(const ofa_conv1x1_params *p, const int8_t *in, int8_t *out, uint32_t *cols) {
    const int32_t ic = p->in_c, oc = p->mm.out_c, s = p->stride, ow = p->out_w;
    const int32_t n = p->out_h * ow;
    const size_t row_step = (size_t)(s * p->in_w - ow * s) * (size_t)ic; /* skipped input at a row end */
    const int8_t *x = in;
    int32_t col = 0;
    for (int32_t q = 0; q < n; q += 2) {
        const int8_t *x0 = x;
        x += (size_t)s * ic;
        if (++col == ow) {
            col = 0;
            x += row_step;
        }
        if (q + 1 == n) {
            ofa_mm_columns(x0, ic, cols, 2);
            ofa_mm1(&p->mm, cols, out + (size_t)q * oc);
            break;
        }
        const int8_t *x1 = x;
        x += (size_t)s * ic;
        if (++col == ow) {
            col = 0;
            x += row_step;
        }
        ofa_mm_columns(x0, ic, cols, 4);
        ofa_mm_columns(x1, ic, cols + 2, 4);
        ofa_mm2(&p->mm, cols, out + (size_t)q * oc, out + (size_t)(q + 1) * oc);
    }
}
