/* Cortex-M startup of every bare-metal ofa-mcu firmware (TFLite-Micro Make/CMake projects and
 * native C projects; QEMU mps2 boards and real parts alike): vector table, Reset_Handler
 * (enable the FPU, copy .data, zero .bss, run C/C++ constructors, main, then ofa_bsp_exit with
 * its status), and a fault handler that reports through the BSP. Symbols come from the
 * generated linker.ld (templates/common/linker.ld.j2); clocks, caches and the console are the
 * BSP's (ofa_bsp_init, firmware/bsp/baremetal). No semihosting here: a board without a debugger
 * boots and prints on its UART.
 */
#include <stdint.h>

#include "board_config.h"
#include "ofa_bsp.h"

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
extern int main(void);
extern void __libc_init_array(void);
/* Reports a fault on the console and ends the run (ofa_bsp_baremetal.c). */
extern void ofa_bsp_fault(uint32_t ipsr, const uint32_t* frame);

void Reset_Handler(void);
void Default_Handler(void);
void ofa_fault_entry(const uint32_t* frame);

/* The stacked exception frame (r0-r3, r12, lr, pc, xpsr) is on MSP or PSP (EXC_RETURN bit 2). */
__attribute__((naked)) void Default_Handler(void) {
  __asm__ volatile(
      "movs r0, #4\n\t"
      "mov r1, lr\n\t"
      "tst r0, r1\n\t"
      "beq 1f\n\t"
      "mrs r0, psp\n\t"
      "b ofa_fault_entry\n"
      "1:\n\t"
      "mrs r0, msp\n\t"
      "b ofa_fault_entry\n\t");
}

/* A second fault while reporting the first (e.g. a broken console) parks the core. */
void ofa_fault_entry(const uint32_t* frame) {
  static volatile int faulted = 0;
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  if (!faulted) {
    faulted = 1;
    ofa_bsp_fault(ipsr & 0x1FFu, frame);
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
#if defined(__ARM_FP)
  /* CPACR: full access to coprocessors 10 and 11 (the FPU) before any float instruction. */
  *(volatile uint32_t*)(OFA_SCB_BASE + OFA_SCB_CPACR_OFS) |= (0xFu << OFA_SCB_CPACR_CP10_POS);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  uint32_t* src = &__data_load__;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  __libc_init_array();
  ofa_bsp_exit(main());
}
