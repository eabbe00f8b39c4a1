/* Board support interface of ofa-mcu firmware projects.
 *
 * The generated main.cc (and the native backend's main.c) call only these functions; each
 * build system links one implementation (baremetal/, arduino/, pico/, esp_idf/). Board facts
 * (clock plan, console, cycle counter, input source) come from board_config.h, generated from
 * the board's catalog entry.
 */
#ifndef OFA_BSP_H_
#define OFA_BSP_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Clocks (the board's clock plan), caches, cycle counter, console and the input channel;
 * called once before anything else. Never hangs: a clock or console that does not come up is
 * reported on the console (or skipped) and the firmware goes on at the reset clock. */
void ofa_bsp_init(void);

/* printf-style output to the board's console (UART, USB serial or semihosting). Integer
 * conversions only on newlib-nano builds (no %f). */
void ofa_bsp_log(const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Free-running cycle counter of the core clock (DWT CYCCNT on Cortex-M4/M7, SysTick extended
 * by its wrap interrupt on the Pico's Cortex-M0+, CCOUNT on Xtensa); returns 0 where there is
 * none that counts (QEMU does not model CYCCNT: see ofa_bsp_has_cycle_counter). */
uint32_t ofa_bsp_cycles(void);
int ofa_bsp_has_cycle_counter(void);

/* The core clock the firmware really runs at, in Hz: the clock plan's (OFA_CPU_HZ) once it is
 * set up, the reset clock if it could not be, or what the framework reports (Arduino cores,
 * Pico SDK, ESP-IDF). */
uint32_t ofa_bsp_cpu_hz(void);

/* ``cycles`` of the core clock as microseconds at ofa_bsp_cpu_hz(), rounded. */
static inline uint32_t ofa_bsp_cycles_to_us(uint32_t cycles) {
  const uint32_t hz = ofa_bsp_cpu_hz();
  return hz ? (uint32_t)(((uint64_t)cycles * 1000000u + hz / 2u) / hz) : 0u;
}

/* Microseconds since boot from a timer, or 0 where the board has none. */
uint64_t ofa_bsp_micros(void);

/* Read up to n input bytes. Returns the number read (0 when nothing has arrived yet), or -1
 * when the board has no input channel (then the app stops after its self-test). */
int ofa_bsp_read(uint8_t* dst, size_t n);

/* The body of ofa_bsp_read on a board without an input driver yet. For a camera board, FILL IN:
 * capture one frame (kInputHeight x kInputWidth x kNumChannels raw pixels) from the camera driver
 * into dst and return the byte count; until then (and on the QEMU boards) there is no input. */
#define OFA_BSP_NO_INPUT(dst, n) \
  do {                           \
    (void)(dst);                 \
    (void)(n);                   \
    return -1;                   \
  } while (0)

/* Print "ofa: status <status>" and end: QEMU and debugger (semihosting) sessions exit with
 * ``status``; a board on its own idles (the bare-metal BSP never returns from here). */
void ofa_bsp_exit(int status);

#ifdef __cplusplus
}
#endif

#endif /* OFA_BSP_H_ */
