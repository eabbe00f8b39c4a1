/* Bare-metal Cortex-M board support (Make/CMake TFLite-Micro projects and native C projects):
 *
 * - clock plan (STM32F7: HSE + PLL + over-drive + flash wait states + ART; STM32H7: LDO supply,
 *   voltage scaling, HSE + PLL1 + bus prescalers + flash wait states), then the Cortex-M7 L1
 *   caches; every wait on a ready bit is bounded, and a clock that does not come up leaves the
 *   core on its reset clock and is reported on the console;
 * - console: an STM32 USART (to the ST-LINK virtual COM port), the CMSDK UART0 of QEMU's mps2
 *   boards, or semihosting when the project was generated with --console semihosting (only
 *   talked to with a debugger attached on a real board, so it never faults without one);
 * - the DWT cycle counter (used only if it really counts: QEMU's reads 0), microseconds from it;
 * - exit: a semihosting exit under QEMU (its exit status is the firmware's), else idle.
 *
 * All values (PLL factors, dividers, pins, register addresses and bit positions) come from
 * board_config.h, generated from the board's catalog entry and checked by ofa-mcu. It needs no
 * vendor header and no newlib syscalls: it works when linked with nano.specs + rdimon.specs or
 * nosys.specs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "board_config.h"
#include "ofa_bsp.h"

#define OFA_REG(base, ofs) (*(volatile uint32_t*)((uintptr_t)(base) + (uintptr_t)(ofs)))
#define OFA_BIT(pos) (1u << (pos))
/* Bounds of the busy waits, in polls: well above the slowest ready time (HSE start-up is at
 * most a few ms, one UART character at 115200 Bd takes 87 us) at any clock the core runs. */
#define OFA_CLOCK_POLLS 4000000u
/* Input helpers are compiled on every board; the ones without an input channel do not call them. */
#define OFA_MAYBE_UNUSED __attribute__((unused))
#define OFA_UART_POLLS 400000u

/* ---- clocks -------------------------------------------------------------------------------- */

static uint32_t ofa_core_hz = OFA_RESET_HZ;
#if OFA_CONSOLE_UART
static uint32_t ofa_uart_clk_hz = OFA_RESET_HZ;
#endif
static const char* ofa_clock_problem = 0; /* why the plan did not run, when it did not */

/* Polls until (reg & mask) == want, at most `polls` times; 1 on success, 0 on timeout. */
OFA_MAYBE_UNUSED static int ofa_wait(volatile uint32_t* reg, uint32_t mask, uint32_t want, uint32_t polls) {
  while (polls--) {
    if ((*reg & mask) == want) return 1;
  }
  return 0;
}

#define OFA_FIELD(reg, pos, width, value) \
  ((reg) = ((reg) & ~(((1u << (width)) - 1u) << (pos))) | ((uint32_t)(value) << (pos)))

