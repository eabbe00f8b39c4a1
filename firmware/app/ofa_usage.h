/* Stack and heap high-water marks of a bare-metal ofa-mcu firmware (GNU ld symbols of
 * templates/common/linker.ld.j2), so the reserved stack and heap are sized from measurement. */
#ifndef OFA_USAGE_H_
#define OFA_USAGE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fill the unused part of the stack with a pattern; call first thing in main. */
void ofa_usage_paint_stack(void);

/* Bytes of stack ever used since ofa_usage_paint_stack (the deepest unpainted byte). */
uint32_t ofa_usage_stack_bytes(void);

/* Bytes of the reserved stack and heap (from the linker script). */
uint32_t ofa_usage_stack_reserved(void);
uint32_t ofa_usage_heap_reserved(void);

/* Bytes of heap handed out by sbrk so far (newlib's malloc never gives them back). */
uint32_t ofa_usage_heap_bytes(void);

#ifdef __cplusplus
}
#endif

#endif /* OFA_USAGE_H_ */
