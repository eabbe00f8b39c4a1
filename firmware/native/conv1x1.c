/* 1x1 convolution (expand, project, feature mix): TFLite reference ConvPerChannel with the
 * input offset folded into the bias. */
#include <string.h>

#include "ofa_native.h"

void ofa_pw_pixel(const ofa_conv_params *p, const int8_t *x, int8_t *o) {
    const int32_t ic = p->in_c, oc = p->out_c;
    const int8_t *w = p->weight;
    for (int32_t c = 0; c < oc; ++c, w += ic) {
        int32_t acc = p->bias[c];
        for (int32_t i = 0; i < ic; ++i) acc += (int32_t)w[i] * (int32_t)x[i];
        acc = ofa_requant(acc, p->mult[c], p->shift[c]) + p->out_offset;
        o[c] = ofa_clamp8(acc, p->act_min, p->act_max);
    }
}

void ofa_conv1x1(const ofa_conv_params *p, const int8_t *in, int8_t *out, int8_t *pixbuf) {
    const int32_t s = p->stride, ic = p->in_c, oc = p->out_c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int8_t *x = in + ((size_t)(oy * s) * p->in_w + (size_t)(ox * s)) * ic;
            if (pixbuf) {
                memcpy(pixbuf, x, (size_t)ic);
                x = pixbuf;
            }
            ofa_pw_pixel(p, x, out + ((size_t)oy * p->out_w + ox) * oc);
        }
    }
}
