"""Every register address, offset and bit position the bare-metal BSP writes equals ST's CMSIS
device headers (stm32f746xx.h, stm32h743xx.h) and Arm's core_cm7.h / core_cm4.h: a C file of
static_asserts, compiled with arm-none-eabi-gcc against the real headers, for each STM32 board's
generated board_config.h (registers, console wiring and the clock plan's register encodings)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from codegen.bsp_config import board_config_context, register_table
from codegen.project import template_environment
from ofa_mcu.boards import load_board
from third_party_headers import cmsis_core, stm32_include

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc (apt)")

STM32 = {"stm32f746g-disco": ("stm32f746xx.h", "-mcpu=cortex-m7"), "nucleo-h743zi2": ("stm32h743xx.h", "-mcpu=cortex-m7")}


def _board_config(board, out: Path) -> Path:
    text = template_environment().get_template("common/board_config.h.j2").render(
        banner="test", board=board, bsp=board_config_context(board, "make"))
    (out / "board_config.h").write_text(text)
    return out


def _table_asserts(blocks: tuple[str, ...], skip: set[str] = frozenset()) -> list[str]:
    """static_asserts for the base/offset/bit rows of ``blocks`` (CMSIS expression given)."""
    table = register_table()
    out = []
    for block in blocks:
        for name, (value, st) in table[block].get("base", {}).items():
            if st and name not in skip:
                out.append(f"_Static_assert(OFA_{name}_BASE == ({st}), \"{name} base\");")
        for name, (value, typ, member) in table[block].get("offset", {}).items():
            if typ and name not in skip:
                out.append(f"_Static_assert(OFA_{name}_OFS == offsetof({typ}, {member}), \"{name} offset\");")
        for name, (value, st) in table[block].get("bit", {}).items():
            if st and name not in skip:
                out.append(f"_Static_assert(OFA_{name}_POS == ({st}), \"{name} bit\");")
    return out


def _plan_asserts(board) -> list[str]:
    """The clock plan's register encodings and the console wiring against ST's named values."""
    p = dict(board.clock.params)
    c = board.console_spec
    tx, rx = c.pin("tx"), c.pin("rx")
    gpio_en = register_table()[board.family]["gpio_enable"]
    out = [
        f"_Static_assert(OFA_CONSOLE_UART_BASE == {c.uart}_BASE, \"console UART\");",
        f"_Static_assert(OFA_GPIOA_BASE + {tx.index} * OFA_GPIO_STRIDE_BASE == GPIO{tx.port}_BASE, \"TX port\");",
        f"_Static_assert(OFA_GPIOA_BASE + {rx.index} * OFA_GPIO_STRIDE_BASE == GPIO{rx.port}_BASE, \"RX port\");",
        f"_Static_assert(OFA_CONSOLE_TX_PORT == {gpio_en}_GPIO{tx.port}EN_Pos, \"TX port clock\");",
        f"_Static_assert(OFA_CONSOLE_RX_PORT == {gpio_en}_GPIO{rx.port}EN_Pos, \"RX port clock\");",
        f"_Static_assert(OFA_CONSOLE_UART_EN_POS == {register_table()[board.family]['uart_enable'][c.uart][1]}_Pos, \"UART clock\");",
    ]
    if board.family == "stm32f7":
        out += [
            f"_Static_assert((OFA_CLK_HPRE_CODE << RCC_CFGR_HPRE_Pos) == RCC_CFGR_HPRE_DIV{p['ahb_div']}, \"HPRE\");",
            f"_Static_assert((OFA_CLK_PPRE1_CODE << RCC_CFGR_PPRE1_Pos) == RCC_CFGR_PPRE1_DIV{p['apb1_div']}, \"PPRE1\");",
            f"_Static_assert((OFA_CLK_PPRE2_CODE << RCC_CFGR_PPRE2_Pos) == RCC_CFGR_PPRE2_DIV{p['apb2_div']}, \"PPRE2\");",
            "_Static_assert((OFA_CLK_SW_PLL << RCC_CFGR_SW_Pos) == RCC_CFGR_SW_PLL, \"SW\");",
            "_Static_assert((OFA_CLK_SW_PLL << RCC_CFGR_SWS_Pos) == RCC_CFGR_SWS_PLL, \"SWS\");",
            "_Static_assert((OFA_CLK_PLLSRC_HSE << RCC_PLLCFGR_PLLSRC_Pos) == RCC_PLLCFGR_PLLSRC_HSE, \"PLLSRC\");",
            f"_Static_assert((OFA_CLK_FLASH_WAIT_STATES << FLASH_ACR_LATENCY_Pos) == FLASH_ACR_LATENCY_{p['flash_wait_states']}WS, \"LATENCY\");",
            "_Static_assert((3u << PWR_CR1_VOS_Pos) == PWR_CR1_VOS, \"VOS field is 2 bits\");",
        ]
    else:
        out += [
            f"_Static_assert((OFA_CLK_HPRE_CODE << RCC_D1CFGR_HPRE_Pos) == RCC_D1CFGR_HPRE_DIV{p['ahb_div']}, \"HPRE\");",
            f"_Static_assert((OFA_CLK_D1CPRE_CODE << RCC_D1CFGR_D1CPRE_Pos) == RCC_D1CFGR_D1CPRE_DIV{p['core_div']}, \"D1CPRE\");",
            f"_Static_assert((OFA_CLK_D1PPRE_CODE << RCC_D1CFGR_D1PPRE_Pos) == RCC_D1CFGR_D1PPRE_DIV{p['apb3_div']}, \"D1PPRE\");",
            f"_Static_assert((OFA_CLK_D2PPRE1_CODE << RCC_D2CFGR_D2PPRE1_Pos) == RCC_D2CFGR_D2PPRE1_DIV{p['apb1_div']}, \"D2PPRE1\");",
            f"_Static_assert((OFA_CLK_D2PPRE2_CODE << RCC_D2CFGR_D2PPRE2_Pos) == RCC_D2CFGR_D2PPRE2_DIV{p['apb2_div']}, \"D2PPRE2\");",
            f"_Static_assert((OFA_CLK_D3PPRE_CODE << RCC_D3CFGR_D3PPRE_Pos) == RCC_D3CFGR_D3PPRE_DIV{p['apb4_div']}, \"D3PPRE\");",
            "_Static_assert((OFA_CLK_SW_PLL << RCC_CFGR_SW_Pos) == RCC_CFGR_SW_PLL1, \"SW\");",
            "_Static_assert((OFA_CLK_SW_PLL << RCC_CFGR_SWS_Pos) == RCC_CFGR_SWS_PLL1, \"SWS\");",
            "_Static_assert((OFA_CLK_PLLSRC_HSE << RCC_PLLCKSELR_PLLSRC_Pos) == RCC_PLLCKSELR_PLLSRC_HSE, \"PLLSRC\");",
            f"_Static_assert((OFA_CLK_PLL1RGE << RCC_PLLCFGR_PLL1RGE_Pos) == RCC_PLLCFGR_PLL1RGE_{p['pll_range']}, \"RGE\");",
            f"_Static_assert((OFA_CLK_FLASH_WAIT_STATES << FLASH_ACR_LATENCY_Pos) == FLASH_ACR_LATENCY_{p['flash_wait_states']}WS, \"LATENCY\");",
            f"_Static_assert((OFA_CLK_FLASH_WRHIGHFREQ << FLASH_ACR_WRHIGHFREQ_Pos) == FLASH_ACR_WRHIGHFREQ_{p['flash_wrhighfreq'] - 1}, \"WRHIGHFREQ\");",
            "_Static_assert((3u << PWR_D3CR_VOS_Pos) == PWR_D3CR_VOS, \"VOS field is 2 bits\");",
            "_Static_assert(((OFA_CLK_DIVN1_CODE << RCC_PLL1DIVR_N1_Pos) & ~RCC_PLL1DIVR_N1) == 0, \"DIVN1 fits\");",
            "_Static_assert(((OFA_CLK_DIVP1_CODE << RCC_PLL1DIVR_P1_Pos) & ~RCC_PLL1DIVR_P1) == 0, \"DIVP1 fits\");",
            "_Static_assert(((OFA_CLK_DIVM1 << RCC_PLLCKSELR_DIVM1_Pos) & ~RCC_PLLCKSELR_DIVM1) == 0, \"DIVM1 fits\");",
        ]
    return out


def _compile(src: Path, flags: list[str], includes: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(["arm-none-eabi-gcc", *flags, "-mthumb", "-std=c11", "-fsyntax-only", "-Werror",
                           *[f"-I{i}" for i in includes], str(src)], capture_output=True, text=True)


@pytest.mark.parametrize("name", sorted(STM32))
def test_stm32_registers_equal_st_headers(name, tmp_path):
    board = load_board(name)
    header, cpu = STM32[name]
    st_inc = stm32_include(board.family)
    core_inc, _ = cmsis_core()
    gen = _board_config(board, tmp_path)
    asserts = _table_asserts(("cortexm", board.family)) + _plan_asserts(board)
    src = tmp_path / "check.c"
    src.write_text(f"#include <stddef.h>\n#include \"{header}\"\n#include \"board_config.h\"\n" + "\n".join(asserts) + "\n")
    proc = _compile(src, [cpu], [st_inc, core_inc, gen])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len(asserts) > 80
    # The check is real: a wrong bit position fails to compile.
    bad = tmp_path / "bad.c"
    bad.write_text(src.read_text() + "_Static_assert(OFA_RCC_CR_HSEON_POS == RCC_CR_HSERDY_Pos, \"must fail\");\n")
    assert _compile(bad, [cpu], [st_inc, core_inc, gen]).returncode != 0


def test_cortex_m4_core_registers_equal_core_cm4(tmp_path):
    """The QEMU Cortex-M4 board uses the DWT/DCB/SCB rows too: check them against core_cm4.h
    (the cache rows are Cortex-M7 only)."""
    board = load_board("qemu-mps2-an386")
    core_inc, dfp = cmsis_core()
    gen = _board_config(board, tmp_path)
    m7_only = set(register_table()["cortexm"].get("m7_only", []))
    asserts = _table_asserts(("cortexm",), skip=m7_only)
    src = tmp_path / "check.c"
    src.write_text("#include <stddef.h>\n#define ARMCM4_FP\n#include \"ARMCM4.h\"\n#include \"board_config.h\"\n"
                   + "\n".join(asserts) + "\n")
    proc = _compile(src, ["-mcpu=cortex-m4"], [core_inc, dfp / "ARMCM4/Include", gen])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len(asserts) >= 12
