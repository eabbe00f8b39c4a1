"""``ofa-mcu flash --monitor``: the board's port found by its USB id, lines read with pyserial
from a real pseudo-terminal until the firmware's status line, timeouts, ports that come back
after a reset, and the CLI's choices (QEMU boards show the console in the run itself)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import serial

from codegen.monitor import find_port, matching_ports, monitor, open_port
from ofa_mcu.boards import load_board
from ofa_mcu.cli import main as cli_main
from ofa_mcu.errors import UserError


def _port(device, vid, pid):
    return SimpleNamespace(device=device, vid=vid, pid=pid)


def test_find_port_by_the_boards_usb_ids():
    f7 = load_board("stm32f746g-disco")
    ports = [_port("/dev/ttyACM0", 0x2E8A, 0x000A), _port("/dev/ttyACM1", 0x0483, 0x374B), _port("/dev/ttyS0", None, None)]
    assert find_port(f7, ports=ports) == "/dev/ttyACM1"
    assert find_port(load_board("rpi-pico"), ports=ports) == "/dev/ttyACM0"
    assert find_port(f7, "/dev/ttyUSB7", ports=[]) == "/dev/ttyUSB7"
    with pytest.raises(UserError, match=r"no serial port of nucleo-h743zi2 is connected \(USB ids 0483:374e"):
        find_port(load_board("nucleo-h743zi2"), ports=ports)
    two = ports + [_port("/dev/ttyACM2", 0x0483, 0x374B)]
    with pytest.raises(UserError, match=r"2 ports look like stm32f746g-disco \(/dev/ttyACM1, /dev/ttyACM2\); pass --port"):
        find_port(f7, ports=two)
    assert matching_ports(load_board("esp32-s3-devkitc"), [_port("/dev/ttyUSB0", 0x10C4, 0xEA60)]) == ["/dev/ttyUSB0"]


@pytest.fixture
def pty():
    """A pseudo-terminal: the test writes the board's side, the monitor opens the other end."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def _board_says(master: int, chunks: list[bytes], pause: float = 0.05):
    def run():
        for c in chunks:
            time.sleep(pause)
            os.write(master, c)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_monitor_prints_lines_until_the_status_line(pty):
    master, path = pty
    port = open_port(path, 115200)
    lines: list[str] = []
    # a line split across writes, CRLF endings, then the status
    t = _board_says(master, [b"ofa: vww on stm32f746g-disco\r\nofa: inference 4", b"2 cycles, 1 us at 216 MHz\r\n",
                             b"ofa: self-test PASS: class 1\r\n", b"ofa: status 0\r\n", b"never read\r\n"])
    assert monitor(port, timeout=20, echo=lines.append) == 0
    t.join()
    assert lines == ["ofa: vww on stm32f746g-disco", "ofa: inference 42 cycles, 1 us at 216 MHz",
                     "ofa: self-test PASS: class 1", "ofa: status 0"]
    assert not port.is_open


def test_monitor_returns_the_firmwares_status_and_times_out_with_its_verdict(pty):
    master, path = pty
    port = open_port(path, 115200)
    _board_says(master, [b"ofa: status 3\n"]).join()
    assert monitor(port, timeout=20, echo=lambda s: None) == 3
    port = open_port(path, 115200)
    _board_says(master, [b"ofa: self-test FAIL: class 0\r\n"]).join()
    lines: list[str] = []
    t0 = time.monotonic()
    assert monitor(port, timeout=1.0, echo=lines.append) == 1
    assert 0.9 < time.monotonic() - t0 < 10 and lines[-1] == "ofa-mcu: monitor ended after 1 s (self-test FAIL)"


def test_open_port_waits_for_a_port_that_comes_back_after_reset():
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] < 3:
            raise serial.SerialException("could not open port /dev/ttyACM0: No such file or directory")
        return "port"

    assert open_port("/dev/ttyACM0", 115200, wait_s=5, open_fn=flaky) == "port" and calls["n"] == 3
    with pytest.raises(UserError, match=r"cannot open the serial port /dev/ttyACM9 \(.*\); check the cable and --port"):
        open_port("/dev/ttyACM9", 115200, wait_s=0.3)