#if OFA_FAMILY_STM32F7
/* RM0385 5.2 and 4.1.4: VOS scale, HSE, PLL, over-drive, flash latency, bus prescalers, switch. */
static const char* ofa_clock_plan(void) {
  volatile uint32_t* cr = &OFA_REG(OFA_RCC_BASE, OFA_RCC_CR_OFS);
  volatile uint32_t* cfgr = &OFA_REG(OFA_RCC_BASE, OFA_RCC_CFGR_OFS);
  volatile uint32_t* pll = &OFA_REG(OFA_RCC_BASE, OFA_RCC_PLLCFGR_OFS);
  volatile uint32_t* pwr_cr1 = &OFA_REG(OFA_PWR_BASE, OFA_PWR_CR1_OFS);
  volatile uint32_t* pwr_csr1 = &OFA_REG(OFA_PWR_BASE, OFA_PWR_CSR1_OFS);
  volatile uint32_t* acr = &OFA_REG(OFA_FLASH_BASE, OFA_FLASH_ACR_OFS);
  OFA_REG(OFA_RCC_BASE, OFA_RCC_APB1ENR_OFS) |= OFA_BIT(OFA_RCC_APB1ENR_PWREN_POS);
  (void)OFA_REG(OFA_RCC_BASE, OFA_RCC_APB1ENR_OFS); /* the enable takes effect before PWR is used */
  OFA_FIELD(*pwr_cr1, OFA_PWR_CR1_VOS_POS, 2, OFA_CLK_VOS_CODE);
  if (OFA_CLK_HSE_BYPASS) *cr |= OFA_BIT(OFA_RCC_CR_HSEBYP_POS);
  *cr |= OFA_BIT(OFA_RCC_CR_HSEON_POS);
  if (!ofa_wait(cr, OFA_BIT(OFA_RCC_CR_HSERDY_POS), OFA_BIT(OFA_RCC_CR_HSERDY_POS), OFA_CLOCK_POLLS)) {
    *cr &= ~OFA_BIT(OFA_RCC_CR_HSEON_POS);
    return "the HSE oscillator did not start";
  }
  uint32_t v = *pll;
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLLM_POS, 6, OFA_CLK_PLLM);
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLLN_POS, 9, OFA_CLK_PLLN);
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLLP_POS, 2, OFA_CLK_PLLP_CODE);
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLLSRC_POS, 1, OFA_CLK_PLLSRC_HSE);
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLLQ_POS, 4, OFA_CLK_PLLQ);
  *pll = v;
  *cr |= OFA_BIT(OFA_RCC_CR_PLLON_POS);
  if (!ofa_wait(cr, OFA_BIT(OFA_RCC_CR_PLLRDY_POS), OFA_BIT(OFA_RCC_CR_PLLRDY_POS), OFA_CLOCK_POLLS)) {
    *cr &= ~OFA_BIT(OFA_RCC_CR_PLLON_POS);
    return "the PLL did not lock";
  }
  if (OFA_CLK_OVERDRIVE) {
    *pwr_cr1 |= OFA_BIT(OFA_PWR_CR1_ODEN_POS);
    if (!ofa_wait(pwr_csr1, OFA_BIT(OFA_PWR_CSR1_ODRDY_POS), OFA_BIT(OFA_PWR_CSR1_ODRDY_POS), OFA_CLOCK_POLLS))
      return "the over-drive regulator did not become ready";
    *pwr_cr1 |= OFA_BIT(OFA_PWR_CR1_ODSWEN_POS);
    if (!ofa_wait(pwr_csr1, OFA_BIT(OFA_PWR_CSR1_ODSWRDY_POS), OFA_BIT(OFA_PWR_CSR1_ODSWRDY_POS), OFA_CLOCK_POLLS))
      return "the over-drive switch did not complete";
  }
  /* More wait states before the clock goes up; read back so they are in effect (RM0385 3.3.2). */
  v = *acr;
  OFA_FIELD(v, OFA_FLASH_ACR_LATENCY_POS, 4, OFA_CLK_FLASH_WAIT_STATES);
  OFA_FIELD(v, OFA_FLASH_ACR_PRFTEN_POS, 1, OFA_CLK_PREFETCH);
  OFA_FIELD(v, OFA_FLASH_ACR_ARTEN_POS, 1, OFA_CLK_ART);
  *acr = v;
  if (!ofa_wait(acr, 0xFu << OFA_FLASH_ACR_LATENCY_POS, OFA_CLK_FLASH_WAIT_STATES << OFA_FLASH_ACR_LATENCY_POS,
                OFA_CLOCK_POLLS))
    return "the flash did not take the wait states";
  v = *cfgr;
  OFA_FIELD(v, OFA_RCC_CFGR_HPRE_POS, 4, OFA_CLK_HPRE_CODE);
  OFA_FIELD(v, OFA_RCC_CFGR_PPRE1_POS, 3, OFA_CLK_PPRE1_CODE);
  OFA_FIELD(v, OFA_RCC_CFGR_PPRE2_POS, 3, OFA_CLK_PPRE2_CODE);
  *cfgr = v;
  OFA_FIELD(*cfgr, OFA_RCC_CFGR_SW_POS, 2, OFA_CLK_SW_PLL);
  if (!ofa_wait(cfgr, 3u << OFA_RCC_CFGR_SWS_POS, OFA_CLK_SW_PLL << OFA_RCC_CFGR_SWS_POS, OFA_CLOCK_POLLS))
    return "the system clock did not switch to the PLL";
  return 0;
}
#elif OFA_FAMILY_STM32H7
/* RM0433 6.8.4 (supply), 6.8.6 (VOS), 8.5 and 8.7 (RCC), 4.3.8 (flash latency). */
static const char* ofa_clock_plan(void) {
  volatile uint32_t* cr = &OFA_REG(OFA_RCC_BASE, OFA_RCC_CR_OFS);
  volatile uint32_t* cfgr = &OFA_REG(OFA_RCC_BASE, OFA_RCC_CFGR_OFS);
  volatile uint32_t* pwr_cr3 = &OFA_REG(OFA_PWR_BASE, OFA_PWR_CR3_OFS);
  volatile uint32_t* pwr_d3cr = &OFA_REG(OFA_PWR_BASE, OFA_PWR_D3CR_OFS);
  volatile uint32_t* pwr_csr1 = &OFA_REG(OFA_PWR_BASE, OFA_PWR_CSR1_OFS);
  volatile uint32_t* acr = &OFA_REG(OFA_FLASH_BASE, OFA_FLASH_ACR_OFS);
  /* The supply configuration can be written once after power-on (SCUEN locks it). */
  if (*pwr_cr3 & OFA_BIT(OFA_PWR_CR3_SCUEN_POS)) {
    uint32_t v = *pwr_cr3 & ~(OFA_BIT(OFA_PWR_CR3_SCUEN_POS) | OFA_BIT(OFA_PWR_CR3_BYPASS_POS));
    *pwr_cr3 = v | OFA_BIT(OFA_PWR_CR3_LDOEN_POS);
  }
  if (!ofa_wait(pwr_csr1, OFA_BIT(OFA_PWR_CSR1_ACTVOSRDY_POS), OFA_BIT(OFA_PWR_CSR1_ACTVOSRDY_POS), OFA_CLOCK_POLLS))
    return "the LDO supply did not become ready";
  OFA_FIELD(*pwr_d3cr, OFA_PWR_D3CR_VOS_POS, 2, OFA_CLK_VOS_CODE);
  if (!ofa_wait(pwr_d3cr, OFA_BIT(OFA_PWR_D3CR_VOSRDY_POS), OFA_BIT(OFA_PWR_D3CR_VOSRDY_POS), OFA_CLOCK_POLLS))
    return "the voltage scaling did not become ready";
  if (OFA_CLK_HSE_BYPASS) *cr |= OFA_BIT(OFA_RCC_CR_HSEBYP_POS);
  *cr |= OFA_BIT(OFA_RCC_CR_HSEON_POS);
  if (!ofa_wait(cr, OFA_BIT(OFA_RCC_CR_HSERDY_POS), OFA_BIT(OFA_RCC_CR_HSERDY_POS), OFA_CLOCK_POLLS)) {
    *cr &= ~OFA_BIT(OFA_RCC_CR_HSEON_POS);
    return "the HSE clock did not start (is the ST-LINK MCO connected?)";
  }
  volatile uint32_t* cksel = &OFA_REG(OFA_RCC_BASE, OFA_RCC_PLLCKSELR_OFS);
  OFA_FIELD(*cksel, OFA_RCC_PLLCKSELR_PLLSRC_POS, 2, OFA_CLK_PLLSRC_HSE);
  OFA_FIELD(*cksel, OFA_RCC_PLLCKSELR_DIVM1_POS, 6, OFA_CLK_DIVM1);
  OFA_REG(OFA_RCC_BASE, OFA_RCC_PLL1DIVR_OFS) =
      (OFA_CLK_DIVN1_CODE << OFA_RCC_PLL1DIVR_N1_POS) | (OFA_CLK_DIVP1_CODE << OFA_RCC_PLL1DIVR_P1_POS) |
      (OFA_CLK_DIVQ1_CODE << OFA_RCC_PLL1DIVR_Q1_POS) | (OFA_CLK_DIVR1_CODE << OFA_RCC_PLL1DIVR_R1_POS);
  volatile uint32_t* pllcfgr = &OFA_REG(OFA_RCC_BASE, OFA_RCC_PLLCFGR_OFS);
  uint32_t v = *pllcfgr;
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLL1FRACEN_POS, 1, 0u);
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLL1VCOSEL_POS, 1, OFA_CLK_PLL1VCOSEL);
  OFA_FIELD(v, OFA_RCC_PLLCFGR_PLL1RGE_POS, 2, OFA_CLK_PLL1RGE);
  v |= OFA_BIT(OFA_RCC_PLLCFGR_DIVP1EN_POS) | OFA_BIT(OFA_RCC_PLLCFGR_DIVQ1EN_POS) | OFA_BIT(OFA_RCC_PLLCFGR_DIVR1EN_POS);
  *pllcfgr = v;
  *cr |= OFA_BIT(OFA_RCC_CR_PLL1ON_POS);
  if (!ofa_wait(cr, OFA_BIT(OFA_RCC_CR_PLL1RDY_POS), OFA_BIT(OFA_RCC_CR_PLL1RDY_POS), OFA_CLOCK_POLLS)) {
    *cr &= ~OFA_BIT(OFA_RCC_CR_PLL1ON_POS);
    return "PLL1 did not lock";
  }
  const uint32_t want = (OFA_CLK_FLASH_WAIT_STATES << OFA_FLASH_ACR_LATENCY_POS) |
                        (OFA_CLK_FLASH_WRHIGHFREQ << OFA_FLASH_ACR_WRHIGHFREQ_POS);
  const uint32_t mask = (0xFu << OFA_FLASH_ACR_LATENCY_POS) | (3u << OFA_FLASH_ACR_WRHIGHFREQ_POS);
  *acr = (*acr & ~mask) | want;
  if (!ofa_wait(acr, mask, want, OFA_CLOCK_POLLS)) return "the flash did not take the wait states";
  volatile uint32_t* d1 = &OFA_REG(OFA_RCC_BASE, OFA_RCC_D1CFGR_OFS);
  v = *d1;
  OFA_FIELD(v, OFA_RCC_D1CFGR_D1CPRE_POS, 4, OFA_CLK_D1CPRE_CODE);
  OFA_FIELD(v, OFA_RCC_D1CFGR_HPRE_POS, 4, OFA_CLK_HPRE_CODE);
  OFA_FIELD(v, OFA_RCC_D1CFGR_D1PPRE_POS, 3, OFA_CLK_D1PPRE_CODE);
  *d1 = v;
  volatile uint32_t* d2 = &OFA_REG(OFA_RCC_BASE, OFA_RCC_D2CFGR_OFS);
  v = *d2;
  OFA_FIELD(v, OFA_RCC_D2CFGR_D2PPRE1_POS, 3, OFA_CLK_D2PPRE1_CODE);
  OFA_FIELD(v, OFA_RCC_D2CFGR_D2PPRE2_POS, 3, OFA_CLK_D2PPRE2_CODE);
  *d2 = v;
  OFA_FIELD(OFA_REG(OFA_RCC_BASE, OFA_RCC_D3CFGR_OFS), OFA_RCC_D3CFGR_D3PPRE_POS, 3, OFA_CLK_D3PPRE_CODE);
  OFA_FIELD(*cfgr, OFA_RCC_CFGR_SW_POS, 3, OFA_CLK_SW_PLL);
  if (!ofa_wait(cfgr, 7u << OFA_RCC_CFGR_SWS_POS, OFA_CLK_SW_PLL << OFA_RCC_CFGR_SWS_POS, OFA_CLOCK_POLLS))
    return "the system clock did not switch to PLL1";
  return 0;
}
#endif

