/* Arduino-core board support (Arduino IDE/CLI sketches and PlatformIO's Arduino framework):
 * console and input frames on Serial, timing with micros() and, on Cortex-M3/M4/M7, the DWT
 * cycle counter.
 */
#include <Arduino.h>
#include <stdarg.h>
#include <stdio.h>

#include "board_config.h"
#include "ofa_bsp.h"

#if OFA_HAS_DWT_CYCLE_COUNTER
#define OFA_DEMCR (*(volatile uint32_t*)0xE000EDFCu)
#define OFA_DWT_CTRL (*(volatile uint32_t*)0xE0001000u)
#define OFA_DWT_CYCCNT (*(volatile uint32_t*)0xE0001004u)
#define OFA_DWT_LAR (*(volatile uint32_t*)0xE0001FB0u)
#endif

extern "C" void ofa_bsp_init(void) {
  Serial.begin(OFA_SERIAL_BAUD);
  const unsigned long start = millis();
  while (!Serial && millis() - start < 3000) {
    /* Native-USB boards: wait up to 3 s for the host to open the port. */
  }
#if OFA_HAS_DWT_CYCLE_COUNTER
  OFA_DEMCR |= (1u << 24);
#if OFA_CORE_IS_CORTEX_M7
  OFA_DWT_LAR = 0xC5ACCE55u;
#endif
  OFA_DWT_CYCCNT = 0;
  OFA_DWT_CTRL |= 1u;
#endif
}

extern "C" void ofa_bsp_log(const char* format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  Serial.print(line);
}

extern "C" uint32_t ofa_bsp_cycles(void) {
#if OFA_HAS_DWT_CYCLE_COUNTER
  return OFA_DWT_CYCCNT;
#else
  return 0;
#endif
}

extern "C" int ofa_bsp_has_cycle_counter(void) { return OFA_HAS_DWT_CYCLE_COUNTER; }

extern "C" uint64_t ofa_bsp_micros(void) { return (uint64_t)micros(); }

extern "C" int ofa_bsp_read(uint8_t* dst, size_t n) {
#if OFA_INPUT_SOURCE_SERIAL
  size_t avail = (size_t)Serial.available();
  if (avail == 0) return 0;
  if (avail > n) avail = n;
  return (int)Serial.readBytes(reinterpret_cast<char*>(dst), avail);
#else
  OFA_BSP_NO_INPUT(dst, n);
#endif
}

extern "C" void ofa_bsp_exit(int status) { ofa_bsp_log("ofa: status %d\r\n", status); }
