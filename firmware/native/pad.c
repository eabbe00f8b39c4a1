/* Constant padding of an (up to) 4-D int8 tensor: TFLite reference Pad (PAD pads with the
 * zero point, PADV2 with its constant). Rows of the innermost dimension are copied whole. */
#include <string.h>

#include "ofa_kernels.h"

void ofa_pad(const ofa_pad_params *p, const int8_t *in, int8_t *out) {
    const int8_t v = (int8_t)p->value;
    const size_t row = (size_t)p->out_c, in_row = (size_t)p->in_c;
    for (int32_t n = 0; n < p->out_n; ++n) {
        const int32_t in_n = n - p->pad_n;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const int32_t in_y = y - p->pad_h;
            for (int32_t x = 0; x < p->out_w; ++x, out += row) {
                const int32_t in_x = x - p->pad_w;
                if (in_n < 0 || in_n >= p->in_n || in_y < 0 || in_y >= p->in_h || in_x < 0 || in_x >= p->in_w) {
                    memset(out, v, row);
                    continue;
                }
                const int8_t *src = in + (((size_t)in_n * p->in_h + in_y) * p->in_w + in_x) * in_row;
                memset(out, v, (size_t)p->pad_c);
                memcpy(out + p->pad_c, src, in_row);
                memset(out + p->pad_c + in_row, v, row - in_row - (size_t)p->pad_c);
            }
        }
    }
}