#if OFA_CLK_ICACHE || OFA_CLK_DCACHE
/* Cortex-M7 L1 caches, as CMSIS's SCB_EnableICache / SCB_EnableDCache (invalidate, then on). */
static void ofa_caches_on(void) {
  volatile uint32_t* ccr = &OFA_REG(OFA_SCB_BASE, OFA_SCB_CCR_OFS);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#if OFA_CLK_ICACHE
  if (!(*ccr & OFA_BIT(OFA_SCB_CCR_IC_POS))) {
    OFA_REG(OFA_SCB_BASE, OFA_SCB_ICIALLU_OFS) = 0u;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    *ccr |= OFA_BIT(OFA_SCB_CCR_IC_POS);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
  }
#endif
#if OFA_CLK_DCACHE
  if (!(*ccr & OFA_BIT(OFA_SCB_CCR_DC_POS))) {
    OFA_REG(OFA_SCB_BASE, OFA_SCB_CSSELR_OFS) = 0u; /* level 1 data cache */
    __asm__ volatile("dsb" ::: "memory");
    const uint32_t ccsidr = OFA_REG(OFA_SCB_BASE, OFA_SCB_CCSIDR_OFS);
    uint32_t sets = (ccsidr >> OFA_SCB_CCSIDR_NUMSETS_POS) & 0x7FFFu;
    do {
      uint32_t ways = (ccsidr >> OFA_SCB_CCSIDR_ASSOCIATIVITY_POS) & 0x3FFu;
      do {
        OFA_REG(OFA_SCB_BASE, OFA_SCB_DCISW_OFS) =
            ((sets << OFA_SCB_DCISW_SET_POS) & (0x1FFu << OFA_SCB_DCISW_SET_POS)) |
            ((ways << OFA_SCB_DCISW_WAY_POS) & (3u << OFA_SCB_DCISW_WAY_POS));
      } while (ways-- != 0u);
    } while (sets-- != 0u);
    __asm__ volatile("dsb" ::: "memory");
    *ccr |= OFA_BIT(OFA_SCB_CCR_DC_POS);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
  }
#endif
}
#endif

