/* ESP-IDF board support: console and input frames on the UART0 console (the DevKitC's USB
 * bridge), timing with the Xtensa CCOUNT cycle register and esp_timer. sdkconfig.defaults sets
 * the CPU clock; the check below stops a build whose sdkconfig says otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "board_config.h"
#include "esp_cpu.h"
#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "ofa_bsp.h"
#include "sdkconfig.h"

#if CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ * 1000000 != OFA_CPU_HZ
#error "sdkconfig's CPU clock (CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ) differs from OFA_CPU_HZ: keep sdkconfig.defaults or regenerate"
#endif

void ofa_bsp_init(void) { setvbuf(stdin, NULL, _IONBF, 0); }

void ofa_bsp_log(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vprintf(format, args);
  va_end(args);
}

uint32_t ofa_bsp_cycles(void) { return (uint32_t)esp_cpu_get_cycle_count(); }

int ofa_bsp_has_cycle_counter(void) { return 1; }

uint32_t ofa_bsp_cpu_hz(void) { return esp_rom_get_cpu_ticks_per_us() * 1000000u; }

uint64_t ofa_bsp_micros(void) { return (uint64_t)esp_timer_get_time(); }

int ofa_bsp_read(uint8_t* dst, size_t n) {
#if OFA_INPUT_SOURCE_SERIAL
  /* The IDF console's stdin is non-blocking: read() returns -1 (EAGAIN) when empty. */
  ssize_t got = read(STDIN_FILENO, dst, n);
  if (got > 0) return (int)got;
  vTaskDelay(1); /* let the idle task run (task watchdog) while waiting for input */
  return 0;
#else
  OFA_BSP_NO_INPUT(dst, n);
#endif
}

void ofa_bsp_exit(int status) {
  printf("ofa: status %d\n", status);
  fflush(stdout);
}
