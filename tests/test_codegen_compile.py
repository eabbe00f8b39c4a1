"""Generated projects compile for their boards' cores against real TFLite-Micro headers, and
their build files pass their own tools (make, cmake, configparser, cmake -P with stub SDKs).

Compilers: arm-none-eabi-gcc 12 (Debian) with each board's core flags; the ESP32-S3 (Xtensa
LX7, no compiler here) with the host gcc and the same flags minus the core ones. TFLM headers
come from the xmos-ai-tools wheel (see codegen.tflm_headers). Arduino, Pico SDK and ESP-IDF
headers are not installable here: the board-support sources compile against the small shims
written below (test only).
"""
from __future__ import annotations

import configparser
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from codegen.compile_check import check_project
from codegen.flash import qemu_argv
from codegen.project import emit_project
from codegen.tflm_headers import XMOS_COMPAT_FLAGS, make_tflm_tree
from ofa_mcu.quant.tflm_runner import measure_arena
from ofa_mcu.boards import list_boards, load_board

SHIMS = {
    "Arduino.h": """#pragma once
#include <stddef.h>
#include <stdint.h>
struct OfaSerialShim {
  void begin(unsigned long baud);
  explicit operator bool() const;
  int available();
  size_t readBytes(char* buffer, size_t length);
  size_t print(const char* s);
  void flush();
};
extern OfaSerialShim Serial;
unsigned long millis(void);
unsigned long micros(void);
void delayMicroseconds(unsigned int us);
""",
    "TensorFlowLite.h": "#pragma once\n",
    "Chirale_TensorFlowLite.h": "#pragma once\n",
    "hardware/clocks.h": """#pragma once
#include <stdint.h>
enum clock_index { clk_sys = 5 };
uint32_t clock_get_hz(enum clock_index clk_index);
""",
    "hardware/structs/systick.h": """#pragma once
#include <stdint.h>
typedef struct { volatile uint32_t csr, rvr, cvr; const volatile uint32_t calib; } systick_hw_t;
#define systick_hw ((systick_hw_t *)0xe000e010u)
""",
    "hardware/structs/scb.h": """#pragma once
#include <stdint.h>
typedef struct { volatile uint32_t cpuid, icsr; } armv6m_scb_hw_t;
#define scb_hw ((armv6m_scb_hw_t *)0xe000ed00u)
#define M0PLUS_ICSR_PENDSTSET_BITS 0x04000000u
""",
    "esp_rom_sys.h": "#pragma once\n#include <stdint.h>\nuint32_t esp_rom_get_cpu_ticks_per_us(void);\n",
    "sdkconfig.h": "#pragma once\n#define CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ 240\n",
    "pico/stdlib.h": """#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#define PICO_ERROR_TIMEOUT (-1)
bool stdio_init_all(void);
bool stdio_usb_connected(void);
void stdio_flush(void);
static inline void tight_loop_contents(void) {}
void sleep_ms(uint32_t ms);
uint64_t time_us_64(void);
int getchar_timeout_us(uint32_t timeout_us);
""",
    "esp_cpu.h": "#pragma once\n#include <stdint.h>\nuint32_t esp_cpu_get_cycle_count(void);\n",
    "esp_timer.h": "#pragma once\n#include <stdint.h>\nint64_t esp_timer_get_time(void);\n",
    "freertos/FreeRTOS.h": "#pragma once\n#include <stdint.h>\n",
    "freertos/task.h": "#pragma once\n#include <stdint.h>\nvoid vTaskDelay(uint32_t ticks);\n",
}

CPU_ARCH = {"cortex-m0plus": "v6S-M", "cortex-m4": "v7E-M", "cortex-m7": "v7E-M"}


@pytest.fixture(scope="module")
def vww(external_models) -> bytes:
    return (external_models / "vww_96_int8.tflite").read_bytes()


@pytest.fixture(scope="module")
def arena(vww) -> int:
    return measure_arena(vww)


@pytest.fixture(scope="module")
def person(external_models):
    from PIL import Image

    return np.asarray(Image.open(external_models / "person.bmp"))