/* ---- console ------------------------------------------------------------------------------- */

static int ofa_console_ok = 0; /* set once the console can take output */

#if OFA_CONSOLE_UART && (OFA_FAMILY_STM32F7 || OFA_FAMILY_STM32H7)
#define OFA_GPIO(port) ((uintptr_t)OFA_GPIOA_BASE + (uintptr_t)(port) * OFA_GPIO_STRIDE_BASE)
#define OFA_UART_REG(ofs) OFA_REG(OFA_CONSOLE_UART_BASE, ofs)

static void ofa_pin_af(uint32_t port, uint32_t pin, uint32_t pull_up) {
  const uintptr_t g = OFA_GPIO(port);
  OFA_FIELD(OFA_REG(g, OFA_GPIO_MODER_OFS), pin * 2u, 2, 2u);   /* alternate function */
  OFA_FIELD(OFA_REG(g, OFA_GPIO_OTYPER_OFS), pin, 1, 0u);       /* push-pull */
  OFA_FIELD(OFA_REG(g, OFA_GPIO_OSPEEDR_OFS), pin * 2u, 2, 1u); /* medium speed: plenty for a UART */
  OFA_FIELD(OFA_REG(g, OFA_GPIO_PUPDR_OFS), pin * 2u, 2, pull_up ? 1u : 0u);
  if (pin < 8u) {
    OFA_FIELD(OFA_REG(g, OFA_GPIO_AFRL_OFS), pin * 4u, 4, OFA_CONSOLE_AF);
  } else {
    OFA_FIELD(OFA_REG(g, OFA_GPIO_AFRH_OFS), (pin - 8u) * 4u, 4, OFA_CONSOLE_AF);
  }
}

