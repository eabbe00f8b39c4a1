/* Cortex-M startup of every bare-metal ofa-mcu firmware (TFLite-Micro Make/CMake projects and
 * native C projects; QEMU mps2 boards and real parts alike): vector table, Reset_Handler (copy
 * .data, zero .bss, enable the FPU, newlib semihosting and C++ constructors, then
 * exit(main())), and a fault handler. Symbols come from the generated linker.ld
 * (templates/common/linker.ld.j2).
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);
extern void _exit(int status);

#define OFA_FAULT_EXIT_CODE 99

void Reset_Handler(void);
void Default_Handler(void);

/* A fault ends a semihosting session (QEMU, or a debugger with semihosting on) with exit code
 * 99 instead of hanging it; a second fault (no debugger to answer semihosting) parks the core. */
void Default_Handler(void) {
  static volatile int faulted = 0;
  if (!faulted) {
    faulted = 1;
    _exit(OFA_FAULT_EXIT_CODE);
  }
  for (;;) {
  }
}

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*ofa_vector_t)(void);

/* The 16 system exception entries; no peripheral interrupts are used by the firmware. */
__attribute__((section(".isr_vector"), used)) const ofa_vector_t ofa_vectors[16] = {
    (ofa_vector_t)(uintptr_t)&__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

void Reset_Handler(void) {
  uint32_t* src = &__data_load__;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
#if defined(__ARM_FP)
  /* CPACR: full access to coprocessors 10 and 11 (the FPU) before any float instruction. */
  *(volatile uint32_t*)0xE000ED88u |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}
