// TFLite-Micro's timer for ofa-mcu firmware, through the board support package.
//
// TFLM's own cortex_m_generic/micro_time.cc reads the DWT cycle counter through a CMSIS device
// header that a user's TFLM tree may not carry (create_tflm_tree.py copies none), and it
// reports 0 ticks per second anyway. This file replaces it on every tree: the same counter the
// app's timings use (ofa_bsp_cycles), at the clock the firmware sets (OFA_CPU_HZ).
#include "tensorflow/lite/micro/micro_time.h"

#include "ofa_bsp.h"

namespace tflite {

uint32_t ticks_per_second() { return ofa_bsp_has_cycle_counter() ? ofa_bsp_cpu_hz() : 0u; }

uint32_t GetCurrentTimeTicks() { return ofa_bsp_cycles(); }

}  // namespace tflite