static void ofa_console_init(void) {
  OFA_REG(OFA_RCC_BASE, OFA_GPIO_ENR_OFS) |= OFA_BIT(OFA_CONSOLE_TX_PORT) | OFA_BIT(OFA_CONSOLE_RX_PORT);
  OFA_REG(OFA_RCC_BASE, OFA_CONSOLE_UART_ENR_OFS) |= OFA_BIT(OFA_CONSOLE_UART_EN_POS);
  (void)OFA_REG(OFA_RCC_BASE, OFA_CONSOLE_UART_ENR_OFS); /* clocks on before the first access */
  ofa_pin_af(OFA_CONSOLE_TX_PORT, OFA_CONSOLE_TX_PIN, 0u);
  ofa_pin_af(OFA_CONSOLE_RX_PORT, OFA_CONSOLE_RX_PIN, 1u); /* idle-high line when nothing is connected */
  OFA_UART_REG(OFA_USART_CR1_OFS) = 0u;
  OFA_UART_REG(OFA_USART_CR2_OFS) = 0u; /* 1 stop bit */
  OFA_UART_REG(OFA_USART_CR3_OFS) = 0u; /* no flow control */
  OFA_UART_REG(OFA_USART_BRR_OFS) = (ofa_uart_clk_hz + OFA_CONSOLE_BAUD / 2u) / OFA_CONSOLE_BAUD; /* x16 */
  OFA_UART_REG(OFA_USART_CR1_OFS) =
      OFA_BIT(OFA_USART_CR1_TE_POS) | OFA_BIT(OFA_USART_CR1_RE_POS) | OFA_BIT(OFA_USART_CR1_UE_POS); /* 8N1 */
  ofa_console_ok = 1;
}

