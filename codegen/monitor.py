"""The board's serial console after flashing (``ofa-mcu flash --monitor``), with pyserial.

The port is the one ``--port`` names (a device path or a pyserial URL such as
``socket://host:port``), else the only connected port whose USB id is one of the board's
(``[console] usb_ids``: the ST-LINK's virtual COM port, the Pico's or the Arduino's USB serial
port, the ESP32 DevKitC's USB-UART bridge). Boards that re-enumerate their USB port after a reset
(USB CDC) are given a few seconds to come back. Lines are printed as they arrive; the monitor
ends at the firmware's ``ofa: status N`` line (returning N), after ``timeout`` seconds, or on
Ctrl-C.
"""
from __future__ import annotations

import re
import time
from typing import Callable, Iterable

from ofa_mcu.boards import Board
from ofa_mcu.errors import UserError

STATUS_RE = re.compile(r"^ofa: status (-?\d+)\s*$")
SELF_TEST_RE = re.compile(r"^ofa: self-test (PASS|FAIL)\b")
INSTALL = "pip install pyserial==3.5"


def _serial():
    try:
        import serial  # noqa: F401
        from serial.tools import list_ports  # noqa: F401
    except ImportError:
        raise UserError(f"--monitor needs pyserial; install it: {INSTALL}") from None
    import serial

    return serial


def _usb_ids(board: Board) -> set[tuple[int, int]]:
    return {(int(v, 16), int(p, 16)) for v, p in (x.split(":") for x in board.console_spec.usb_ids)}


def matching_ports(board: Board, ports: Iterable) -> list[str]:
    """Devices among ``ports`` (pyserial ``ListPortInfo``-like: ``device``, ``vid``, ``pid``)
    whose USB id is one of the board's."""
    ids = _usb_ids(board)
    return sorted(p.device for p in ports if (getattr(p, "vid", None), getattr(p, "pid", None)) in ids)


def find_port(board: Board, port: str | None = None, ports: Iterable | None = None) -> str:
    """``port`` if given, else the one connected port with the board's USB id; none or several
    is a UserError saying to pass ``--port``."""
    if port:
        return port
    if ports is None:
        from serial.tools import list_ports

        _serial()
        ports = list_ports.comports()
    found = matching_ports(board, ports)
    ids = ", ".join(board.console_spec.usb_ids) or "none known"
    if not found:
        raise UserError(f"no serial port of {board.name} is connected (USB ids {ids}); plug it in or pass --port")
    if len(found) > 1:
        raise UserError(f"{len(found)} ports look like {board.name} ({', '.join(found)}); pass --port with one of them")
    return found[0]


def _open_keeping_input(serial, url: str, baud: int):
    """pyserial's ``open()`` ends by discarding the input already received; a monitor wants those
    bytes (a board or QEMU can print its whole run between the connect and that flush)."""
    port = serial.serial_for_url(url, baudrate=baud, timeout=0.2, do_not_open=True)
    # socket:// flushes through reset_input_buffer, POSIX ports through _reset_input_buffer
    # (pyserial 3.5): both are shadowed for the open() call only.
    flushes = [name for name in ("reset_input_buffer", "_reset_input_buffer") if hasattr(port, name)]
    for name in flushes:
        setattr(port, name, lambda: None)
    try:
        port.open()
    finally:
        for name in flushes:
            delattr(port, name)
    return port


def open_port(url: str, baud: int, wait_s: float = 10.0, open_fn: Callable | None = None):
    """The opened port; retries for ``wait_s`` seconds while it is absent (USB CDC ports come
    back a moment after the board resets)."""
    serial = _serial()
    open_fn = open_fn or (lambda: _open_keeping_input(serial, url, baud))
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return open_fn()
        except (serial.SerialException, OSError) as exc:
            if time.monotonic() >= deadline:
                raise UserError(f"cannot open the serial port {url} ({exc}); check the cable and --port") from None
            time.sleep(0.25)


def reset_board(port, line: str, pulse_s: float = 0.1) -> bool:
    """Reset the board behind ``port`` through a modem line (``"rts"``: DTR released so the chip
    boots from flash, then RTS pulsed, which pulls EN low on an ESP32 DevKitC: esptool's
    ``hard_reset``). False when the port has no such line (the user presses RESET instead)."""
    if line != "rts":
        raise UserError(f"cannot reset a board through {line!r}; the board file's reset_on_open must be rts")
    serial = _serial()
    try:
        port.dtr = False
        port.rts = True
        time.sleep(pulse_s)
        port.rts = False
    except (serial.SerialException, OSError):
        return False
    return True


def monitor(port, *, timeout: float | None = None, echo: Callable[[str], None] = print) -> int:
    """Print the lines ``port`` (an open pyserial port) delivers. Returns the firmware's status
    from its ``ofa: status N`` line; on ``timeout`` or Ctrl-C, 0 if the self-test passed or had
    not been reported yet, 1 if it failed."""
    serial = _serial()
    deadline = None if timeout is None else time.monotonic() + timeout
    buf = b""
    verdict = None

    def take(raw: bytes) -> int | None:
        nonlocal verdict
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        echo(line)
        if m := SELF_TEST_RE.match(line):
            verdict = m.group(1)
        m = STATUS_RE.match(line)
        return int(m.group(1)) if m else None

    try:
        while deadline is None or time.monotonic() < deadline:
            try:
                # What has arrived (at least one byte, or the read timeout): a read asking for more
                # than is there could meet the end of a socket stream and lose what it had.
                chunk = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                # A board (or QEMU) that stops right after its status line can take the line's
                # last byte with it: the unterminated tail still counts.
                if buf and (status := take(buf)) is not None:
                    return status
                raise UserError(f"the serial port went away ({exc}); did the board reset or unplug?") from None
            if not chunk:
                continue
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                if (status := take(raw)) is not None:
                    return status
    except KeyboardInterrupt:
        echo("ofa-mcu: monitor stopped (Ctrl-C)")
    finally:
        port.close()
    if deadline is not None and time.monotonic() >= deadline:
        echo(f"ofa-mcu: monitor ended after {timeout:g} s" + (f" (self-test {verdict})" if verdict else ""))
    return 1 if verdict == "FAIL" else 0


__all__ = ["find_port", "matching_ports", "monitor", "open_port", "reset_board"]
