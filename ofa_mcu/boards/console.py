"""Consoles: the ``[console]`` table of a board file (where the firmware prints).

Kinds (what the BSP drives):

- ``uart``: a UART the firmware programs itself (bare-metal STM32: a USART wired to the
  ST-LINK virtual COM port; QEMU mps2: CMSDK UART0, shown by QEMU on stdio; Pico SDK: UART0
  on GP0/GP1; ESP-IDF: UART0 behind the DevKitC's USB bridge);
- ``semihosting``: output through the debugger (OpenOCD with ``arm semihosting enable``, or
  QEMU); a board without a debugger attached cannot print, so it is only used when asked;
- ``usb-cdc``: the chip's own USB as a serial port (Pico SDK stdio_usb);
- ``serial``: the Arduino core's ``Serial`` object.

``uart`` on an STM32 names the peripheral, its TX/RX pins and the alternate function; the baud
divisor comes from the clock plan's bus clock (``uart_clock_hz``), checked here to within 2 %.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UserError
from .clock import ClockPlan
from .validate import check_type, choice, in_range, need, optional

KINDS = ("uart", "semihosting", "usb-cdc", "serial")
# Which console kinds each family's BSPs can drive.
FAMILY_KINDS = {
    "stm32f7": ("uart", "semihosting"),
    "stm32h7": ("uart", "semihosting"),
    "mps2": ("uart", "semihosting"),
    "rp2040": ("usb-cdc", "uart"),
    "nrf52": ("serial",),
    "esp32s3": ("uart",),
}
# The APB bus that clocks each U(S)ART (RM0385 5.3.x / RM0433 8.7: kernel clock = its bus clock
# with the reset-default clock selection).
UART_BUS = {
    "stm32f7": {"USART1": "apb2", "USART6": "apb2", "USART2": "apb1", "USART3": "apb1", "UART4": "apb1",
                "UART5": "apb1", "UART7": "apb1", "UART8": "apb1"},
    "stm32h7": {"USART1": "apb2", "USART6": "apb2", "USART2": "apb1", "USART3": "apb1", "UART4": "apb1",
                "UART5": "apb1", "UART7": "apb1", "UART8": "apb1"},
    "mps2": {"UART0": "peri"},
    "rp2040": {"UART0": "peri"},
    "esp32s3": {"UART0": "apb"},
}
# Modem lines a monitor can reset a board with once its port is open.
RESET_LINES = ("rts",)
PIN_RE = re.compile(r"^P([A-K])(\d{1,2})$")
MAX_BAUD_ERROR = 0.02


@dataclass(frozen=True)
class Pin:
    """A GPIO pin: port letter, port index (A = 0) and pin number."""

    port: str
    index: int
    pin: int


def parse_pin(name: str, key: str, where: str) -> Pin:
    """``PA9`` -> Pin('A', 0, 9); anything else is a UserError naming the field."""
    m = PIN_RE.match(name)
    if not m or int(m.group(2)) > 15:
        raise UserError(f"{where}: {key} {name!r} is not an STM32 pin name like PA9; fix the board file")
    return Pin(m.group(1), ord(m.group(1)) - ord("A"), int(m.group(2)))


@dataclass(frozen=True)
class ConsoleSpec:
    """Where the firmware prints: the default kind, the kinds ``--console`` may choose, and the
    UART's wiring (``uart``, ``tx``, ``rx``, ``af``) with its baud rate and bus clock.

    ``host`` tells the user what the port is called on the computer; ``usb_ids`` are the
    ``VID:PID`` pairs (hex) ``flash --monitor`` looks for when no ``--port`` is given.
    ``open_before_flash``: the port belongs to the debug probe (an ST-LINK's virtual COM port)
    and stays while the target is flashed and reset, so ``flash --monitor`` opens it first and
    keeps the lines the firmware prints right after reset. ``reset_on_open`` (``"rts"``): the
    port resets the board through a modem line once opened (the ESP32 DevKitC's auto-reset
    circuit: RTS drives EN), as ``idf.py monitor`` does, since the flash tool needs the port
    itself and the board has printed its run by the time the monitor can open it.
    """

    default: str
    choices: tuple[str, ...]
    baud: int
    host: str
    usb_ids: tuple[str, ...] = ()
    open_before_flash: bool = False
    reset_on_open: str | None = None
    uart: str | None = None
    tx: str | None = None
    rx: str | None = None
    af: int | None = None
    uart_clock_hz: int | None = None

    @property
    def divisor(self) -> int | None:
        """The UART's baud divisor at the plan's bus clock (BRR / BAUDDIV), None without a UART."""
        return None if not self.uart_clock_hz else round(self.uart_clock_hz / self.baud)

    def pin(self, which: str) -> Pin | None:
        """The ``tx`` or ``rx`` pin parsed (STM32 boards), else None."""
        name = getattr(self, which)
        return parse_pin(name, which, "console") if name and PIN_RE.match(name) else None

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {"default": self.default, "choices": list(self.choices), "baud": self.baud, "host": self.host,
                "usb_ids": list(self.usb_ids), "open_before_flash": self.open_before_flash,
                "reset_on_open": self.reset_on_open, "uart": self.uart, "tx": self.tx, "rx": self.rx, "af": self.af,
                "uart_clock_hz": self.uart_clock_hz}


def parse_console(table: dict, family: str, clock: ClockPlan, where: str) -> ConsoleSpec:
    """Validate a board's ``[console]`` table against its family and clock plan."""
    where = f"{where} [console]"
    allowed = FAMILY_KINDS[family]
    default = choice(need(table, "default", str, where), allowed, "default", where)
    choices = tuple(check_type(c, "choices", str, where) for c in optional(table, "choices", list, where, [default]))
    for c in choices:
        choice(c, allowed, "console choice", where)
    if default not in choices:
        raise UserError(f"{where}: default {default!r} is not among choices {list(choices)}; fix the board file")
    baud = in_range(need(table, "baud", int, where), 1200, 4_000_000, "baud", where)
    usb_ids = tuple(check_type(x, "usb_ids", str, where) for x in optional(table, "usb_ids", list, where, []))
    for x in usb_ids:
        if not re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", x):
            raise UserError(f"{where}: usb_ids entry {x!r} is not VID:PID in hex (e.g. 0483:374b); fix the board file")
    uart = optional(table, "uart", str, where)
    spec = dict(default=default, choices=choices, baud=baud, host=need(table, "host", str, where), usb_ids=usb_ids,
                open_before_flash=optional(table, "open_before_flash", bool, where, False))
    if (reset := optional(table, "reset_on_open", str, where)) is not None:
        spec["reset_on_open"] = choice(reset, RESET_LINES, "reset_on_open", where)
    if "uart" in choices:
        if uart is None:
            raise UserError(f"{where}: a uart console needs uart = \"USART1\" (the peripheral); fix the board file")
        buses = UART_BUS.get(family, {})
        choice(uart, tuple(buses), "uart", where)
        spec.update(uart=uart, uart_clock_hz=clock.buses[buses[uart]])
        if family in ("stm32f7", "stm32h7"):
            spec.update(tx=need(table, "tx", str, where), rx=need(table, "rx", str, where),
                        af=in_range(need(table, "af", int, where), 0, 15, "af", where, "GPIO AFR"))
            parse_pin(spec["tx"], "tx", where)
            parse_pin(spec["rx"], "rx", where)
        else:
            spec.update(tx=optional(table, "tx", str, where), rx=optional(table, "rx", str, where))
        clk = spec["uart_clock_hz"]
        div = round(clk / baud)
        if div < 16:
            raise UserError(f"{where}: baud {baud} is too fast for the {clk} Hz UART clock (divisor {div} < 16)")
        err = abs(clk / div - baud) / baud
        if err > MAX_BAUD_ERROR:
            raise UserError(f"{where}: baud {baud} is {err:.1%} off at the {clk} Hz UART clock (max 2 %); change it")
    return ConsoleSpec(**spec)


__all__ = ["ConsoleSpec", "FAMILY_KINDS", "KINDS", "Pin", "RESET_LINES", "UART_BUS", "parse_console", "parse_pin"]
