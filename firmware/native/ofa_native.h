/* ofa-mcu native int8 kernels: C99, NHWC int8 activations, one op per file. This header holds
 * what they share: the DSP instructions they use (or their exact C equivalents) and the
 * requantization. Each kernel's parameter struct and prototype are generated from its Python
 * module (codegen/native/kernels/) into ofa_kernels.h.
 *
 * The arithmetic is TFLite's reference integer arithmetic (gemmlowp double rounding):
 * acc (int32) -> SaturatingRoundingDoublingHighMul -> RoundingDivideByPOT -> + output
 * offset -> clamp. Per-channel multipliers and shifts are computed offline exactly as
 * TFLite's QuantizeMultiplier does. Where a kernel's input offset is folded into its bias
 * (bias' = bias + input_offset * sum(weights)), the int32 sums are equal modulo 2^32, so the
 * results are bit-identical to the reference kernels.
 *
 * DSP instructions (Cortex-M4/M7/M33 with the DSP extension): SXTB16 splits four int8 into two
 * int16 pairs (bytes 0,2 and, rotated by 8, bytes 1,3); SMLAD multiplies two int16 pairs and
 * adds both products; SMMLAR is the rounded high word of a 32x32 product plus an addend. On
 * cores without them (M0+, the host build) the same functions are plain C with identical
 * results, so the host build runs the same algorithm bit for bit.
 */
#ifndef OFA_NATIVE_H
#define OFA_NATIVE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define OFA_DSP 1
#else
#define OFA_DSP 0
#endif

#define OFA_INLINE static inline __attribute__((always_inline))

