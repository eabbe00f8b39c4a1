/* Board support interface of ofa-mcu firmware projects.
 *
 * The generated main.cc calls only these functions; each build system links one
 * implementation (baremetal/, arduino/, pico/, esp_idf/). Board facts (clock, cycle counter,
 * input source) come from board_config.h, generated from the board's catalog entry.
 */
#ifndef OFA_BSP_H_
#define OFA_BSP_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Console, clocks and the input channel; called once before anything else. */
void ofa_bsp_init(void);

/* printf-style output to the board's console (semihosting, USB serial or UART). */
void ofa_bsp_log(const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Free-running cycle counter (DWT CYCCNT on Cortex-M3/M4/M7, CCOUNT on Xtensa); returns 0
 * on cores without one (see ofa_bsp_has_cycle_counter). */
uint32_t ofa_bsp_cycles(void);
int ofa_bsp_has_cycle_counter(void);

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

/* Report the final status (QEMU and semihosting sessions end here; boards idle). */
void ofa_bsp_exit(int status);

#ifdef __cplusplus
}
#endif

#endif /* OFA_BSP_H_ */
