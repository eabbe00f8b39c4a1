/* Bare-metal Cortex-M board support: console and input over semihosting (newlib rdimon),
 * timing with the DWT cycle counter. Used by the Make/CMake projects (STM32 boards, QEMU).
 *
 * Semihosting needs a debugger (OpenOCD with "arm semihosting enable") or QEMU with
 * -semihosting-config; without one, the first output halts the core at a BKPT.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "board_config.h"
#include "ofa_bsp.h"

/* ARMv7-M debug registers (ARMv7-M Architecture Reference Manual, C1.8 DWT). */
#define OFA_DEMCR (*(volatile uint32_t*)0xE000EDFCu)
#define OFA_DWT_CTRL (*(volatile uint32_t*)0xE0001000u)
#define OFA_DWT_CYCCNT (*(volatile uint32_t*)0xE0001004u)
#define OFA_DWT_LAR (*(volatile uint32_t*)0xE0001FB0u)
#define OFA_DEMCR_TRCENA (1u << 24)
#define OFA_DWT_CTRL_CYCCNTENA (1u)

void ofa_bsp_init(void) {
#if OFA_HAS_DWT_CYCLE_COUNTER
  OFA_DEMCR |= OFA_DEMCR_TRCENA;
#if OFA_CORE_IS_CORTEX_M7
  OFA_DWT_LAR = 0xC5ACCE55u; /* Cortex-M7 locks the DWT until this key is written. */
#endif
  OFA_DWT_CYCCNT = 0;
  OFA_DWT_CTRL |= OFA_DWT_CTRL_CYCCNTENA;
#endif
  setvbuf(stdout, NULL, _IONBF, 0);
}

void ofa_bsp_log(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vprintf(format, args);
  va_end(args);
}

uint32_t ofa_bsp_cycles(void) {
#if OFA_HAS_DWT_CYCLE_COUNTER
  return OFA_DWT_CYCCNT;
#else
  return 0;
#endif
}

int ofa_bsp_has_cycle_counter(void) { return OFA_HAS_DWT_CYCLE_COUNTER; }

uint64_t ofa_bsp_micros(void) { return 0; }

int ofa_bsp_read(uint8_t* dst, size_t n) {
#if OFA_INPUT_SOURCE_SERIAL
  /* Frames arrive on the semihosting stdin of the debugger (or QEMU). */
  size_t got = fread(dst, 1, n, stdin);
  if (got == 0 && feof(stdin)) return -1;
  return (int)got;
#else
  OFA_BSP_NO_INPUT(dst, n);
#endif
}

void ofa_bsp_exit(int status) { exit(status); }