/* A 32-bit load from any address (one LDR on Cortex-M3 and up, which load unaligned words). */
OFA_INLINE uint32_t ofa_ld32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if OFA_DSP
OFA_INLINE uint32_t ofa_sxtb16(uint32_t x) {
    uint32_t r;
    __asm__ volatile("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
OFA_INLINE uint32_t ofa_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__ volatile("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
OFA_INLINE int32_t ofa_smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__ volatile("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
OFA_INLINE int32_t ofa_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__ volatile("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
OFA_INLINE int32_t ofa_smlatb(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__ volatile("smlatb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
OFA_INLINE int32_t ofa_smlabt(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__ volatile("smlabt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
OFA_INLINE int32_t ofa_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__ volatile("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* acc + ((a * b + 2^31) >> 32) */
OFA_INLINE int32_t ofa_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__ volatile("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
OFA_INLINE int32_t ofa_ssat8(int32_t v) {
    int32_t r;
    __asm__ volatile("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return r;
}
/* acc + SXTB16(x) and acc + SXTB16(x ror 8), as two int16 lanes (wrapping) */
OFA_INLINE uint32_t ofa_sxtab16(uint32_t acc, uint32_t x) {
    uint32_t r;
    __asm__ volatile("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
OFA_INLINE uint32_t ofa_sxtab16_ror8(uint32_t acc, uint32_t x) {
    uint32_t r;
    __asm__ volatile("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
#else
OFA_INLINE uint32_t ofa_pack16(int32_t lo, int32_t hi) { return ((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16); }
OFA_INLINE int32_t ofa_lo16(uint32_t x) { return (int16_t)(x & 0xffffu); }
OFA_INLINE int32_t ofa_hi16(uint32_t x) { return (int16_t)(x >> 16); }
OFA_INLINE uint32_t ofa_sxtb16(uint32_t x) { return ofa_pack16((int8_t)(x & 0xff), (int8_t)((x >> 16) & 0xff)); }
OFA_INLINE uint32_t ofa_sxtb16_ror8(uint32_t x) {
    return ofa_pack16((int8_t)((x >> 8) & 0xff), (int8_t)(x >> 24));
}
/* The products are formed in 32 bits and summed modulo 2^32, as the instruction does. */
OFA_INLINE int32_t ofa_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_lo16(a) * ofa_lo16(b)) + (uint32_t)(ofa_hi16(a) * ofa_hi16(b)));
}
OFA_INLINE int32_t ofa_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_lo16(a) * ofa_lo16(b)));
}
OFA_INLINE int32_t ofa_smlatb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_hi16(a) * ofa_lo16(b)));
}
OFA_INLINE int32_t ofa_smlabt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_lo16(a) * ofa_hi16(b)));
}
OFA_INLINE int32_t ofa_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ofa_hi16(a) * ofa_hi16(b)));
}
OFA_INLINE int32_t ofa_smmlar(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(((int64_t)a * b + 0x80000000LL) >> 32));
}
OFA_INLINE int32_t ofa_ssat8(int32_t v) { return v < -128 ? -128 : (v > 127 ? 127 : v); }
OFA_INLINE uint32_t ofa_add16x2(uint32_t a, uint32_t b) {
    return ofa_pack16(ofa_lo16(a) + ofa_lo16(b), ofa_hi16(a) + ofa_hi16(b));
}
OFA_INLINE uint32_t ofa_sxtab16(uint32_t acc, uint32_t x) { return ofa_add16x2(acc, ofa_sxtb16(x)); }
OFA_INLINE uint32_t ofa_sxtab16_ror8(uint32_t acc, uint32_t x) { return ofa_add16x2(acc, ofa_sxtb16_ror8(x)); }
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

/* ---- per-channel requantization (convolutions, fully connected) ----------------------
 * One record per output channel: the accumulator's start value (bias, with the input offset
 * folded in), the Q31 multiplier, an addend and the shifts (bits 0-7: left, 8-15: right).
 * Two exact ways, chosen per layer offline (codegen.native.quant.requant_table):
 *   OFA_RQ_FAST (no left shift on any channel): shifts = right, addend = 2^(right-1) +
 *     zero_point * 2^right, and out = (SMMLAR(acc << 1, mult, addend) + (acc < 0 ? -1 : 0))
 *     >> right. SMMLAR of the doubled value is SaturatingRoundingDoublingHighMul, the addend
 *     and the sign term are RoundingDivideByPOT's rounding and the zero point (exact when
 *     right >= 1 and nothing overflows, which the code generator proves from the weights and
 *     bias per layer);
 *   otherwise the reference's own steps (addend = zero point, shifts = left | right << 8).
 * OFA_RQ_CLAMP: the fused activation clamps inside int8 (else the int8 range is the clamp). */
typedef struct {
    int32_t bias;
    int32_t mult;
    int32_t add;
    int32_t shifts;
} ofa_rq;

enum { OFA_RQ_FAST = 1, OFA_RQ_CLAMP = 2 };

OFA_INLINE int32_t ofa_rq_val(int32_t acc, int32_t mult, int32_t add, int32_t sh, const int mode, int32_t lo,
                              int32_t hi) {
    int32_t v;
    if (mode & OFA_RQ_FAST) {
        v = ofa_smmlar((int32_t)((uint32_t)acc << 1), mult, add);
        v = (v + (acc >> 31)) >> sh;
    } else {
        v = ofa_rdbpot(ofa_srdhm((int32_t)((uint32_t)acc << (sh & 0xff)), mult), sh >> 8) + add;
    }
    v = ofa_ssat8(v);
    if (mode & OFA_RQ_CLAMP) {
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
    }
    return v;
}

OFA_INLINE int32_t ofa_rq_out(int32_t acc, const ofa_rq *q, const int mode, int32_t lo, int32_t hi) {
    return ofa_rq_val(acc, q->mult, q->add, q->shifts, mode, lo, hi);
}

/* Dispatch a kernel body specialised for each requantization mode (the mode is a constant
 * inside, so the per-output branches disappear). */
#define OFA_RQ_DISPATCH(mode, call_with_mode) \
    switch (mode) {                            \
    case 0: call_with_mode(0); break;          \
    case 1: call_with_mode(1); break;          \
    case 2: call_with_mode(2); break;          \
    default: call_with_mode(3); break;         \
    }

/* Called between layers in profiling builds; the QEMU plugin counts instructions between
 * calls. Defined in ofa_marker.c (noinline, never optimised away). */
void ofa_layer_marker(int32_t layer);

#ifdef __cplusplus
}
#endif
#endif
