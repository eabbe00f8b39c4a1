/* Raspberry Pi Pico SDK board support: console and input frames on the SDK's stdio (USB CDC, or
 * UART0 on GP0/GP1 when generated with --console uart), core-clock cycles from SysTick (the
 * Cortex-M0+ has no DWT: 24 bits, extended by its wrap interrupt), microseconds from the 1 MHz
 * system timer. The SDK programs the clock plan at boot (SYS_CLK_HZ and PLL_SYS_* from
 * CMakeLists.txt); the BSP checks it.
 */
#include <stdarg.h>
#include <stdio.h>

#include "board_config.h"
#include "hardware/clocks.h"
#include "hardware/structs/scb.h"
#include "hardware/structs/systick.h"
#include "ofa_bsp.h"
#include "pico/stdlib.h"

#define OFA_SYSTICK_MAX 0x00FFFFFFu

static volatile uint32_t ofa_systick_wraps = 0;

/* The SDK's vector table entry for SysTick (unused by the SDK itself). */
void isr_systick(void) { ++ofa_systick_wraps; }

uint32_t ofa_bsp_cpu_hz(void) { return (uint32_t)clock_get_hz(clk_sys); }

void ofa_bsp_init(void) {
  stdio_init_all();
#if OFA_CONSOLE_USB_CDC
  /* Give the host 3 s to open the USB serial port so the self-test output is not lost. */
  for (int i = 0; i < 30 && !stdio_usb_connected(); ++i) sleep_ms(100);
#endif
  systick_hw->csr = 0u;
  systick_hw->rvr = OFA_SYSTICK_MAX;
  systick_hw->cvr = 0u;
  systick_hw->csr = 0x7u; /* ENABLE | TICKINT | CLKSOURCE (the core clock) */
  if (ofa_bsp_cpu_hz() != OFA_CPU_HZ) {
    printf("ofa: system clock %lu Hz, expected %lu Hz (SYS_CLK_HZ in CMakeLists.txt); timings use %lu Hz\n",
           (unsigned long)ofa_bsp_cpu_hz(), (unsigned long)OFA_CPU_HZ, (unsigned long)ofa_bsp_cpu_hz());
  }
}

void ofa_bsp_log(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vprintf(format, args);
  va_end(args);
}

uint32_t ofa_bsp_cycles(void) {
  uint32_t wraps, now;
  /* Again while a wrap is pending: its interrupt has not counted it yet. */
  do {
    wraps = ofa_systick_wraps;
    now = systick_hw->cvr;
  } while (wraps != ofa_systick_wraps || (scb_hw->icsr & M0PLUS_ICSR_PENDSTSET_BITS));
  return (wraps << 24) + (OFA_SYSTICK_MAX - now);
}

int ofa_bsp_has_cycle_counter(void) { return 1; }

uint64_t ofa_bsp_micros(void) { return time_us_64(); }

int ofa_bsp_read(uint8_t* dst, size_t n) {
#if OFA_INPUT_SOURCE_SERIAL
  size_t got = 0;
  while (got < n) {
    int c = getchar_timeout_us(0);
    if (c == PICO_ERROR_TIMEOUT) break;
    dst[got++] = (uint8_t)c;
  }
  return (int)got;
#else
  OFA_BSP_NO_INPUT(dst, n);
#endif
}

void ofa_bsp_exit(int status) {
  printf("ofa: status %d\n", status);
  stdio_flush();
  for (;;) tight_loop_contents();
}