static void ofa_console_putc(char c) {
  if (!ofa_wait(&OFA_UART_REG(OFA_USART_ISR_OFS), OFA_BIT(OFA_USART_ISR_TXE_POS), OFA_BIT(OFA_USART_ISR_TXE_POS),
                OFA_UART_POLLS)) {
    ofa_console_ok = 0; /* the USART does not drain: stop printing rather than stall */
    return;
  }
  OFA_UART_REG(OFA_USART_TDR_OFS) = (uint8_t)c;
}

static void ofa_console_flush(void) {
  (void)ofa_wait(&OFA_UART_REG(OFA_USART_ISR_OFS), OFA_BIT(OFA_USART_ISR_TC_POS), OFA_BIT(OFA_USART_ISR_TC_POS),
                 OFA_UART_POLLS);
}

OFA_MAYBE_UNUSED static int ofa_console_getc(void) {
  const uint32_t isr = OFA_UART_REG(OFA_USART_ISR_OFS);
  if (isr & OFA_BIT(OFA_USART_ISR_ORE_POS)) OFA_UART_REG(OFA_USART_ICR_OFS) = OFA_BIT(OFA_USART_ICR_ORECF_POS);
  if (!(isr & OFA_BIT(OFA_USART_ISR_RXNE_POS))) return -1;
  return (int)(OFA_UART_REG(OFA_USART_RDR_OFS) & 0xFFu);
}

#elif OFA_CONSOLE_UART && OFA_FAMILY_MPS2
/* ARM CMSDK APB UART (QEMU shows UART0 on its stdio with -serial stdio). */
#define OFA_UART_REG(ofs) OFA_REG(OFA_CONSOLE_UART_BASE, ofs)

static void ofa_console_init(void) {
  OFA_UART_REG(OFA_CMSDK_UART_BAUDDIV_OFS) = (ofa_uart_clk_hz + OFA_CONSOLE_BAUD / 2u) / OFA_CONSOLE_BAUD;
  OFA_UART_REG(OFA_CMSDK_UART_CTRL_OFS) = OFA_BIT(OFA_CMSDK_UART_CTRL_TXEN_POS) | OFA_BIT(OFA_CMSDK_UART_CTRL_RXEN_POS);
  ofa_console_ok = 1;
}

static void ofa_console_putc(char c) {
  if (!ofa_wait(&OFA_UART_REG(OFA_CMSDK_UART_STATE_OFS), OFA_BIT(OFA_CMSDK_UART_STATE_TXFULL_POS), 0u, OFA_UART_POLLS)) {
    ofa_console_ok = 0;
    return;
  }
  OFA_UART_REG(OFA_CMSDK_UART_DATA_OFS) = (uint8_t)c;
}

static void ofa_console_flush(void) {
  (void)ofa_wait(&OFA_UART_REG(OFA_CMSDK_UART_STATE_OFS), OFA_BIT(OFA_CMSDK_UART_STATE_TXFULL_POS), 0u, OFA_UART_POLLS);
}

OFA_MAYBE_UNUSED static int ofa_console_getc(void) {
  if (!(OFA_UART_REG(OFA_CMSDK_UART_STATE_OFS) & OFA_BIT(OFA_CMSDK_UART_STATE_RXFULL_POS))) return -1;
  return (int)(OFA_UART_REG(OFA_CMSDK_UART_DATA_OFS) & 0xFFu);
}
#endif

