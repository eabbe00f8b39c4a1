/* Arduino-core board support (Arduino IDE/CLI sketches and PlatformIO's Arduino framework):
 * console and input frames on Serial, timing with the DWT cycle counter on Cortex-M4/M7 (used
 * only if it counts) and micros() elsewhere. The core sets the clock itself (its variant's clock
 * set-up); the BSP reads the real figure (SystemCoreClock, or clock_get_hz on the RP2040) and says
 * so when it differs from OFA_CPU_HZ.
 */
#include <Arduino.h>
#include <stdarg.h>
#include <stdio.h>

#include "board_config.h"
#include "ofa_bsp.h"

#if defined(ARDUINO_ARCH_MBED_RP2040) || defined(ARDUINO_ARCH_RP2040)
#include "hardware/clocks.h"
#define OFA_CORE_CLOCK_HZ() ((uint32_t)clock_get_hz(clk_sys))
#elif defined(ARDUINO_ARCH_STM32) || defined(ARDUINO_ARCH_MBED) || defined(ARDUINO_ARCH_NRF52840)
/* CMSIS: the clock the core's start-up code configured (stm32duino, Arduino Mbed OS cores). */
extern "C" uint32_t SystemCoreClock;
#define OFA_CORE_CLOCK_HZ() ((uint32_t)SystemCoreClock)
#else
#define OFA_CORE_CLOCK_HZ() ((uint32_t)OFA_CPU_HZ)
#endif

#if OFA_HAS_DWT_CYCLE_COUNTER
/* ARMv7-M debug registers (the bare-metal BSP's register table checks the same addresses). */
#define OFA_DEMCR (*(volatile uint32_t*)0xE000EDFCu)
#define OFA_DWT_CTRL (*(volatile uint32_t*)0xE0001000u)
#define OFA_DWT_CYCCNT (*(volatile uint32_t*)0xE0001004u)
#define OFA_DWT_LAR (*(volatile uint32_t*)0xE0001FB0u)
#endif

static int ofa_dwt_counts = 0;

extern "C" uint32_t ofa_bsp_cpu_hz(void) { return OFA_CORE_CLOCK_HZ(); }

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
  const uint32_t c0 = OFA_DWT_CYCCNT;
  delayMicroseconds(2);
  ofa_dwt_counts = OFA_DWT_CYCCNT != c0;
#endif
  if (ofa_bsp_cpu_hz() != OFA_CPU_HZ) {
    ofa_bsp_log("ofa: the core runs at %lu Hz (board_config.h expects %lu Hz); timings use %lu Hz\r\n",
                (unsigned long)ofa_bsp_cpu_hz(), (unsigned long)OFA_CPU_HZ, (unsigned long)ofa_bsp_cpu_hz());
  }
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
  return ofa_dwt_counts ? OFA_DWT_CYCCNT : 0u;
#else
  return 0;
#endif
}

extern "C" int ofa_bsp_has_cycle_counter(void) { return ofa_dwt_counts; }

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

/* loop() keeps running after this (Arduino cores have no exit): the status line is the end. */
extern "C" void ofa_bsp_exit(int status) {
  ofa_bsp_log("ofa: status %d\r\n", status);
  Serial.flush();
}
