/* ofa-mcu native int8 kernels: C99, NHWC int8 activations, one op per file. This header holds
 * the arithmetic they share; each kernel's parameter struct and prototype are generated from
 * its Python module (codegen/native/kernels/) into ofa_kernels.h.
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

/* Called between layers in profiling builds; the QEMU plugin counts instructions between
 * calls. Defined in ofa_marker.c (noinline, never optimised away). */
void ofa_layer_marker(int32_t layer);

#ifdef __cplusplus
}
#endif
#endif
