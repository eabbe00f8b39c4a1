"""Board bring-up as C macros: what ``board_config.h`` holds for a board and build system.

Pure functions from the board catalog (``ofa_mcu.boards``: clock plan, console) and the
register table (``firmware/bsp/baremetal/registers.toml``) to ``(name, value, comment)``
rows; ``templates/common/board_config.h.j2`` prints them. The BSP C code only programs these
values: every number (PLL factors and their register encodings, the baud divisor, the
register addresses) is computed or checked here, once.
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass

from ofa_mcu.boards import Board

from .paths import firmware_dir

REGISTERS = "bsp/baremetal/registers.toml"

# Which firmware/bsp implementation a build system links ("platformio" depends on the framework).
BSP_OF_BUILD_SYSTEM = {
    "make": "baremetal",
    "cmake": "baremetal",
    "native-make": "baremetal",
    "pico-sdk": "pico",
    "native-pico-sdk": "pico",
    "arduino": "arduino",
    "esp-idf": "esp_idf",
}
PLATFORMIO_BSP = {"arduino": "arduino", "espidf": "esp_idf"}
# The console of the BSPs whose framework owns it (Arduino's Serial, ESP-IDF's UART0 console).
FRAMEWORK_CONSOLE = {"arduino": "serial", "esp_idf": "uart"}

# Register field encodings (RM0385 / RM0433: RCC_CFGR.HPRE, PPREx, D1CPRE, PWR VOS, SW).
AHB_CODE = {1: 0x0, 2: 0x8, 4: 0x9, 8: 0xA, 16: 0xB, 64: 0xC, 128: 0xD, 256: 0xE, 512: 0xF}
APB_CODE = {1: 0x0, 2: 0x4, 4: 0x5, 8: 0x6, 16: 0x7}
VOS_CODE = {1: 0x3, 2: 0x2, 3: 0x1}
# Clock at reset (the HSI the core starts on) per family; the console falls back to it.
RESET_HZ = {"stm32f7": 16_000_000, "stm32h7": 64_000_000}


@dataclass(frozen=True)
class Define:
    """One ``#define name value`` with a comment (may be empty)."""

    name: str
    value: str
    comment: str = ""


def bsp_of(board: Board, build_system: str) -> str:
    """The BSP (``baremetal``, ``pico``, ``arduino``, ``esp_idf``) a build system links."""
    if build_system == "platformio":
        return PLATFORMIO_BSP[board.platformio_framework]
    return BSP_OF_BUILD_SYSTEM[build_system]


@functools.cache
def register_table() -> dict:
    """``firmware/bsp/baremetal/registers.toml`` as read."""
    return tomllib.loads((firmware_dir() / REGISTERS).read_text(encoding="utf-8"))


def register_defines(family: str) -> list[Define]:
    """Base addresses, offsets and bit positions of the Cortex-M core block and ``family``."""
    table = register_table()
    out = []
    for block in ("cortexm", family):
        for kind, suffix in (("base", "BASE"), ("offset", "OFS"), ("bit", "POS")):
            for name, row in table.get(block, {}).get(kind, {}).items():
                out.append(Define(f"OFA_{name}_{suffix}", f"{row[0]:#x}u" if kind != "bit" else f"{row[0]}u"))
    return out


def _flag(name: str, on: bool, comment: str = "") -> Define:
    return Define(name, "1" if on else "0", comment)


def _u(v: int) -> str:
    return f"{int(v)}u"