/* ---- semihosting (ARM semihosting 2.0: BKPT 0xAB, operation in r0, parameter block in r1) ---- */

#if OFA_CONSOLE_SEMIHOSTING || OFA_EXIT_SEMIHOSTING
enum { OFA_SH_OPEN = 0x01, OFA_SH_WRITE = 0x05, OFA_SH_READ = 0x06, OFA_SH_EXIT_EXTENDED = 0x20 };

static int ofa_semihost(int op, const void* block) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = block;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* A semihosting call without a debugger is a fault: on a real board, only with one attached. */
static int ofa_debugger_attached(void) {
#if OFA_SEMIHOSTING_NEEDS_DEBUGGER
  return (OFA_REG(OFA_DCB_BASE, OFA_DCB_DHCSR_OFS) & OFA_BIT(OFA_DCB_DHCSR_C_DEBUGEN_POS)) != 0u;
#else
  return 1;
#endif
}
#endif

#if OFA_CONSOLE_SEMIHOSTING
static int ofa_sh_out = -1;
static int ofa_sh_in = -1;

static int ofa_sh_open(uint32_t mode) {
  const uint32_t block[3] = {(uint32_t)(uintptr_t)":tt", mode, 3u};
  return ofa_semihost(OFA_SH_OPEN, block);
}

static void ofa_console_init(void) {
  if (!ofa_debugger_attached()) return; /* nothing to print to */
  ofa_sh_out = ofa_sh_open(4u);         /* ":tt" opened "w": the debugger's console */
  ofa_sh_in = ofa_sh_open(0u);          /* "r" */
  ofa_console_ok = ofa_sh_out >= 0;
}

static void ofa_console_write(const char* s, size_t n) {
  const uint32_t block[3] = {(uint32_t)ofa_sh_out, (uint32_t)(uintptr_t)s, (uint32_t)n};
  (void)ofa_semihost(OFA_SH_WRITE, block);
}

static void ofa_console_flush(void) {}

OFA_MAYBE_UNUSED static int ofa_console_read(uint8_t* dst, size_t n) {
  if (ofa_sh_in < 0) return -1;
  const uint32_t block[3] = {(uint32_t)ofa_sh_in, (uint32_t)(uintptr_t)dst, (uint32_t)n};
  const int left = ofa_semihost(OFA_SH_READ, block); /* blocks until the debugger delivers */
  if (left < 0 || (size_t)left >= n) return -1;       /* error or end of input */
  return (int)(n - (size_t)left);
}
#else
static void ofa_console_write(const char* s, size_t n) {
  for (size_t i = 0; i < n && ofa_console_ok; ++i) ofa_console_putc(s[i]);
}

OFA_MAYBE_UNUSED static int ofa_console_read(uint8_t* dst, size_t n) {
  size_t got = 0;
  for (int c; got < n && (c = ofa_console_getc()) >= 0;) dst[got++] = (uint8_t)c;
  return (int)got;
}
#endif

/* ---- cycle counter ------------------------------------------------------------------------- */

static int ofa_dwt_counts = 0;

static void ofa_cycle_counter_init(void) {
#if OFA_HAS_DWT_CYCLE_COUNTER
  OFA_REG(OFA_DCB_BASE, OFA_DCB_DEMCR_OFS) |= OFA_BIT(OFA_DCB_DEMCR_TRCENA_POS);
#if OFA_CORE_IS_CORTEX_M7
  OFA_REG(OFA_DWT_BASE, OFA_DWT_LAR_OFS) = 0xC5ACCE55u; /* the M7 locks the DWT until this key */
#endif
  volatile uint32_t* ctrl = &OFA_REG(OFA_DWT_BASE, OFA_DWT_CTRL_OFS);
  if (*ctrl & OFA_BIT(OFA_DWT_CTRL_NOCYCCNT_POS)) return;
  OFA_REG(OFA_DWT_BASE, OFA_DWT_CYCCNT_OFS) = 0u;
  *ctrl |= OFA_BIT(OFA_DWT_CTRL_CYCCNTENA_POS);
  const uint32_t c0 = OFA_REG(OFA_DWT_BASE, OFA_DWT_CYCCNT_OFS);
  for (volatile int i = 0; i < 16; ++i) {
  }
  ofa_dwt_counts = OFA_REG(OFA_DWT_BASE, OFA_DWT_CYCCNT_OFS) != c0; /* QEMU's stays at 0 */
#endif
}

