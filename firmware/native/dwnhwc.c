/* Depthwise convolution (multiplier 1) straight on NHWC, four channels at a time: TFLite
 * reference DepthwiseConvPerChannel. For each output pixel only the taps inside the input are
 * visited (the reference skips the padding too), so small maps with large filters cost what
 * their real taps cost; the start value is the plain bias. Per tap and four channels: one
 * 32-bit load of the inputs, SXTAB16 into (x_c + offset, x_c+2 + offset) and (x_c+1 + offset,
 * x_c+3 + offset), and four 16x16 multiply-accumulates against weights stored
 * offline as the same int16 pairs (codegen/native/kernels/dwnhwc.py). Not in place: output row r
 * is written after the input rows it needs, so the planner may stream it over the input. The
 * last channel group may read up to three bytes past a pixel (the arena keeps spare bytes). */
#include "ofa_kernels.h"

OFA_INLINE void dwn_body(const ofa_dwnhwc_params *p, const int8_t *in, int8_t *out, const int mode) {
    const int32_t C = p->c, G = (C + 3) >> 2, k = p->k, s = p->stride, in_h = p->in_h, in_w = p->in_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const uint32_t off2 = (uint32_t)p->in_offset2;
    const size_t wtap = 2 * (size_t)G; /* words per tap */
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * s - p->pad_top;
        const int32_t fy0 = iy0 < 0 ? -iy0 : 0, fy1 = k < in_h - iy0 ? k : in_h - iy0;
        for (int32_t ox = 0; ox < p->out_w; ++ox, out += C) {
            const int32_t ix0 = ox * s - p->pad_left;
            const int32_t fx0 = ix0 < 0 ? -ix0 : 0, fx1 = k < in_w - ix0 ? k : in_w - ix0;
            const int32_t nx = fx1 - fx0;
            const int8_t *xbase = in + ((size_t)(iy0 + fy0) * in_w + (ix0 + fx0)) * C;
            const uint32_t *wbase = p->weight + ((size_t)fy0 * k + fx0) * wtap;
            const ofa_rq *rq = p->rq;
            for (int32_t g = 0; g < G; ++g, rq += 4, xbase += 4, wbase += 2) {
                int32_t a0 = rq[0].bias, a1 = rq[1].bias, a2 = rq[2].bias, a3 = rq[3].bias;
                const int8_t *xrow = xbase;
                const uint32_t *wrow = wbase;
                for (int32_t fy = fy0; fy < fy1; ++fy, xrow += (size_t)in_w * C, wrow += (size_t)k * wtap) {
                    const int8_t *x = xrow;
                    const uint32_t *w = wrow;
                    for (int32_t j = nx; j > 0; --j, x += C, w += wtap) {
                        const uint32_t v = ofa_ld32(x);
                        const uint32_t e = ofa_sxtab16(off2, v), o = ofa_sxtab16_ror8(off2, v);
                        const uint32_t we = w[0], wo = w[1];
                        a0 = ofa_smlabb(e, we, a0);
                        a2 = ofa_smlatt(e, we, a2);
                        a1 = ofa_smlabb(o, wo, a1);
                        a3 = ofa_smlatt(o, wo, a3);
                    }
                }
                int8_t *o = out + 4 * g;
                const int32_t left = C - 4 * g;
                o[0] = (int8_t)ofa_rq_out(a0, rq, mode, lo, hi);
                if (left > 1) o[1] = (int8_t)ofa_rq_out(a1, rq + 1, mode, lo, hi);
                if (left > 2) o[2] = (int8_t)ofa_rq_out(a2, rq + 2, mode, lo, hi);
                if (left > 3) o[3] = (int8_t)ofa_rq_out(a3, rq + 3, mode, lo, hi);
            }
        }
    }
}

#define OFA_DWN(m) dwn_body(p, in, out, m)
void ofa_dwnhwc(const ofa_dwnhwc_params *p, const int8_t *in, int8_t *out) { OFA_RQ_DISPATCH(p->mode, OFA_DWN) }