def _stm32f7_clock(p: dict) -> list[Define]:
    return [
        Define("OFA_CLK_HSE_HZ", _u(p["hse_hz"])),
        _flag("OFA_CLK_HSE_BYPASS", p["hse_bypass"]),
        Define("OFA_CLK_PLLM", _u(p["pllm"])),
        Define("OFA_CLK_PLLN", _u(p["plln"])),
        Define("OFA_CLK_PLLP_CODE", _u(p["pllp"] // 2 - 1), f"PLLP /{p['pllp']}"),
        Define("OFA_CLK_PLLQ", _u(p["pllq"])),
        Define("OFA_CLK_PLLSRC_HSE", "1u", "RCC_PLLCFGR.PLLSRC: HSE"),
        Define("OFA_CLK_SW_PLL", "2u", "RCC_CFGR.SW: PLL"),
        Define("OFA_CLK_HPRE_CODE", _u(AHB_CODE[p["ahb_div"]]), f"AHB /{p['ahb_div']}"),
        Define("OFA_CLK_PPRE1_CODE", _u(APB_CODE[p["apb1_div"]]), f"APB1 /{p['apb1_div']}"),
        Define("OFA_CLK_PPRE2_CODE", _u(APB_CODE[p["apb2_div"]]), f"APB2 /{p['apb2_div']}"),
        Define("OFA_CLK_VOS_CODE", _u(VOS_CODE[p["voltage_scale"]]), f"voltage scale {p['voltage_scale']}"),
        _flag("OFA_CLK_OVERDRIVE", p["overdrive"]),
        Define("OFA_CLK_FLASH_WAIT_STATES", _u(p["flash_wait_states"])),
        _flag("OFA_CLK_ART", p["art_accelerator"]),
        _flag("OFA_CLK_PREFETCH", p["prefetch"]),
    ]


def _stm32h7_clock(p: dict) -> list[Define]:
    return [
        Define("OFA_CLK_HSE_HZ", _u(p["hse_hz"])),
        _flag("OFA_CLK_HSE_BYPASS", p["hse_bypass"]),
        _flag("OFA_CLK_SUPPLY_LDO", p["supply"] == "ldo"),
        Define("OFA_CLK_VOS_CODE", _u(VOS_CODE[p["voltage_scale"]]), f"VOS{p['voltage_scale']}"),
        Define("OFA_CLK_PLLSRC_HSE", "2u", "RCC_PLLCKSELR.PLLSRC: HSE"),
        Define("OFA_CLK_DIVM1", _u(p["pllm"])),
        Define("OFA_CLK_DIVN1_CODE", _u(p["plln"] - 1), f"x{p['plln']}"),
        Define("OFA_CLK_DIVP1_CODE", _u(p["pllp"] - 1), f"/{p['pllp']}"),
        Define("OFA_CLK_DIVQ1_CODE", _u(p["pllq"] - 1), f"/{p['pllq']}"),
        Define("OFA_CLK_DIVR1_CODE", _u(p["pllr"] - 1), f"/{p['pllr']}"),
        Define("OFA_CLK_PLL1RGE", _u(p["pll_range"]), "reference range"),
        Define("OFA_CLK_PLL1VCOSEL", _u(p["pll_vcosel"]), "0: wide VCO, 1: medium"),
        Define("OFA_CLK_SW_PLL", "3u", "RCC_CFGR.SW: PLL1"),
        Define("OFA_CLK_D1CPRE_CODE", _u(AHB_CODE[p["core_div"]]), f"core /{p['core_div']}"),
        Define("OFA_CLK_HPRE_CODE", _u(AHB_CODE[p["ahb_div"]]), f"AXI/AHB /{p['ahb_div']}"),
        Define("OFA_CLK_D1PPRE_CODE", _u(APB_CODE[p["apb3_div"]]), f"APB3 /{p['apb3_div']}"),
        Define("OFA_CLK_D2PPRE1_CODE", _u(APB_CODE[p["apb1_div"]]), f"APB1 /{p['apb1_div']}"),
        Define("OFA_CLK_D2PPRE2_CODE", _u(APB_CODE[p["apb2_div"]]), f"APB2 /{p['apb2_div']}"),
        Define("OFA_CLK_D3PPRE_CODE", _u(APB_CODE[p["apb4_div"]]), f"APB4 /{p['apb4_div']}"),
        Define("OFA_CLK_FLASH_WAIT_STATES", _u(p["flash_wait_states"])),
        Define("OFA_CLK_FLASH_WRHIGHFREQ", _u(p["flash_wrhighfreq"])),
    ]


CLOCK_DEFINES = {"stm32f7": _stm32f7_clock, "stm32h7": _stm32h7_clock}


def _uart_defines(board: Board) -> list[Define]:
    c = board.console_spec
    out = [Define("OFA_CONSOLE_BAUD", _u(c.baud)),
           Define("OFA_CONSOLE_UART_CLK_HZ", _u(c.uart_clock_hz), f"{c.uart}'s bus clock in the clock plan")]
    if board.family == "mps2":
        return out + [Define("OFA_CONSOLE_UART_BASE", "OFA_UART0_BASE", c.uart)]
    table = register_table()[board.family]
    reg, bit = table["uart_enable"][c.uart]
    tx, rx = c.pin("tx"), c.pin("rx")
    return out + [
        Define("OFA_CONSOLE_UART_BASE", f"OFA_{c.uart}_BASE", f"{c.uart} on {c.tx}/{c.rx} AF{c.af}"),
        Define("OFA_CONSOLE_UART_ENR_OFS", f"OFA_{reg}_OFS"),
        Define("OFA_CONSOLE_UART_EN_POS", f"OFA_{bit}_POS"),
        Define("OFA_GPIO_ENR_OFS", f"OFA_{table['gpio_enable']}_OFS", "bit n gates GPIO port n"),
        Define("OFA_CONSOLE_TX_PORT", _u(tx.index), f"GPIO{tx.port}"),
        Define("OFA_CONSOLE_TX_PIN", _u(tx.pin)),
        Define("OFA_CONSOLE_RX_PORT", _u(rx.index), f"GPIO{rx.port}"),
        Define("OFA_CONSOLE_RX_PIN", _u(rx.pin)),
        Define("OFA_CONSOLE_AF", _u(c.af)),
    ]


def baremetal_defines(board: Board) -> list[Define]:
    """The bare-metal BSP's family, clock plan, caches, console wiring and registers."""
    fam = board.family
    out = [_flag(f"OFA_FAMILY_{f.upper()}", f == fam) for f in ("stm32f7", "stm32h7", "mps2")]
    out += [
        Define("OFA_RESET_HZ", _u(RESET_HZ.get(fam, board.clock.sysclk_hz)), "core clock before the clock plan runs"),
        Define("OFA_PLAN_HCLK_HZ", _u(board.clock.hclk_hz), "AHB/AXI clock of the plan"),
        _flag("OFA_CLK_ICACHE", board.clock.icache, "Cortex-M7 L1 instruction cache"),
        _flag("OFA_CLK_DCACHE", board.clock.dcache, "Cortex-M7 L1 data cache"),
        _flag("OFA_EXIT_SEMIHOSTING", board.is_qemu, "end the run with a semihosting exit (QEMU)"),
        _flag("OFA_SEMIHOSTING_NEEDS_DEBUGGER", not board.is_qemu,
              "semihosting only with a debugger attached (else it would fault)"),
    ]
    out += CLOCK_DEFINES.get(fam, lambda p: [])(dict(board.clock.params))
    if board.console == "uart":
        out += _uart_defines(board)
    return out


def pico_clock_defines(board: Board) -> list[str]:
    """Compile definitions that make the Pico SDK's boot-time clock set-up (runtime_init_clocks)
    program the board's plan instead of its 125 MHz default (hardware/clocks.h names)."""
    if board.family != "rp2040":
        return []
    p = board.clock.params
    return [f"XOSC_HZ={p['xosc_hz']}", f"SYS_CLK_HZ={board.clock.sysclk_hz}", f"PLL_SYS_REFDIV={p['refdiv']}",
            f"PLL_SYS_VCO_FREQ_HZ={p['vco_hz']}", f"PLL_SYS_POSTDIV1={p['postdiv1']}",
            f"PLL_SYS_POSTDIV2={p['postdiv2']}"]


def board_config_context(board: Board, build_system: str) -> dict:
    """The ``bsp`` context of ``board_config.h.j2``: ``kind`` (the BSP), ``cpu_hz`` (what the
    firmware's clock really is with this build system), ``defines`` (rows) and ``registers``
    (register rows, bare-metal BSP only)."""
    kind = bsp_of(board, build_system)
    cpu_hz = board.cpu_hz(build_system)
    con = FRAMEWORK_CONSOLE.get(kind, board.console)
    common = [
        Define("OFA_CPU_HZ", _u(cpu_hz), "core clock the firmware runs at (set by "
               + ("the BSP's clock plan" if kind == "baremetal" and board.family != "mps2" else
                  "the FPGA image" if board.family == "mps2" else "the SDK/framework") + ")"),
        Define("OFA_MAX_CPU_HZ", _u(board.max_clock_hz), "the chip's rating"),
        _flag("OFA_HAS_DWT_CYCLE_COUNTER", board.cycle_counter == "dwt"),
        _flag("OFA_CYCLE_COUNTER_SYSTICK", board.cycle_counter == "systick"),
        _flag("OFA_CORE_IS_CORTEX_M7", board.core == "cortex-m7"),
        _flag("OFA_INPUT_SOURCE_SERIAL", board.input_source == "serial"),
        _flag("OFA_INPUT_SOURCE_CAMERA", board.input_source == "camera"),
        Define("OFA_SERIAL_BAUD", _u(board.console_spec.baud)),
        _flag("OFA_CONSOLE_UART", con == "uart"),
        _flag("OFA_CONSOLE_SEMIHOSTING", con == "semihosting"),
        _flag("OFA_CONSOLE_USB_CDC", con == "usb-cdc"),
    ]
    defines = common + (baremetal_defines(board) if kind == "baremetal" else [])
    registers = register_defines(board.family) if kind == "baremetal" else []
    return {"kind": kind, "cpu_hz": cpu_hz, "console": con, "defines": defines, "registers": registers,
            "reset_hz": RESET_HZ.get(board.family, board.clock.sysclk_hz),
            "pico_clock_defines": pico_clock_defines(board) if kind == "pico" else []}


__all__ = ["Define", "board_config_context", "bsp_of", "baremetal_defines", "pico_clock_defines", "register_defines",
           "register_table"]