uint32_t ofa_bsp_cycles(void) { return ofa_dwt_counts ? OFA_REG(OFA_DWT_BASE, OFA_DWT_CYCCNT_OFS) : 0u; }

int ofa_bsp_has_cycle_counter(void) { return ofa_dwt_counts; }

uint32_t ofa_bsp_cpu_hz(void) { return ofa_core_hz; }

uint64_t ofa_bsp_micros(void) {
  /* The 32-bit counter extended to 64 bits: call at least once per wrap (>= 10 s at 400 MHz). */
  static uint64_t total = 0;
  static uint32_t last = 0;
  if (!ofa_dwt_counts) return 0;
  const uint32_t now = ofa_bsp_cycles();
  total += (uint32_t)(now - last);
  last = now;
  return total / (ofa_core_hz / 1000000u);
}

/* ---- the BSP interface --------------------------------------------------------------------- */

void ofa_bsp_init(void) {
#if OFA_FAMILY_STM32F7 || OFA_FAMILY_STM32H7
  ofa_clock_problem = ofa_clock_plan();
  if (!ofa_clock_problem) ofa_core_hz = OFA_CPU_HZ;
#if OFA_CONSOLE_UART
  ofa_uart_clk_hz = ofa_clock_problem ? OFA_RESET_HZ : OFA_CONSOLE_UART_CLK_HZ;
#endif
#else
  ofa_core_hz = OFA_CPU_HZ;
#if OFA_CONSOLE_UART
  ofa_uart_clk_hz = OFA_CONSOLE_UART_CLK_HZ;
#endif
#endif
#if OFA_CLK_ICACHE || OFA_CLK_DCACHE
  ofa_caches_on();
#endif
  ofa_cycle_counter_init();
  ofa_console_init();
  if (ofa_clock_problem) {
    ofa_bsp_log("ofa: clock plan not applied (%s): running at %lu Hz instead of %lu Hz\r\n", ofa_clock_problem,
                (unsigned long)ofa_core_hz, (unsigned long)OFA_CPU_HZ);
  }
}

void ofa_bsp_log(const char* format, ...) {
  static char line[256];
  if (!ofa_console_ok) return;
  va_list args;
  va_start(args, format);
  int n = vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) n = (int)sizeof(line) - 1; /* truncated */
  ofa_console_write(line, (size_t)n);
}

int ofa_bsp_read(uint8_t* dst, size_t n) {
#if OFA_INPUT_SOURCE_SERIAL
  if (!ofa_console_ok) return -1;
  return ofa_console_read(dst, n);
#else
  OFA_BSP_NO_INPUT(dst, n);
#endif
}

void ofa_bsp_exit(int status) {
  ofa_bsp_log("ofa: status %d\r\n", status);
  if (ofa_console_ok) ofa_console_flush();
#if OFA_EXIT_SEMIHOSTING || OFA_CONSOLE_SEMIHOSTING
  if (ofa_debugger_attached()) {
    const uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)status};
    (void)ofa_semihost(OFA_SH_EXIT_EXTENDED, block);
  }
#endif
  for (;;) {
    __asm__ volatile("wfi");
  }
}

/* Called by the startup's fault handler: says which fault, where, then ends like ofa_bsp_exit. */
void ofa_bsp_fault(uint32_t ipsr, const uint32_t* frame) {
  ofa_bsp_log("ofa: fault: exception %lu at pc 0x%08lx (CFSR 0x%08lx, HFSR 0x%08lx)\r\n", (unsigned long)ipsr,
              (unsigned long)(frame ? frame[6] : 0u), (unsigned long)OFA_REG(OFA_SCB_BASE, OFA_SCB_CFSR_OFS),
              (unsigned long)OFA_REG(OFA_SCB_BASE, OFA_SCB_HFSR_OFS));
  ofa_bsp_exit(99);
}
