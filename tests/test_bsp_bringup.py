"""The STM32 bring-up code itself, run on a Cortex-M7 (QEMU mps2-an500) against simulated
peripherals: the generated board_config.h of the F746 and H743 boards, with the RCC, PWR, FLASH,
GPIO and USART bases pointed at RAM, and every register value the BSP leaves checked against
the values ST's CMSIS headers name (PLL fields, prescalers, voltage scaling, wait states, clock
switch, pin alternate functions, baud divisor).

Two scenarios per board: every ready bit already set (the plan runs to the end, OFA_CPU_HZ is
the clock), and no ready bit ever set (each wait gives up after its bound, the core stays on the
reset HSI, the console is programmed for that clock and still prints the reason)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codegen.bsp_config import board_config_context
from codegen.flash import qemu_argv
from codegen.paths import firmware_dir
from codegen.project import linker_script, template_environment
from ofa_mcu.boards import load_board
from third_party_headers import cmsis_core, stm32_include

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc (apt)")

# peripheral -> the OFA_<name>_BASE macro redirected to a RAM array
FAKES = {"rcc": "OFA_RCC_BASE", "pwr": "OFA_PWR_BASE", "flash": "OFA_FLASH_BASE", "gpio": "OFA_GPIOA_BASE"}

HARNESS = r"""
#include <stddef.h>
#include <stdint.h>
#include "@HEADER@"
#include "board_config.h"
#include "ofa_bsp.h"

uint32_t ofa_fake_rcc[256], ofa_fake_pwr[256], ofa_fake_flash[256], ofa_fake_gpio[11 * 256], ofa_fake_usart[256];

#define REG(arr, type, member) (arr[offsetof(type, member) / 4])
#define GPIO(port, member) (ofa_fake_gpio[(port) * 256 + offsetof(GPIO_TypeDef, member) / 4])

static int sh(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
static void say(const char* s) { sh(0x04, s); }
static int failures = 0;
static void check(int ok, const char* what) {
  say(ok ? "ok   " : "FAIL ");
  say(what);
  say("\n");
  failures += !ok;
}
#define CHECK(expr) check((expr), #expr)

int main(void) {
#if READY
  @PRESET@
  REG(ofa_fake_usart, USART_TypeDef, ISR) = USART_ISR_TXE_Msk_ | USART_ISR_TC_Msk_;
#else
  REG(ofa_fake_usart, USART_TypeDef, ISR) = USART_ISR_TXE_Msk_ | USART_ISR_TC_Msk_; /* the UART works, the clocks do not */
#endif
  ofa_bsp_init();
  @CHECKS@
  /* the console: pins, baud divisor at the clock the core really runs at, on, and it printed */
  const uint32_t clk = ofa_bsp_cpu_hz() == OFA_CPU_HZ ? OFA_CONSOLE_UART_CLK_HZ : OFA_RESET_HZ;
  CHECK(REG(ofa_fake_usart, USART_TypeDef, BRR) == (clk + OFA_CONSOLE_BAUD / 2) / OFA_CONSOLE_BAUD);
  CHECK(REG(ofa_fake_usart, USART_TypeDef, CR1) == (USART_CR1_UE | USART_CR1_TE | USART_CR1_RE));
  CHECK(((GPIO(OFA_CONSOLE_TX_PORT, MODER) >> (2 * OFA_CONSOLE_TX_PIN)) & 3u) == 2u);
  CHECK(((GPIO(OFA_CONSOLE_RX_PORT, MODER) >> (2 * OFA_CONSOLE_RX_PIN)) & 3u) == 2u);
  CHECK(((GPIO(OFA_CONSOLE_RX_PORT, PUPDR) >> (2 * OFA_CONSOLE_RX_PIN)) & 3u) == 1u);
  CHECK(((GPIO(OFA_CONSOLE_TX_PORT, AFR[OFA_CONSOLE_TX_PIN / 8]) >> (4 * (OFA_CONSOLE_TX_PIN % 8))) & 15u) == OFA_CONSOLE_AF);
  CHECK(((GPIO(OFA_CONSOLE_RX_PORT, AFR[OFA_CONSOLE_RX_PIN / 8]) >> (4 * (OFA_CONSOLE_RX_PIN % 8))) & 15u) == OFA_CONSOLE_AF);
  ofa_bsp_log("ofa: status 0\r\n");
  CHECK(REG(ofa_fake_usart, USART_TypeDef, TDR) == '\n');
  const uint32_t block[2] = {0x20026u, (uint32_t)failures};
  sh(0x20, block);
  return failures;
}
"""

F7_PRESET = """
  REG(ofa_fake_rcc, RCC_TypeDef, CR) = RCC_CR_HSERDY | RCC_CR_PLLRDY;
  REG(ofa_fake_rcc, RCC_TypeDef, CFGR) = RCC_CFGR_SWS_PLL;
  REG(ofa_fake_pwr, PWR_TypeDef, CSR1) = PWR_CSR1_ODRDY | PWR_CSR1_ODSWRDY;
"""
F7_READY = """
  CHECK(ofa_bsp_cpu_hz() == 216000000u);
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, PLLCFGR) == (RCC_PLLCFGR_PLLSRC_HSE | (25u << RCC_PLLCFGR_PLLM_Pos) |
        (432u << RCC_PLLCFGR_PLLN_Pos) | (0u << RCC_PLLCFGR_PLLP_Pos) | (9u << RCC_PLLCFGR_PLLQ_Pos)));
  CHECK((REG(ofa_fake_rcc, RCC_TypeDef, CR) & (RCC_CR_HSEON | RCC_CR_HSEBYP | RCC_CR_PLLON)) == (RCC_CR_HSEON | RCC_CR_PLLON));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, CFGR) == (RCC_CFGR_SWS_PLL | RCC_CFGR_SW_PLL | RCC_CFGR_HPRE_DIV1 |
        RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2));
  CHECK(REG(ofa_fake_pwr, PWR_TypeDef, CR1) == (PWR_CR1_VOS | PWR_CR1_ODEN | PWR_CR1_ODSWEN));
  CHECK(REG(ofa_fake_flash, FLASH_TypeDef, ACR) == (FLASH_ACR_LATENCY_7WS | FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, APB1ENR) == RCC_APB1ENR_PWREN);
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, APB2ENR) == RCC_APB2ENR_USART1EN);
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, AHB1ENR) == (RCC_AHB1ENR_GPIOAEN | RCC_AHB1ENR_GPIOBEN));
"""
F7_NOT_READY = """
  CHECK(ofa_bsp_cpu_hz() == 16000000u);
  CHECK((REG(ofa_fake_rcc, RCC_TypeDef, CR) & (RCC_CR_HSEON | RCC_CR_PLLON)) == 0u);
  CHECK((REG(ofa_fake_rcc, RCC_TypeDef, CFGR) & RCC_CFGR_SW) == 0u);
  CHECK(REG(ofa_fake_flash, FLASH_TypeDef, ACR) == 0u);