def test_cli_monitor_options(tmp_path, reference_dir, capsys, monkeypatch):
    from codegen.project import emit_project

    vww = (reference_dir / "external_models" / "vww_96_int8.tflite").read_bytes()
    proj = emit_project(vww, "stm32f746g-disco", tmp_path / "p", labels=["a", "b"], arena_bytes=200_000, model_name="vww")
    assert cli_main(["flash", str(proj), "--monitor", "--monitor-timeout", "0"]) == 2
    assert "--monitor-timeout: must be a finite number > 0, got '0'" in capsys.readouterr().err
    assert cli_main(["flash", str(proj), "--monitor", "--monitor-timeout", "nan"]) == 2
    assert "got 'nan'" in capsys.readouterr().err
    monkeypatch.delenv("TFLM_DIR", raising=False)  # no tree named: the dry run prints placeholders
    assert cli_main(["flash", str(proj), "--dry-run", "--monitor"]) == 0
    out = capsys.readouterr().out
    assert "openocd -f board/stm32f7discovery.cfg -c 'program build/app.elf verify reset exit'" in out
    assert out.rstrip().endswith("# then the serial console: python3 -m serial.tools.miniterm <PORT> 115200")


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (apt)")
def test_flash_monitor_on_a_qemu_board_is_the_run_itself(tmp_path, capfd):
    from codegen.native import emit_native, testmodels as tm
    from codegen.native.reference import random_inputs, tflm_outputs

    m, shape = tm.head_model(hw=4, c=8, classes=3, seed=4)
    tfl = tm.convert(m, shape)
    x = random_inputs(np.random.default_rng(2), 1, shape)
    res = emit_native(tfl, tmp_path / "p", board="qemu-mps2-an500", test_input_int8=x,
                      expected_output_int8=tflm_outputs(tfl, x), plot=False)
    assert cli_main(["flash", str(res.out_dir), "--monitor"]) == 0
    out = capfd.readouterr().out
    assert "-serial stdio" in out and "1/1 outputs match TFLite-Micro" in out and "ofa: status 0" in out
    assert "$ monitor" not in out


def test_monitor_keeps_what_the_board_printed_before_the_port_opened(pty):
    """pyserial's open() flushes the input; a board (or QEMU) that printed its run in between
    would otherwise be lost."""
    master, path = pty
    os.write(master, b"ofa: self-test PASS: class 2\nofa: status 5\n")
    time.sleep(0.1)
    lines: list[str] = []
    assert monitor(open_port(path, 115200), timeout=5, echo=lines.append) == 5
    assert lines == ["ofa: self-test PASS: class 2", "ofa: status 5"]


def _tcp_board(payload: bytes) -> str:
    """A TCP 'board' that prints ``payload`` to its first client and hangs up (QEMU's
    ``-serial tcp:...,server=on`` when the firmware exits)."""
    srv = socket.create_server(("127.0.0.1", 0))

    def run():
        conn, _ = srv.accept()
        conn.sendall(payload)
        conn.close()
        srv.close()

    threading.Thread(target=run, daemon=True).start()
    return f"socket://127.0.0.1:{srv.getsockname()[1]}"


def test_monitor_over_a_socket_reads_to_the_hang_up():
    lines: list[str] = []
    # the status line's last byte lost with the board's exit: the unterminated tail still counts
    assert monitor(open_port(_tcp_board(b"ofa: boot\r\nofa: status 0"), 115200), timeout=20, echo=lines.append) == 0
    assert lines == ["ofa: boot", "ofa: status 0"]
    port = open_port(_tcp_board(b"ofa: boot\r\nofa: infer"), 115200)
    with pytest.raises(UserError, match=r"the serial port went away \(.*socket disconnected\); did the board reset"):
        monitor(port, timeout=20, echo=lambda s: None)


@pytest.fixture(scope="module")
def tiny_tflite() -> bytes:
    from codegen.native import testmodels as tm

    m, shape = tm.head_model(hw=4, c=8, classes=3, seed=4)
    return tm.convert(m, shape)


