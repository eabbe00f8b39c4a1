"""The bare-metal console and bring-up on real images: native firmware for the QEMU Cortex-M4
and Cortex-M7 boards prints its result on the emulated CMSDK UART (not semihosting: with QEMU's
serial port disconnected nothing comes out) and passes its self-test as QEMU's exit status;
``--console semihosting`` prints through semihosting instead; a fault is reported on the
console; the Cortex-M7 caches are switched on; ``flash --monitor`` reads a real firmware UART
over pyserial; the STM32 images link inside their boards' memory; the Pico SDK project's sources
compile for the Cortex-M0+."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from codegen.flash import QEMU_FLAGS, qemu_argv
from codegen.native import emit_native, testmodels as tm
from codegen.native.qemu import build_firmware, firmware_sizes
from codegen.native.reference import random_inputs, tflm_outputs
from ofa_mcu.boards import load_board
from ofa_mcu.cli import main as cli_main

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc (apt)")

QEMU_BOARDS = ["qemu-mps2-an386", "qemu-mps2-an500"]


@pytest.fixture(scope="module")
def model():
    m, shape = tm.head_model(hw=4, c=16, classes=6, seed=2)
    tfl = tm.convert(m, shape)
    x = random_inputs(np.random.default_rng(1), 2, shape)
    return tfl, x, tflm_outputs(tfl, x)


def _project(model, board, out: Path):
    tfl, x, ref = model
    return emit_native(tfl, out, board=board, test_input_int8=x, expected_output_int8=ref, model_name="head",
                       plot=False)


def _qemu(machine: str, elf: Path, serial: str = "stdio") -> subprocess.CompletedProcess:
    argv = list(qemu_argv(machine, str(elf)))
    argv[argv.index("-serial") + 1] = serial
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_native_firmware_prints_on_the_uart_and_exits_with_its_verdict(model, name, tmp_path):
    board = load_board(name)
    res = _project(model, board, tmp_path / "p")
    assert "#define OFA_CONSOLE_UART 1" in (tmp_path / "p/bsp/board_config.h").read_text()
    elf = build_firmware(res.out_dir, board)
    on_uart = _qemu(board.qemu_machine, elf)
    assert on_uart.returncode == 0, on_uart.stdout + on_uart.stderr
    assert "ofa-native head: 2/2 outputs match TFLite-Micro" in on_uart.stdout
    assert "ofa: status 0" in on_uart.stdout
    assert len(re.findall(r"^scores \d+:( -?\d+){6}$", on_uart.stdout, re.M)) == 2
    # The same image with QEMU's UART unplugged: silence, same verdict (semihosting only exits).
    unplugged = _qemu(board.qemu_machine, elf, serial="null")
    assert unplugged.returncode == 0 and "scores" not in unplugged.stdout + unplugged.stderr
    # make run uses the same QEMU flags (and never -M none)
    make = (tmp_path / "p/Makefile").read_text()
    assert f"QEMU_FLAGS := {' '.join(QEMU_FLAGS)}" in make and "-M none" not in make


def test_semihosting_console_only_when_asked(model, tmp_path):
    board = load_board("qemu-mps2-an500").with_console("semihosting")
    res = _project(model, board, tmp_path / "p")
    assert "#define OFA_CONSOLE_SEMIHOSTING 1" in (tmp_path / "p/bsp/board_config.h").read_text()
    elf = build_firmware(res.out_dir, board)
    proc = _qemu(board.qemu_machine, elf, serial="null")
    assert proc.returncode == 0 and "2/2 outputs match TFLite-Micro" in proc.stdout


PROBE = r"""
#include <stdint.h>
#include "board_config.h"
#include "ofa_bsp.h"
int main(void) {
  ofa_bsp_init();
  const uint32_t ccr = *(volatile uint32_t*)(OFA_SCB_BASE + OFA_SCB_CCR_OFS);
  ofa_bsp_log("probe hz=%lu counter=%d icache=%d dcache=%d us=%lu\n", (unsigned long)ofa_bsp_cpu_hz(),
              ofa_bsp_has_cycle_counter(), (int)((ccr >> OFA_SCB_CCR_IC_POS) & 1u), (int)((ccr >> OFA_SCB_CCR_DC_POS) & 1u),
              (unsigned long)ofa_bsp_cycles_to_us(5000000u));
  if (ofa_bsp_read((uint8_t*)0, 0) != -1) return 3;
  return *(volatile int*)0x70000000;  /* no memory there: a bus fault */
}
"""


@pytest.mark.parametrize("name", QEMU_BOARDS)
def test_bring_up_caches_clock_and_fault_report(model, name, tmp_path):
    board = load_board(name)
    res = _project(model, board, tmp_path / "p")
    (tmp_path / "p/main.c").write_text(PROBE)
    elf = build_firmware(res.out_dir, board)
    proc = _qemu(board.qemu_machine, elf)
    m7 = board.core == "cortex-m7"
    # 5,000,000 cycles at the 25 MHz clock = 200,000 us; QEMU's DWT does not count, and the BSP sees it.
    # (QEMU models no cache: CCR.IC/DC read as 0 even after the enable.)
    assert "probe hz=25000000 counter=0 icache=0 dcache=0 us=200000" in proc.stdout, proc.stdout
    # The Cortex-M7 cache bring-up ran before: I-cache invalidate (ICIALLU, SCB+0x250) and D-cache
    # invalidate by set/way (DCISW, SCB+0x260) are in ofa_bsp_init exactly when the board has caches.
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    init = dis.split("<ofa_bsp_init>:")[1].split("\n\n")[0]
    assert ("@ 0xf50" in init and "@ 0xf60" in init) == m7
    assert re.search(r"^ofa: fault: exception 3 at pc 0x[0-9a-f]{8} \(CFSR 0x[0-9a-f]{8}, HFSR 0x[0-9a-f]{8}\)$",
                     proc.stdout, re.M), proc.stdout
    assert "ofa: status 99" in proc.stdout and proc.returncode == 99


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_monitor_reads_a_real_firmware_uart_through_pyserial(model, tmp_path, capsys):
    """QEMU waits on a TCP socket for its UART; ``flash --monitor --port socket://...`` opens it
    with pyserial, prints the firmware's lines and returns its status."""
    board = load_board("qemu-mps2-an386")
    res = _project(model, board, tmp_path / "p")
    elf = build_firmware(res.out_dir, board)
    port = _free_port()
    qemu = subprocess.Popen(list(_tcp_argv(board.qemu_machine, elf, port)), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        from codegen.monitor import monitor, open_port

        lines: list[str] = []
        status = monitor(open_port(f"socket://127.0.0.1:{port}", 115200, wait_s=20), timeout=60, echo=lines.append)
        assert status == 0 and "ofa: status 0" in lines
        assert "ofa-native head: 2/2 outputs match TFLite-Micro" in lines
        assert qemu.wait(timeout=60) == 0
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()


def _tcp_argv(machine: str, elf: Path, port: int) -> list[str]:
    argv = list(qemu_argv(machine, str(elf)))
    argv[argv.index("-serial") + 1] = f"tcp:127.0.0.1:{port},server=on,wait=on"
    return argv


@pytest.mark.parametrize("name", ["stm32f746g-disco", "nucleo-h743zi2"])
def test_stm32_native_images_link_inside_the_board(model, name, tmp_path):
    board = load_board(name)
    res = _project(model, board, tmp_path / "p")
    proc = subprocess.run(["make", "-C", str(res.out_dir), "firmware", "ARM_EXTRA=-Werror"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    elf = res.out_dir / f"build/{name}/app.elf"
    sizes = firmware_sizes(elf, board.memory.flash_origin, board.memory.flash_length)
    assert 0 < sizes["flash_bytes"] <= board.memory.flash_length
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {p[2]: int(p[0], 16) for p in (ln.split() for ln in nm.splitlines()) if len(p) == 3}
    m = board.memory
    assert syms["ofa_vectors"] == m.flash_origin and m.ram_origin < syms["__stack_top__"] <= m.ram_origin + m.ram_length
    # The clock plan is in the image: the register writes of the family's bring-up are linked in.
    assert "ofa_bsp_init" in syms and "ofa_bsp_fault" in syms
    assert "initialise_monitor_handles" not in syms  # no semihosting runtime: boots without a debugger
    assert "make run" not in proc.stdout
    run = subprocess.run(["make", "-C", str(res.out_dir), "run"], capture_output=True, text=True)
    assert run.returncode != 0 and "real hardware, not an emulator" in run.stderr


def test_pico_native_project_compiles_for_the_cortex_m0plus_with_the_sdk_layout(model, tmp_path):
    """The Pico SDK is not installable here: compile the project's C for the M0+ against small
    SDK shims (the SDK's own headers are what a user builds with)."""
    from test_codegen_compile import SHIMS

    board = load_board("rpi-pico")
    res = _project(model, board, tmp_path / "p")
    shims = tmp_path / "shims"
    for rel, text in SHIMS.items():
        (shims / rel).parent.mkdir(parents=True, exist_ok=True)
        (shims / rel).write_text(text)
    cmake = (res.out_dir / "CMakeLists.txt").read_text()
    assert "pico_sdk_init()" in cmake and "pico_add_extra_outputs(app)" in cmake and "SYS_CLK_HZ=133000000" in cmake
    srcs = ["main.c", "ofa_model.c", "bsp/ofa_bsp_pico.c", *sorted(str(p.relative_to(res.out_dir))
                                                                 for p in (res.out_dir / "ofa_native").glob("*.c"))]
    for src in srcs:
        proc = subprocess.run(["arm-none-eabi-gcc", *board.cpu_flags, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
                               "-Wno-unused-parameter", "-DOFA_FIRMWARE", "-DOFA_PROFILE", "-I.", "-Iofa_native",
                               "-Ibsp", f"-I{shims}", "-c", src, "-o", "/dev/null"], cwd=res.out_dir,
                              capture_output=True, text=True)
        assert proc.returncode == 0, src + proc.stderr
    manifest = (res.out_dir / "ofa-mcu.json").read_text()
    assert '"build_system": "native-pico-sdk"' in manifest and '"uf2": "build/pico/app.uf2"' in manifest
    assert cli_main(["flash", str(res.out_dir), "--dry-run"]) == 0


def test_native_refuses_boards_it_cannot_build_for(model, tmp_path, capsys):
    tfl, _, _ = model
    (tmp_path / "m.tflite").write_bytes(tfl)
    for name in ("esp32-s3-devkitc", "nano33ble-sense"):
        assert cli_main(["deploy", str(tmp_path / "m.tflite"), "--board", name, "--backend", "native",
                         "--out", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"cannot build firmware for {name}" in err
        assert "qemu-mps2-an386" in err and "rpi-pico" in err and "use --backend tflm" in err
        assert not (tmp_path / name).exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qemu-mps2-an386"])  # the M7 runs are in test_tflm_firmware.py
def test_tflm_firmware_prints_its_self_test_on_the_uart(name, reference_dir, tmp_path, capsys):
    """TFLite-Micro firmware (the VWW reference model) built against the pinned TFLM tree (the
    CMSIS-NN kernels, the core's default) through ofa-mcu's TFLM library cache, run in QEMU: the
    self-test result arrives over the UART."""
    from third_party_headers import unpack

    from codegen.project import emit_project

    tree = unpack("tflm-cmsis-nn.tar.gz")
    if tree is None:
        pytest.skip("the pinned TFLM tree is absent (as in a fresh clone): TFLM firmware cannot be linked")
    vww = (reference_dir / "external_models" / "vww_96_int8.tflite").read_bytes()
    proj = emit_project(vww, name, tmp_path / "p", labels=["no_person", "person"], model_name="vww")
    assert cli_main(["flash", str(proj), "--tflm-dir", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "ofa: self-test PASS" in out and "ofa: status 0" in out
    unplugged = _qemu(load_board(name).qemu_machine, proj / "build/app.elf", serial="null")
    assert unplugged.returncode == 0 and "self-test" not in unplugged.stdout + unplugged.stderr