"""
H7_PRESET = """
  REG(ofa_fake_pwr, PWR_TypeDef, CR3) = PWR_CR3_SCUEN | PWR_CR3_LDOEN;   /* reset value */
  REG(ofa_fake_pwr, PWR_TypeDef, CSR1) = PWR_CSR1_ACTVOSRDY;
  REG(ofa_fake_pwr, PWR_TypeDef, D3CR) = PWR_D3CR_VOSRDY | PWR_D3CR_VOS_0;  /* reset: VOS3 */
  REG(ofa_fake_rcc, RCC_TypeDef, CR) = RCC_CR_HSERDY | RCC_CR_PLL1RDY;
  REG(ofa_fake_rcc, RCC_TypeDef, CFGR) = RCC_CFGR_SWS_PLL1;
"""
H7_READY = """
  CHECK(ofa_bsp_cpu_hz() == 400000000u);
  CHECK(REG(ofa_fake_pwr, PWR_TypeDef, CR3) == PWR_CR3_LDOEN);
  CHECK((REG(ofa_fake_pwr, PWR_TypeDef, D3CR) & PWR_D3CR_VOS) == PWR_D3CR_VOS);   /* VOS1 */
  CHECK((REG(ofa_fake_rcc, RCC_TypeDef, CR) & (RCC_CR_HSEON | RCC_CR_HSEBYP | RCC_CR_PLL1ON)) ==
        (RCC_CR_HSEON | RCC_CR_HSEBYP | RCC_CR_PLL1ON));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, PLLCKSELR) == (RCC_PLLCKSELR_PLLSRC_HSE | (4u << RCC_PLLCKSELR_DIVM1_Pos)));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, PLL1DIVR) == ((399u << RCC_PLL1DIVR_N1_Pos) | (1u << RCC_PLL1DIVR_P1_Pos) |
        (3u << RCC_PLL1DIVR_Q1_Pos) | (1u << RCC_PLL1DIVR_R1_Pos)));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, PLLCFGR) == (RCC_PLLCFGR_PLL1RGE_1 | RCC_PLLCFGR_DIVP1EN | RCC_PLLCFGR_DIVQ1EN |
        RCC_PLLCFGR_DIVR1EN));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, D1CFGR) == (RCC_D1CFGR_D1CPRE_DIV1 | RCC_D1CFGR_HPRE_DIV2 | RCC_D1CFGR_D1PPRE_DIV2));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, D2CFGR) == (RCC_D2CFGR_D2PPRE1_DIV2 | RCC_D2CFGR_D2PPRE2_DIV2));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, D3CFGR) == RCC_D3CFGR_D3PPRE_DIV2);
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, CFGR) == (RCC_CFGR_SWS_PLL1 | RCC_CFGR_SW_PLL1));
  CHECK(REG(ofa_fake_flash, FLASH_TypeDef, ACR) == (FLASH_ACR_LATENCY_2WS | FLASH_ACR_WRHIGHFREQ_1));
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, APB1LENR) == RCC_APB1LENR_USART3EN);
  CHECK(REG(ofa_fake_rcc, RCC_TypeDef, AHB4ENR) == RCC_AHB4ENR_GPIODEN);
