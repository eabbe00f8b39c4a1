/* ofa-mcu native int8 kernels: plain C99, NHWC int8 activations, one op per file.
 *
 * The arithmetic is TFLite's reference integer arithmetic (gemmlowp double rounding):
 * acc (int32) -> SaturatingRoundingDoublingHighMul -> RoundingDivideByPOT -> + output
 * offset -> clamp. Per-channel multipliers and shifts are computed offline exactly as
 * TFLite's QuantizeMultiplier does. Where a kernel's input offset is folded into its bias
 * (bias' = bias + input_offset * sum(weights)), the int32 sums are equal modulo 2^32, so the
 * results are bit-identical to the reference kernels.
 */
#ifndef OFA_NATIVE_H
#define OFA_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* gemmlowp::SaturatingRoundingDoublingHighMul */
static inline int32_t ofa_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp::RoundingDivideByPOT (round half away from zero) */
static inline int32_t ofa_rdbpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* tflite::MultiplyByQuantizedMultiplier (double rounding). The left shift wraps like the
 * reference's int32 multiply does on two's-complement targets. */
static inline int32_t ofa_requant(int32_t x, int32_t mult, int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return ofa_rdbpot(ofa_srdhm((int32_t)((uint32_t)x << left), mult), right);
}

static inline int8_t ofa_clamp8(int32_t v, int32_t lo, int32_t hi) {
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* ---- parameters ---------------------------------------------------------------------- */

/* Full conv (k x k, stride, zero padding inside the kernel) and 1x1 conv. For conv1x1 the
 * bias already holds input_offset * sum(weights). weight: OHWI. */
typedef struct {
    int32_t in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k, stride, pad_top, pad_left;
    int32_t in_offset, out_offset, act_min, act_max;
    const int8_t *weight;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} ofa_conv_params;

/* Depthwise k x k (multiplier 1). bias holds input_offset * sum(weights); padded taps read
 * the input zero point (pad_value), so they contribute exactly 0 like skipped taps. weight:
 * (k, k, C). plane_h/plane_w: the padded window the outputs read, (out-1)*stride + k. */
typedef struct {
    int32_t in_h, in_w, c, out_h, out_w;
    int32_t k, stride, pad_top, pad_left, plane_h, plane_w;
    int32_t pad_value, out_offset, act_min, act_max;
    const int8_t *weight;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} ofa_dw_params;

/* Elementwise add (TFLite int8 ADD, left shift 20). */
typedef struct {
    int32_t n, n_b; /* n_b: 1 (input 2 is a scalar) or n */
    int32_t in1_offset, in2_offset, out_offset;
    int32_t in1_mult, in2_mult, out_mult;
    int32_t in1_shift, in2_shift, out_shift, left_shift;
    int32_t act_min, act_max;
} ofa_add_params;

/* Multiply with broadcast of input 2: n_b == n (elementwise), n_b == 1 (scalar) or
 * n_b == channels (one value per channel of an NHWC tensor with n / channels pixels). */
typedef struct {
    int32_t n, n_b;
    int32_t in1_offset, in2_offset, out_offset;
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} ofa_mul_params;

/* Mean over H and W (TFLite's QuantizedMeanOrSum, multiplier already divided by H*W). */
typedef struct {
    int32_t hw, c;
    int32_t in_zp, out_zp, mult, shift;
} ofa_mean_params;

/* Average pool (TFLite int8 reference: rounded integer average, no rescale). */
typedef struct {
    int32_t in_h, in_w, c, out_h, out_w;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_top, pad_left;
    int32_t act_min, act_max;
} ofa_avgpool_params;

/* Fully connected / 1x1 conv on one pixel: per-output multipliers (per-tensor models repeat
 * the one value); bias holds input_offset * sum(weights). weight: (out, in). */
typedef struct {
    int32_t in_n, out_n;
    int32_t out_offset, act_min, act_max;
    const int8_t *weight;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} ofa_fc_params;

/* Squeeze-excite: mean -> fc (reduce) -> fc (expand) -> gate steps on the vector
 * (multiply or add a constant scalar) -> channel-broadcast multiply of x, in place. */
#define OFA_SE_MAX_GATE 4
enum { OFA_GATE_MUL = 1, OFA_GATE_ADD = 2 };
typedef struct {
    int32_t op;
    int8_t constant;
    ofa_mul_params mul;
    ofa_add_params add;
} ofa_gate_step;

typedef struct {
    int32_t hw, c, c_mid;
    ofa_mean_params mean;
    ofa_fc_params reduce;
    ofa_fc_params expand;
    int32_t n_gate;
    ofa_gate_step gate[OFA_SE_MAX_GATE];
    ofa_mul_params scale;
} ofa_se_params;

/* ---- kernels ------------------------------------------------------------------------- */

/* k x k conv, any stride, padding inside. Safe when out overlaps in as long as out starts
 * at least the planner's streaming distance before in (output rows are written in order). */
void ofa_conv2d(const ofa_conv_params *p, const int8_t *in, int8_t *out);

/* 1x1 conv (any stride). pixbuf (in_c bytes) is used when out overlaps in: each input pixel
 * is copied before the outputs of that pixel are written. NULL when they do not overlap. */
void ofa_conv1x1(const ofa_conv_params *p, const int8_t *in, int8_t *out, int8_t *pixbuf);

/* Depthwise conv, channel by channel through a padded plane (plane_h * plane_w bytes), so
 * out may equal in (in-place). */
void ofa_dwconv(const ofa_dw_params *p, const int8_t *in, int8_t *out, int8_t *plane);

/* Fused MBConv front: 1x1 expand + depthwise, streaming rows through a ring of k + 1 padded
 * rows ((k + 1) * plane_w * mid bytes); the expanded tensor never exists in full. */
void ofa_mbconv_edw(const ofa_conv_params *pw, const ofa_dw_params *dw, const int8_t *in,
                    int8_t *out, int8_t *ring);

void ofa_add(const ofa_add_params *p, const int8_t *a, const int8_t *b, int8_t *out);
void ofa_mul(const ofa_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out);
void ofa_mean_hw(const ofa_mean_params *p, const int8_t *in, int8_t *out);
void ofa_avgpool(const ofa_avgpool_params *p, const int8_t *in, int8_t *out);
void ofa_fc(const ofa_fc_params *p, const int8_t *in, int8_t *out);
/* scratch: 3 * c + c_mid bytes */
void ofa_se(const ofa_se_params *p, int8_t *x, int8_t *scratch);

/* Called between layers in profiling builds; the QEMU plugin counts instructions between
 * calls. Defined in ofa_marker.c (noinline, never optimised away). */
void ofa_layer_marker(int32_t layer);

#ifdef __cplusplus
}
#endif
#endif
