"""Clock plans: the ``[clock]`` table of a board file, checked against the chip's rules.

A plan says how the generated firmware clocks the core (oscillator, PLL factors, bus dividers,
voltage scaling, flash wait states, caches). :func:`parse_clock` validates it with the limits of
the family's reference manual and returns a :class:`ClockPlan` with the derived frequencies; a
plan the chip cannot run (a PLL out of range, too few wait states for the frequency) is a
one-line :class:`~ofa_mcu.errors.UserError` naming the field. Pure arithmetic: the BSP C code
only programs the values (``codegen.bsp_config`` turns a plan into ``board_config.h``).

One rule checker per family (``FAMILIES``):

- ``stm32f7``: RM0385 (STM32F75x/74x) section 5 (RCC) and 3.3.2 (flash): PLL input 1-2 MHz,
  VCO 100-432 MHz, PLLP 2/4/6/8, over-drive above 180 MHz at voltage scale 1, HCLK 216 MHz,
  APB1 54 MHz, APB2 108 MHz, one flash wait state per 30 MHz of HCLK at 2.7-3.6 V (Table 5).
- ``stm32h7``: RM0433 (STM32H742/743/753/750) sections 8 (RCC), 6 (PWR) and 4.3.8 (Table 17,
  flash wait states and programming delay): PLL reference 1-16 MHz, wide VCO 192-836 MHz,
  medium 150-420 MHz, core 400/300/200 MHz at VOS1/2/3, AXI/AHB half that, APB 100/75/50 MHz.
  VOS0 (480 MHz) exists only on silicon revision V and is not used here (see nucleo-h743zi2.toml).
- ``rp2040``: RP2040 datasheet 2.18 (PLL) and the Pico SDK's limits: reference >= 5 MHz,
  FBDIV 16-320, VCO 750-1600 MHz, post dividers 1-7.
- ``esp32s3``: the CPU frequencies ESP-IDF offers (80/160/240 MHz).
- ``mps2``, ``nrf52``: a fixed clock (the FPGA image's 25 MHz; the nRF52840's 64 MHz).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from ..errors import UserError
from .validate import check_type, choice, in_range, mhz, need, optional

MHZ = 1_000_000

# Build systems whose framework sets the clock itself: [clock.frameworks] says to what.
FRAMEWORK_BUILD_SYSTEMS = ("platformio", "arduino")


@dataclass(frozen=True)
class ClockPlan:
    """A validated clock plan.

    ``sysclk_hz`` is the core clock the ofa-mcu firmware sets, ``hclk_hz`` the AHB/AXI clock,
    ``buses`` the peripheral bus clocks by name (``apb1`` ...), ``params`` the plan's own values
    plus what the rules derived from them (``pll_range``, ``pll_vcosel``...), ``frameworks`` the
    core clock each framework build system sets on its own (stm32duino, Arduino Mbed...).
    """

    family: str
    sysclk_hz: int
    hclk_hz: int
    buses: Mapping[str, int]
    params: Mapping[str, Any]
    icache: bool = False
    dcache: bool = False
    frameworks: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def cpu_hz(self, build_system: str | None = None) -> int:
        """The core clock of firmware built with ``build_system`` (the plan's unless a
        framework sets its own)."""
        return int(self.frameworks.get(build_system, self.sysclk_hz)) if build_system else self.sysclk_hz

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {"family": self.family, "sysclk_hz": self.sysclk_hz, "hclk_hz": self.hclk_hz, "buses": dict(self.buses),
                "params": dict(self.params), "icache": self.icache, "dcache": self.dcache,
                "frameworks": dict(self.frameworks)}


def _ints(table: dict, keys: tuple[str, ...], where: str) -> dict[str, int]:
    return {k: need(table, k, int, where) for k in keys}


def _bools(table: dict, keys: tuple[str, ...], where: str) -> dict[str, bool]:
    return {k: optional(table, k, bool, where, False) for k in keys}


def _divider(value: int, allowed: tuple[int, ...], key: str, where: str) -> int:
    if value not in allowed:
        raise UserError(f"{where}: {key} = {value} is not one of {', '.join(map(str, allowed))}; fix the board file")
    return value


def _at_most(hz: float, limit: float, what: str, where: str, fix: str) -> None:
    if hz > limit:
        raise UserError(f"{where}: {what} {mhz(hz)} is above the {mhz(limit)} limit; {fix}")


AHB_DIVS = (1, 2, 4, 8, 16, 64, 128, 256, 512)
APB_DIVS = (1, 2, 4, 8, 16)

# --- STM32F7 (RM0385) -------------------------------------------------------------------------

# HCLK limit by voltage scale without / with over-drive (RM0385 5.1.4, datasheet DS10916 table 17).
F7_HCLK_MAX = {1: (180 * MHZ, 216 * MHZ), 2: (168 * MHZ, 180 * MHZ), 3: (144 * MHZ, 144 * MHZ)}
# Flash: one wait state per 30 MHz of HCLK at VDD 2.7-3.6 V (RM0385 Table 5); the boards run at 3.3 V.
F7_FLASH_MHZ_PER_WS = 30


def f7_min_wait_states(hclk_hz: int) -> int:
    """Flash wait states RM0385 Table 5 requires at ``hclk_hz`` (VDD 2.7-3.6 V)."""
    return max(0, math.ceil(hclk_hz / (F7_FLASH_MHZ_PER_WS * MHZ)) - 1)


def _stm32f7(t: dict, where: str, max_hz: int) -> tuple[int, int, dict, dict]:
    p = _ints(t, ("hse_hz", "pllm", "plln", "pllp", "pllq", "ahb_div", "apb1_div", "apb2_div", "voltage_scale",
                  "flash_wait_states"), where)
    p.update(_bools(t, ("hse_bypass", "overdrive", "art_accelerator", "prefetch"), where))
    in_range(p["hse_hz"], 4 * MHZ, (50 if p["hse_bypass"] else 26) * MHZ, "hse_hz", where, "RM0385 5.2.1")
    in_range(p["pllm"], 2, 63, "pllm", where, "RCC_PLLCFGR.PLLM")
    in_range(p["plln"], 50, 432, "plln", where, "RCC_PLLCFGR.PLLN")
    _divider(p["pllp"], (2, 4, 6, 8), "pllp", where)
    in_range(p["pllq"], 2, 15, "pllq", where, "RCC_PLLCFGR.PLLQ")
    in_range(p["voltage_scale"], 1, 3, "voltage_scale", where, "PWR_CR1.VOS")
    ref = p["hse_hz"] / p["pllm"]
    if not 1 * MHZ <= ref <= 2 * MHZ:
        raise UserError(f"{where}: PLL input hse_hz / pllm = {mhz(ref)} is out of range 1..2 MHz (RM0385 "
                        "RCC_PLLCFGR.PLLM); change pllm")
    vco = ref * p["plln"]
    if not 100 * MHZ <= vco <= 432 * MHZ:
        raise UserError(f"{where}: PLL VCO hse_hz / pllm x plln = {mhz(vco)} is out of range 100..432 MHz; change plln")
    sysclk = vco / p["pllp"]
    _at_most(vco / p["pllq"], 48 * MHZ, "PLL Q output (USB/SDMMC/RNG)", where, "raise pllq")
    for k in ("ahb_div",):
        _divider(p[k], AHB_DIVS, k, where)
    for k in ("apb1_div", "apb2_div"):
        _divider(p[k], APB_DIVS, k, where)
    hclk = sysclk / p["ahb_div"]
    plain, od = F7_HCLK_MAX[p["voltage_scale"]]
    limit = od if p["overdrive"] else plain
    if p["overdrive"] and p["voltage_scale"] == 3:
        raise UserError(f"{where}: overdrive needs voltage_scale 1 or 2 (RM0385 4.1.4); fix the board file")
    _at_most(hclk, limit, f"HCLK at voltage scale {p['voltage_scale']}{' with over-drive' if p['overdrive'] else ''}",
             where, "lower the PLL or set overdrive = true at voltage_scale = 1")
    _at_most(hclk, max_hz, "HCLK", where, "lower the PLL (max_clock_hz is the chip's rating)")
    buses = {"apb1": hclk / p["apb1_div"], "apb2": hclk / p["apb2_div"]}
    _at_most(buses["apb1"], 54 * MHZ, "APB1 clock", where, "raise apb1_div")
    _at_most(buses["apb2"], 108 * MHZ, "APB2 clock", where, "raise apb2_div")
    need_ws = f7_min_wait_states(int(hclk))
    in_range(p["flash_wait_states"], 0, 15, "flash_wait_states", where, "FLASH_ACR.LATENCY")
    if p["flash_wait_states"] < need_ws:
        raise UserError(f"{where}: flash_wait_states = {p['flash_wait_states']} is too low for HCLK {mhz(hclk)}: RM0385 "
                        f"Table 5 needs {need_ws} at 2.7-3.6 V; fix the board file")
    p["pll_q_hz"] = int(vco / p["pllq"])
    return int(sysclk), int(hclk), buses, p


# --- STM32H7 (RM0433) -------------------------------------------------------------------------

# Per voltage scale: max core (sys_ck), max AXI/AHB (rcc_hclk), max APB (RM0433 Table 55/56,
# datasheet DS12110 table 23, revision Y and V).
H7_LIMITS = {1: (400 * MHZ, 200 * MHZ, 100 * MHZ), 2: (300 * MHZ, 150 * MHZ, 75 * MHZ), 3: (200 * MHZ, 100 * MHZ, 50 * MHZ)}
# RM0433 Table 17: (wait states, WRHIGHFREQ, max AXI clock) rows per voltage scale, ascending.
H7_FLASH = {
    1: ((0, 0, 70), (1, 1, 140), (2, 1, 185), (2, 2, 210), (3, 2, 225)),
    2: ((0, 0, 55), (1, 1, 110), (2, 1, 165), (3, 2, 225)),
    3: ((0, 0, 45), (1, 1, 90), (2, 1, 135), (3, 2, 180), (4, 2, 225)),
}
# PLL reference ranges -> PLLxRGE (RM0433 RCC_PLLCFGR).
H7_PLL_RANGES = ((1 * MHZ, 2 * MHZ, 0), (2 * MHZ, 4 * MHZ, 1), (4 * MHZ, 8 * MHZ, 2), (8 * MHZ, 16 * MHZ, 3))


def h7_flash_row(hclk_hz: int, scale: int) -> tuple[int, int]:
    """``(wait states, WRHIGHFREQ)`` RM0433 Table 17 requires at AXI clock ``hclk_hz`` and VOS ``scale``."""
    for ws, wrhf, top in H7_FLASH[scale]:
        if hclk_hz <= top * MHZ:
            return ws, wrhf
    raise ValueError(f"AXI clock {mhz(hclk_hz)} is above every row of RM0433 Table 17 at VOS{scale}")


def _stm32h7(t: dict, where: str, max_hz: int) -> tuple[int, int, dict, dict]:
    p = _ints(t, ("hse_hz", "pllm", "plln", "pllp", "pllq", "pllr", "core_div", "ahb_div", "apb1_div", "apb2_div",
                  "apb3_div", "apb4_div", "voltage_scale", "flash_wait_states", "flash_wrhighfreq"), where)
    p.update(_bools(t, ("hse_bypass",), where))
    p["supply"] = choice(need(t, "supply", str, where), ("ldo",), "supply", where)
    in_range(p["hse_hz"], 4 * MHZ, (50 if p["hse_bypass"] else 48) * MHZ, "hse_hz", where, "RM0433 8.5.2")
    if p["voltage_scale"] == 0:
        raise UserError(f"{where}: voltage_scale = 0 (480 MHz) needs silicon revision V and the SYSCFG over-drive "
                        "sequence, which this BSP does not run; use voltage_scale 1 (400 MHz)")
    in_range(p["voltage_scale"], 1, 3, "voltage_scale", where, "PWR_D3CR.VOS")
    in_range(p["pllm"], 1, 63, "pllm", where, "RCC_PLLCKSELR.DIVM1")
    ref = p["hse_hz"] / p["pllm"]
    # Ranges are half-open (2 MHz is range 1, as ST's HAL picks it), the top one closed.
    rge = next((r for lo, hi, r in H7_PLL_RANGES if lo <= ref < hi or ref == hi == 16 * MHZ), None)
    if rge is None:
        raise UserError(f"{where}: PLL1 reference hse_hz / pllm = {mhz(ref)} is out of range 1..16 MHz (RM0433 "
                        "RCC_PLLCFGR.PLL1RGE); change pllm")
    vco = ref * p["plln"]
    wide = ref >= 2 * MHZ
    lo_n, hi_n, lo_v, hi_v = (4, 512, 192, 836) if wide else (8, 420, 150, 420)
    in_range(p["plln"], lo_n, hi_n, "plln", where, f"RCC_PLL1DIVR.DIVN1, {'wide' if wide else 'medium'} VCO")
    if not lo_v * MHZ <= vco <= hi_v * MHZ:
        raise UserError(f"{where}: PLL1 VCO hse_hz / pllm x plln = {mhz(vco)} is out of range {lo_v}..{hi_v} MHz "
                        f"({'wide' if wide else 'medium'} VCO, RM0433 8.7.3); change plln")
    in_range(p["pllp"], 2, 128, "pllp", where, "RCC_PLL1DIVR.DIVP1")
    if p["pllp"] % 2:
        raise UserError(f"{where}: pllp = {p['pllp']} must be even (RM0433: DIVP1 takes even factors only); fix the board file")
    for k in ("pllq", "pllr"):
        in_range(p[k], 1, 128, k, where, "RCC_PLL1DIVR")
    for k in ("core_div", "ahb_div"):
        _divider(p[k], AHB_DIVS, k, where)
    for k in ("apb1_div", "apb2_div", "apb3_div", "apb4_div"):
        _divider(p[k], APB_DIVS, k, where)
    sysclk = vco / p["pllp"] / p["core_div"]
    hclk = sysclk / p["ahb_div"]
    cpu_max, hclk_max, apb_max = H7_LIMITS[p["voltage_scale"]]
    scale = f"VOS{p['voltage_scale']}"
    _at_most(sysclk, min(cpu_max, max_hz), f"core clock at {scale}", where, "lower the PLL or the voltage scale number")
    _at_most(hclk, hclk_max, f"AXI/AHB clock at {scale}", where, "raise ahb_div")
    buses = {"apb1": hclk / p["apb1_div"], "apb2": hclk / p["apb2_div"], "apb3": hclk / p["apb3_div"],
             "apb4": hclk / p["apb4_div"]}
    for name, hz in buses.items():
        _at_most(hz, apb_max, f"{name.upper()} clock at {scale}", where, f"raise {name}_div")
    in_range(p["flash_wait_states"], 0, 7, "flash_wait_states", where, "FLASH_ACR.LATENCY")
    in_range(p["flash_wrhighfreq"], 0, 3, "flash_wrhighfreq", where, "FLASH_ACR.WRHIGHFREQ")
    try:
        ws, wrhf = h7_flash_row(int(hclk), p["voltage_scale"])
    except ValueError as exc:
        raise UserError(f"{where}: {exc}; raise ahb_div") from None
    if p["flash_wait_states"] < ws or p["flash_wrhighfreq"] < wrhf:
        raise UserError(f"{where}: flash_wait_states = {p['flash_wait_states']}, flash_wrhighfreq = "
                        f"{p['flash_wrhighfreq']} are too low for AXI {mhz(hclk)} at {scale}: RM0433 Table 17 needs "
                        f"{ws} and {wrhf}; fix the board file")
    p["pll_range"], p["pll_vcosel"] = rge, 0 if wide else 1
    return int(sysclk), int(hclk), buses, p


# --- RP2040 ------------------------------------------------------------------------------------


def _rp2040(t: dict, where: str, max_hz: int) -> tuple[int, int, dict, dict]:
    p = _ints(t, ("xosc_hz", "refdiv", "fbdiv", "postdiv1", "postdiv2"), where)
    in_range(p["xosc_hz"], 1 * MHZ, 15 * MHZ, "xosc_hz", where, "RP2040 datasheet 2.16")
    in_range(p["refdiv"], 1, 63, "refdiv", where, "PLL CS.REFDIV")
    in_range(p["fbdiv"], 16, 320, "fbdiv", where, "PLL FBDIV_INT")
    in_range(p["postdiv1"], 1, 7, "postdiv1", where, "PLL PRIM.POSTDIV1")
    in_range(p["postdiv2"], 1, 7, "postdiv2", where, "PLL PRIM.POSTDIV2")
    ref = p["xosc_hz"] / p["refdiv"]
    if ref < 5 * MHZ:
        raise UserError(f"{where}: PLL reference xosc_hz / refdiv = {mhz(ref)} is below 5 MHz (RP2040 datasheet "
                        "2.18.2); lower refdiv")
    vco = ref * p["fbdiv"]
    if not 750 * MHZ <= vco <= 1600 * MHZ:
        raise UserError(f"{where}: PLL VCO xosc_hz / refdiv x fbdiv = {mhz(vco)} is out of range 750..1600 MHz; "
                        "change fbdiv")
    div = p["postdiv1"] * p["postdiv2"]
    if vco % div:
        raise UserError(f"{where}: VCO {mhz(vco)} is not a multiple of postdiv1 x postdiv2 = {div}; the SDK needs "
                        "an exact clock")
    sysclk = int(vco // div)
    _at_most(sysclk, max_hz, "system clock", where, "raise the post dividers (max_clock_hz is the chip's rating)")
    p["vco_hz"] = int(vco)
    return sysclk, sysclk, {"peri": sysclk}, p


# --- fixed clocks and ESP-IDF ------------------------------------------------------------------


def _fixed(t: dict, where: str, max_hz: int) -> tuple[int, int, dict, dict]:
    hz = need(t, "sysclk_hz", int, where)
    in_range(hz, 1, max_hz, "sysclk_hz", where, "max_clock_hz")
    return hz, hz, {"peri": hz}, {"sysclk_hz": hz}


def _esp32s3(t: dict, where: str, max_hz: int) -> tuple[int, int, dict, dict]:
    hz = need(t, "sysclk_hz", int, where)
    if hz not in (80 * MHZ, 160 * MHZ, 240 * MHZ):
        raise UserError(f"{where}: sysclk_hz = {hz} is not a CPU frequency ESP-IDF offers (80, 160 or 240 MHz; "
                        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ); fix the board file")
    in_range(hz, 1, max_hz, "sysclk_hz", where, "max_clock_hz")
    return hz, hz, {"apb": 80 * MHZ}, {"sysclk_hz": hz}


@dataclass(frozen=True)
class Family:
    """A chip family: its clock-plan rules, and whether its L1 caches can be switched on."""

    rules: Callable[[dict, str, int], tuple[int, int, dict, dict]]
    has_l1_cache: bool = False


FAMILIES: dict[str, Family] = {
    "stm32f7": Family(_stm32f7, has_l1_cache=True),
    "stm32h7": Family(_stm32h7, has_l1_cache=True),
    "mps2": Family(_fixed, has_l1_cache=True),  # the AN500 image's Cortex-M7 has them; the M4 does not
    "nrf52": Family(_fixed),
    "rp2040": Family(_rp2040),
    "esp32s3": Family(_esp32s3),
}


def parse_clock(table: dict, family: str, core: str, max_hz: int, where: str) -> ClockPlan:
    """Validate a board's ``[clock]`` table for ``family`` (a key of :data:`FAMILIES`)."""
    where = f"{where} [clock]"
    fam = FAMILIES[family]
    body = {k: v for k, v in table.items() if k != "frameworks"}
    sysclk, hclk, buses, params = fam.rules(body, where, max_hz)
    caches = _bools(body, ("icache", "dcache"), where)
    if (caches["icache"] or caches["dcache"]) and not (fam.has_l1_cache and core == "cortex-m7"):
        raise UserError(f"{where}: icache/dcache need a Cortex-M7 with L1 caches ({core} on {family} has none); "
                        "set them to false")
    frameworks = check_type(table.get("frameworks", {}), "frameworks", dict, where)
    fw = {}
    for bs, hz in frameworks.items():
        choice(bs, FRAMEWORK_BUILD_SYSTEMS, "[clock.frameworks] build system", where)
        check_type(hz, f"frameworks.{bs}", int, where)
        in_range(hz, 1, max_hz, f"frameworks.{bs}", where, "max_clock_hz")
        fw[bs] = hz
    return ClockPlan(family, sysclk, hclk, MappingProxyType({k: int(v) for k, v in buses.items()}),
                     MappingProxyType(params), caches["icache"], caches["dcache"], MappingProxyType(fw))


__all__ = ["ClockPlan", "FAMILIES", "Family", "f7_min_wait_states", "h7_flash_row", "parse_clock"]
