/* Stack painting and the heap break, for the usage lines the firmware prints. */
#include "ofa_usage.h"

#include <stddef.h>

extern void* sbrk(ptrdiff_t increment);
extern uint8_t __stack_bottom__[], __stack_top__[], __HeapBase[], __HeapLimit[];

#define OFA_STACK_PAINT 0xA5u
/* Bytes below the painter's own frame left alone (its locals and the call's spill area). */
#define OFA_PAINT_GUARD 128u

void ofa_usage_paint_stack(void) {
  volatile uint8_t* const here = (volatile uint8_t*)__builtin_frame_address(0);
  for (volatile uint8_t* p = __stack_bottom__; p < here - OFA_PAINT_GUARD; ++p) *p = OFA_STACK_PAINT;
}

uint32_t ofa_usage_stack_bytes(void) {
  const volatile uint8_t* p = __stack_bottom__;
  while (p < __stack_top__ && *p == OFA_STACK_PAINT) ++p;
  return (uint32_t)(__stack_top__ - p);
}

uint32_t ofa_usage_stack_reserved(void) { return (uint32_t)(__stack_top__ - __stack_bottom__); }

uint32_t ofa_usage_heap_reserved(void) { return (uint32_t)(__HeapLimit - __HeapBase); }

uint32_t ofa_usage_heap_bytes(void) {
  const uint8_t* brk = (const uint8_t*)sbrk(0);
  return brk >= __HeapBase ? (uint32_t)(brk - __HeapBase) : 0u;
}
