/* Raspberry Pi Pico SDK board support: console and input frames over USB CDC stdio, timing
 * with the 1 MHz system timer (the Cortex-M0+ has no DWT cycle counter).
 */
#include <stdarg.h>
#include <stdio.h>

#include "board_config.h"
#include "ofa_bsp.h"
#include "pico/stdlib.h"

void ofa_bsp_init(void) {
  stdio_init_all();
  /* Give the host 3 s to open the USB serial port so the self-test output is not lost. */
  for (int i = 0; i < 30 && !stdio_usb_connected(); ++i) sleep_ms(100);
}

void ofa_bsp_log(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vprintf(format, args);
  va_end(args);
}

uint32_t ofa_bsp_cycles(void) { return 0; }

int ofa_bsp_has_cycle_counter(void) { return 0; }

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

void ofa_bsp_exit(int status) { printf("ofa: status %d\n", status); }