@pytest.fixture(scope="module")
def shims(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sdk_shims")
    for rel, text in SHIMS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _emit(vww, person, arena, board, bs, out):
    return emit_project(vww, board, out, build_system=bs, labels=["no_person", "person"], test_image=person,
                        arena_bytes=arena, model_name="vww_96_int8")


def _assert_compiled(results):
    bad = [r for r in results if not r.ok]
    assert results and not bad, "\n".join(f"{r.source}:\n{' '.join(r.argv)}\n{r.output}" for r in bad)


def _arm_attrs(obj: Path) -> dict[str, str]:
    """The object's ARM build attributes (Tag_CPU_arch, Tag_FP_arch, Tag_ABI_VFP_args ...)."""
    out = subprocess.run(["arm-none-eabi-readelf", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip().strip('"') for k, v in (ln.split(":", 1) for ln in out.splitlines() if ln.strip().startswith("Tag_"))}


def _assert_core(obj: Path, board) -> None:
    attrs = _arm_attrs(obj)
    assert attrs["Tag_CPU_arch"] == CPU_ARCH[board.core], (obj.name, attrs)
    if board.fpu != "none":
        assert "Tag_FP_arch" in attrs, (obj.name, attrs)
    if board.float_abi == "hard":
        assert attrs.get("Tag_ABI_VFP_args") == "VFP registers", (obj.name, attrs)
    if board.float_abi == "soft":
        assert "Tag_FP_arch" not in attrs, (obj.name, attrs)


# The QEMU M4 board's default (make) project is compiled through its generated Makefile below.
DIRECT = [b.name for b in list_boards() if b.name != "qemu-mps2-an386"]


@pytest.mark.parametrize("board", DIRECT)
@pytest.mark.slow
def test_default_project_compiles_for_the_board_core(vww, person, arena, shims, board, tmp_path):
    b = load_board(board)
    proj = _emit(vww, person, arena, b, None, tmp_path / "p")
    objs = tmp_path / "obj"
    results = check_project(proj, out_dir=objs, extra_includes=(str(shims),))
    _assert_compiled(results)
    names = {r.source for r in results}
    assert any(n.startswith("model_data.") for n in names) and any(n.startswith("main.") or n.endswith(".ino") for n in names)
    if b.is_cortex_m:
        for o in objs.glob("*.o"):
            _assert_core(o, b)
        argv = results[0].argv
        assert all(f in argv for f in b.cpu_flags) and "-Werror" in argv
    else:
        assert results[0].argv[0] in ("gcc", "g++")
        assert not any(f in results[0].argv for f in b.cpu_flags)


# The Arduino core each PlatformIO board builds with defines one of these (the BSP reads the real
# clock through SystemCoreClock or clock_get_hz).
ARDUINO_ARCH = {"stm32f746g-disco": "-DARDUINO_ARCH_STM32", "nucleo-h743zi2": "-DARDUINO_ARCH_STM32",
                "nano33ble-sense": "-DARDUINO_ARCH_MBED", "rpi-pico": "-DARDUINO_ARCH_MBED_RP2040"}


@pytest.mark.parametrize("board", [b.name for b in list_boards() if "platformio" in b.build_systems])
@pytest.mark.slow
def test_platformio_sources_compile(vww, person, arena, shims, board, tmp_path):
    """The PlatformIO project's sources for the board's framework (Arduino: the Arduino BSP;
    ESP-IDF: the ESP-IDF BSP); platformio.ini itself is checked in test_ecosystem_projects.py."""
    b = load_board(board)
    proj = _emit(vww, person, arena, board, "platformio", tmp_path / "p")
    extra = (ARDUINO_ARCH[board],) if board in ARDUINO_ARCH else ()
    results = check_project(proj, out_dir=tmp_path / "obj", extra_includes=(str(shims),), extra_flags=extra,
                            syntax_only=True)
    _assert_compiled(results)
    bsp = "ofa_bsp_esp_idf.c" if b.platformio_framework == "espidf" else "ofa_bsp_arduino.cpp"
    assert {r.source for r in results} == {"main.cpp", bsp, "model_data.cpp", "model_settings.cpp", "test_image.cpp"}


@pytest.mark.slow
def test_generated_makefile_compiles_the_app(vww, person, arena, tmp_path):
    """QEMU M4 project: `make app-objects` with a header-only TFLM tree linked from the wheels."""
    proj = _emit(vww, person, arena, "qemu-mps2-an386", "make", tmp_path / "p")
    tree = make_tflm_tree(tmp_path / "tflm")
    build = tmp_path / "build"
    extra = " ".join(["-Werror", *XMOS_COMPAT_FLAGS, "-DOFA_TFLM_DEBUG_LOG_CALLBACK"])
    proc = subprocess.run(["make", "-C", str(proj), "-j2", "app-objects", f"TFLM_DIR={tree}", f"BUILD={build}",
                           f"EXTRA_FLAGS={extra}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    objs = sorted(p.name for p in (build / "app/src").glob("*.o"))
    assert objs == ["main.cc.o", "model_data.cc.o", "model_settings.cc.o", "ofa_bsp_baremetal.c.o",
                    "ofa_micro_time.cc.o", "ofa_usage.c.o", "startup_cortexm.c.o", "test_image.cc.o"]
    for o in objs:
        _assert_core(build / "app/src" / o, load_board("qemu-mps2-an386"))
    # The full link is planned with the generated linker script and the semihosting specs.
    dry = subprocess.run(["make", "-C", str(proj), "-n", f"TFLM_DIR={tree}"], capture_output=True, text=True, check=True).stdout
    assert "-T linker.ld --specs=nano.specs --specs=nosys.specs" in dry
    # Without TFLM_DIR the Makefile says what to do.
    proc = subprocess.run(["make", "-C", str(proj)], capture_output=True, text=True)
    assert proc.returncode != 0 and "set TFLM_DIR" in proc.stderr


@pytest.mark.slow
def test_generated_cmake_configures_with_the_arm_toolchain_and_compiles(vww, person, arena, tmp_path):
    proj = _emit(vww, person, arena, "stm32f746g-disco", "cmake", tmp_path / "p")
    tree = make_tflm_tree(tmp_path / "tflm")
    build = tmp_path / "build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    cfg = subprocess.run(["cmake", "-S", str(proj), "-B", str(build), *gen, f"-DTFLM_DIR={tree}",
                          "-DCMAKE_CXX_FLAGS=" + " ".join(["-Werror", *XMOS_COMPAT_FLAGS]), "-DCMAKE_C_FLAGS=-Werror"],
                         capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    compiler = next(build.glob("CMakeFiles/*/CMakeCXXCompiler.cmake")).read_text()
    assert 'CMAKE_CXX_COMPILER "/usr/bin/arm-none-eabi-g++"' in compiler
    b = subprocess.run(["cmake", "--build", str(build), "--target", "app_objects"], capture_output=True, text=True)
    assert b.returncode == 0, b.stdout + b.stderr
    objs = list(build.rglob("main.cc.obj"))
    assert objs
    _assert_core(objs[0], load_board("stm32f746g-disco"))
    # No TFLM tree: a clear configure error.
    bad = subprocess.run(["cmake", "-S", str(proj), "-B", str(tmp_path / "b2"), *gen], capture_output=True, text=True)
    assert bad.returncode != 0 and "set -DTFLM_DIR" in bad.stderr


STUB_DRIVER = r"""
function(_ofa_check_sources)
  foreach(s ${ARGN})
    if(s MATCHES "\\.(c|cc|cpp)$")
      if(NOT EXISTS "${OFA_ROOT}/${s}")
        message(FATAL_ERROR "listed source ${s} does not exist")
      endif()
      message(STATUS "source ok: ${s}")
    endif()
  endforeach()
endfunction()
macro(project)
  message(STATUS "project: ${ARGV}")
endmacro()
function(add_executable name)
  _ofa_check_sources(${ARGN})
endfunction()
function(target_compile_definitions target scope)
  foreach(d ${ARGN})
    message(STATUS "define: ${d}")
  endforeach()
endfunction()
function(pico_enable_stdio_usb target on)
  message(STATUS "stdio usb: ${on}")
endfunction()
function(pico_enable_stdio_uart target on)
  message(STATUS "stdio uart: ${on}")
endfunction()
function(idf_component_register)
  cmake_parse_arguments(A "" "" "SRCS;INCLUDE_DIRS;PRIV_REQUIRES" ${ARGN})
  _ofa_check_sources(${A_SRCS})
endfunction()
foreach(cmd pico_sdk_init add_subdirectory target_include_directories target_compile_options
        target_link_libraries pico_add_extra_outputs)
  cmake_language(EVAL CODE "function(${cmd})\nendfunction()")
endforeach()
include("${OFA_FILE}")
"""


def test_pico_and_esp_idf_cmake_files_parse_with_stub_sdks(vww, person, arena, tmp_path):
    """cmake -P parses the files and runs them with the SDK commands stubbed; the stubs check
    that every listed source exists. (A real configure needs the Pico SDK / ESP-IDF.)"""
    driver = tmp_path / "driver.cmake"
    driver.write_text(STUB_DRIVER)
    (tmp_path / "sdk/external").mkdir(parents=True)
    (tmp_path / "sdk/external/pico_sdk_import.cmake").write_text("")
    (tmp_path / "idf/tools/cmake").mkdir(parents=True)
    (tmp_path / "idf/tools/cmake/project.cmake").write_text("")
    pico = _emit(vww, person, arena, "rpi-pico", "pico-sdk", tmp_path / "pico")
    idf = _emit(vww, person, arena, "esp32-s3-devkitc", "esp-idf", tmp_path / "idf_proj")
    runs = [
        (pico, pico / "CMakeLists.txt", [f"-DPICO_SDK_PATH={tmp_path / 'sdk'}", "-DPICO_TFLMICRO_PATH=/x"], 5),
        (idf / "main", idf / "main/CMakeLists.txt", [], 5),
        (idf, idf / "CMakeLists.txt", [], 0),
    ]
    outputs = []
    for root, file, defs, n_sources in runs:
        proc = subprocess.run(["cmake", f"-DOFA_ROOT={root}", f"-DOFA_FILE={file}", *defs, "-P", str(driver)],
                              capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "IDF_PATH": str(tmp_path / "idf")})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (proc.stdout + proc.stderr).count("source ok:") == n_sources, proc.stdout
        outputs.append(proc.stdout + proc.stderr)
    # The Pico SDK is handed the board's clock plan (it programs the PLL at boot) and USB stdio.
    for d in ("SYS_CLK_HZ=133000000", "PLL_SYS_VCO_FREQ_HZ=1596000000", "PLL_SYS_POSTDIV1=6", "PLL_SYS_POSTDIV2=2",
              "XOSC_HZ=12000000", "PLL_SYS_REFDIV=1"):
        assert f"define: {d}" in outputs[0], d
    assert "stdio usb: 1" in outputs[0] and "stdio uart: 0" in outputs[0]
    # The Pico file refuses to run without the SDK path.
    proc = subprocess.run(["cmake", f"-DOFA_ROOT={pico}", f"-DOFA_FILE={pico / 'CMakeLists.txt'}", "-P", str(driver)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "PICO_SDK_PATH" in proc.stderr
    yml = (idf / "main/idf_component.yml").read_text()
    assert "espressif/esp-tflite-micro" in yml
    assert "CONFIG_IDF_TARGET=\"esp32s3\"" in (idf / "sdkconfig.defaults").read_text()


PROBE_MAIN = r"""
#include <stdlib.h>
#include "ofa_bsp.h"
static volatile float half = 0.5f;
int initialised = 42;
int main(void) {
  uint8_t buf[4];
  ofa_bsp_init();
  char* p = (char*)malloc(64);
  ofa_bsp_log("probe data=%d fpu=%d heap=%d read=%d counter=%d\n", initialised, (int)(half * 8.0f),
              p != 0, ofa_bsp_read(buf, sizeof(buf)), ofa_bsp_has_cycle_counter());
  return 7;
}
"""


def _probe_elf(proj: Path, b, tmp_path: Path) -> Path:
    """PROBE_MAIN linked with the project's startup, bare-metal BSP and linker script."""
    (tmp_path / "probe.c").write_text(PROBE_MAIN)
    elf = tmp_path / "probe.elf"
    subprocess.run(["arm-none-eabi-gcc", *b.cpu_flags, "-O2", "-Wall", "-Wextra", "-Werror", f"-I{proj / 'src'}",
                    str(proj / "src/startup_cortexm.c"), str(proj / "src/ofa_bsp_baremetal.c"), str(tmp_path / "probe.c"),
                    "-T", str(proj / "linker.ld"), "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections",
                    "-o", str(elf)], check=True)
    return elf


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-mps2-an500"])
def test_startup_bsp_and_linker_script_run_in_qemu(vww, person, arena, board, tmp_path):
    """The generated linker script, startup and bare-metal BSP boot a real image under QEMU:
    .data copied, .bss zeroed, FPU on, heap for newlib, semihosting output, exit status."""
    b = load_board(board)
    elf = _probe_elf(_emit(vww, person, arena, b, "make", tmp_path / "p"), b, tmp_path)
    proc = subprocess.run(list(qemu_argv(b.qemu_machine, str(elf))), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr
    assert "probe data=42 fpu=4 heap=1 read=-1 counter=0" in proc.stdout


@pytest.mark.parametrize("board", ["stm32f746g-disco", "nucleo-h743zi2"])
def test_stm32_linker_scripts_place_vectors_and_stack(vww, person, arena, board, tmp_path):
    b = load_board(board)
    elf = _probe_elf(_emit(vww, person, arena, b, "make", tmp_path / "p"), b, tmp_path)
    syms = {}
    for line in subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    m = b.memory
    assert syms["ofa_vectors"] == m.flash_origin
    assert m.ram_origin < syms["__stack_top__"] <= m.ram_origin + m.ram_length
    from codegen.project import baremetal_config

    assert syms["__stack_top__"] - syms["__stack_bottom__"] == baremetal_config("tflm")["stack_bytes"]
    assert m.ram_origin <= syms["__data_start__"] < syms["__bss_end__"] <= syms["__stack_bottom__"]