"""
H7_NOT_READY = """
  CHECK(ofa_bsp_cpu_hz() == 64000000u);
  CHECK((REG(ofa_fake_rcc, RCC_TypeDef, CFGR) & RCC_CFGR_SW) == 0u);
  CHECK((REG(ofa_fake_rcc, RCC_TypeDef, CR) & RCC_CR_PLL1ON) == 0u);
"""
CASES = {"stm32f746g-disco": ("stm32f746xx.h", F7_PRESET, F7_READY, F7_NOT_READY, "USART_ISR_TXE", "USART_ISR_TC"),
         "nucleo-h743zi2": ("stm32h743xx.h", H7_PRESET, H7_READY, H7_NOT_READY, "USART_ISR_TXE_TXFNF", "USART_ISR_TC")}


def _redirected_config(board, out: Path) -> None:
    text = template_environment().get_template("common/board_config.h.j2").render(
        banner="test", board=board, bsp=board_config_context(board, "make"))
    for fake, macro in (*FAKES.items(), ("usart", f"OFA_{board.console_spec.uart}_BASE")):
        text, n = re.subn(rf"^#define {macro} 0x[0-9a-f]+u$", f"#define {macro} ((uintptr_t)ofa_fake_{fake})", text,
                          flags=re.M)
        assert n == 1, macro
    decl = "#include <stdint.h>\nextern uint32_t " + ", ".join(f"ofa_fake_{f}[]" for f in (*FAKES, "usart")) + ";\n"
    (out / "board_config.h").write_text(text.replace("#define OFA_BOARD_CONFIG_H_\n", "#define OFA_BOARD_CONFIG_H_\n" + decl))


@pytest.mark.parametrize("ready", [True, False], ids=["all-ready", "nothing-ready"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_clock_plan_and_console_bring_up(name, ready, tmp_path):
    board = load_board(name)
    header, preset, ready_checks, fallback_checks, txe, tc = CASES[name]
    st, (core, _) = stm32_include(board.family), cmsis_core()
    _redirected_config(board, tmp_path)
    harness = (HARNESS.replace("@HEADER@", header).replace("@PRESET@", preset)
               .replace("@CHECKS@", ready_checks if ready else fallback_checks)
               .replace("USART_ISR_TXE_Msk_", f"{txe}_Msk").replace("USART_ISR_TC_Msk_", f"{tc}_Msk"))
    (tmp_path / "harness.c").write_text(harness)
    qemu = load_board("qemu-mps2-an500")  # a Cortex-M7 to run the code on; its RAM holds the fakes
    (tmp_path / "linker.ld").write_text(linker_script(qemu, "test", backend="native"))
    fw = firmware_dir()
    elf = tmp_path / "bringup.elf"
    proc = subprocess.run(["arm-none-eabi-gcc", *qemu.cpu_flags, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
                           f"-DREADY={int(ready)}", f"-I{tmp_path}", f"-I{fw / 'bsp'}", f"-I{st}", f"-I{core}",
                           str(fw / "startup/startup_cortexm.c"), str(fw / "bsp/baremetal/ofa_bsp_baremetal.c"),
                           str(tmp_path / "harness.c"), "-T", str(tmp_path / "linker.ld"), "--specs=nano.specs",
                           "--specs=nosys.specs", "-Wl,--gc-sections", "-o", str(elf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = subprocess.run(list(qemu_argv(qemu.qemu_machine, str(elf))), capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    report = run.stdout + run.stderr  # the harness reports through semihosting (QEMU: stderr)
    assert run.returncode == 0 and "FAIL" not in report, report
    assert report.count("ok   ") == harness.count("  CHECK(") >= 10, report