def _stand_in(tmp_path: Path, monkeypatch, tool: str, script: str) -> None:
    """A flash tool on PATH that runs ``script`` (no board is attached here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / tool).write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def _board_on_tcp(reset: Path) -> str:
    """A 'board' on a TCP port: what it prints when ``reset`` appears reaches only the clients
    connected at that moment (as a real VCP drops what arrives while no one has it open)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.05)
    clients: list[socket.socket] = []

    def run():
        while not reset.exists():
            try:
                clients.append(srv.accept()[0])
            except socket.timeout:
                pass
        for c in clients:
            c.sendall(b"ofa: vww on stm32f746g-disco\r\nofa: status 0\r\n")
            c.close()
        srv.close()

    threading.Thread(target=run, daemon=True).start()
    return f"socket://127.0.0.1:{srv.getsockname()[1]}"


def test_flash_monitor_opens_a_probes_port_before_the_reset(tmp_path, tiny_tflite, monkeypatch, capsys):
    """An ST-LINK board prints right after the flash's reset: a port opened once the flash tool
    has exited would miss it."""
    from codegen.project import emit_project

    assert load_board("stm32f746g-disco").console_spec.open_before_flash
    assert not load_board("rpi-pico").console_spec.open_before_flash
    proj = emit_project(tiny_tflite, "stm32f746g-disco", tmp_path / "p", labels=["a", "b", "c"], model_name="head")
    (proj / "build").mkdir(exist_ok=True)
    (proj / "build/app.elf").write_bytes(b"\x7fELF")
    reset = tmp_path / "reset"
    _stand_in(tmp_path, monkeypatch, "openocd", f"touch {reset}; sleep 0.5")
    url = _board_on_tcp(reset)
    assert cli_main(["flash", str(proj), "--no-build", "--monitor", "--port", url, "--monitor-timeout", "20"]) == 0
    out = capsys.readouterr().out
    assert out.index(f"$ monitor {url}") < out.index("openocd -f board/stm32f7discovery.cfg")
    assert "ofa: vww on stm32f746g-disco" in out and "ofa: status 0" in out


def test_flash_monitor_resets_an_esp32_through_its_port_after_esptool(tmp_path, tiny_tflite, monkeypatch, capsys):
    """esptool needs the DevKitC's port and leaves the board running: the monitor opens the
    port after it, then resets the board through RTS (a socket has no RTS line: the 'board'
    prints to whoever is connected, and the CLI says to press RESET where the pulse fails)."""
    from codegen.project import emit_project

    proj = emit_project(tiny_tflite, "esp32-s3-devkitc", tmp_path / "p", build_system="esp-idf",
                        labels=["a", "b", "c"], model_name="head")
    (proj / "build").mkdir(exist_ok=True)
    for name in ("flash_args", "app.elf"):
        (proj / "build" / name).write_text("")
    _stand_in(tmp_path, monkeypatch, "esptool.py", "exit 0")
    url = _tcp_board(b"ofa: status 0\r\n")
    assert cli_main(["flash", str(proj), "--no-build", "--monitor", "--port", url, "--monitor-timeout", "20"]) == 0
    out = capsys.readouterr().out
    assert out.index("esptool.py --chip esp32s3") < out.index(f"$ monitor {url}") < out.index("$ reset the board through RTS")


class _ModemLines:
    """What a monitor does to a port's modem lines, in order (ptys and sockets have none to watch)."""

    def __init__(self, broken: bool = False):
        self.calls: list[tuple[str, bool, float]] = []
        self.broken = broken

    def __setattr__(self, name, value):
        if name in ("dtr", "rts"):
            if self.broken:
                raise serial.SerialException("[Errno 25] Inappropriate ioctl for device")
            self.calls.append((name, value, time.monotonic()))
        else:
            object.__setattr__(self, name, value)


def test_reset_board_pulses_rts_with_dtr_released_like_esptools_hard_reset():
    from codegen.monitor import reset_board

    port = _ModemLines()
    assert reset_board(port, "rts", pulse_s=0.05)
    assert [c[:2] for c in port.calls] == [("dtr", False), ("rts", True), ("rts", False)]
    assert port.calls[2][2] - port.calls[1][2] >= 0.05
    assert not reset_board(_ModemLines(broken=True), "rts")
    with pytest.raises(UserError, match="reset_on_open must be rts"):
        reset_board(port, "dtr")
    assert load_board("esp32-s3-devkitc").console_spec.reset_on_open == "rts"
    assert load_board("stm32f746g-disco").console_spec.reset_on_open is None
