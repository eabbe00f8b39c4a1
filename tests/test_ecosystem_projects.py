"""Generated projects checked against their ecosystems' own rules where the toolchains cannot run
here: PlatformIO's project-config linter on every platformio.ini (the catalog's framework, no flag
both added and removed), the TFLM extra script run against the pinned TFLM trees with PlatformIO's
own source-filter matcher, the ESP-IDF partition table and sdkconfig, the Arduino library choice,
and the READMEs (console, over-budget warning)."""
from __future__ import annotations

import fnmatch
import io
import json
import shutil
import subprocess
import tomllib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from codegen.project import emit_project
from ofa_mcu.quant.tflm_runner import measure_arena
from ofa_mcu.boards import BOARDS_DIR, list_boards, load_board, parse_board
from third_party_headers import unpack

PIO_BOARDS = [b.name for b in list_boards() if "platformio" in b.build_systems]
LABELS = ["no_person", "person"]


@pytest.fixture(scope="module")
def vww(reference_dir) -> bytes:
    return (reference_dir / "external_models" / "vww_96_int8.tflite").read_bytes()


@pytest.fixture(scope="module")
def arena(vww) -> int:
    return measure_arena(vww)


def _emit(vww, arena, board, out, bs=None, **kw):
    return emit_project(vww, board, out, build_system=bs, labels=LABELS, arena_bytes=arena, model_name="vww", **kw)


# --- PlatformIO ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PIO_BOARDS)
def test_platformio_ini_passes_platformio_lint_with_the_catalogs_framework(vww, arena, name, tmp_path):
    from platformio.project.config import ProjectConfig

    board = load_board(name)
    proj = _emit(vww, arena, name, tmp_path / "p", "platformio")
    ini = proj / "platformio.ini"
    assert ProjectConfig.lint(str(ini)) == {"errors": [], "warnings": []}
    cfg = ProjectConfig(str(ini))
    env = f"env:{name}"
    assert cfg.envs() == [name] and cfg.default_envs() == [name]
    opts = dict(cfg.items(env=name, as_dict=True))
    assert (opts["platform"], opts["board"], opts["framework"]) == (board.platformio_platform, board.platformio_board,
                                                                    [board.platformio_framework])
    assert opts["monitor_speed"] == board.console_spec.baud
    added = {f for v in opts.get("build_flags", []) for f in v.split()}
    removed = {f for v in opts.get("build_unflags", []) for f in v.split()}
    assert not added & removed, f"flags both added and removed: {added & removed}"
    cfg_board = (proj / "src/board_config.h").read_text()
    assert f"#define OFA_CPU_HZ {board.cpu_hz('platformio')}u" in cfg_board
    if board.platformio_framework == "arduino":
        assert opts["extra_scripts"] == ["pre:ofa_tflm.py"] and (proj / "ofa_tflm.py").is_file()
        assert "-std=gnu++17" in added and "-std=gnu++14" in removed
        assert not (proj / "lib").exists() and not (proj / "sdkconfig.defaults").exists()
        assert (proj / "src/ofa_bsp_arduino.cpp").is_file() and not (proj / "src/ofa_bsp_esp_idf.c").exists()
    else:  # ESP-IDF framework: same sdkconfig, partition table and component as the ESP-IDF project
        assert opts["board_build.partitions"] == "partitions.csv"
        assert {"CMakeLists.txt", "sdkconfig.defaults", "partitions.csv"} <= {p.name for p in proj.iterdir()}
        assert (proj / "src/idf_component.yml").is_file() and (proj / "src/ofa_bsp_esp_idf.c").is_file()
        assert "app_main" in (proj / "src/main.cpp").read_text()
        assert not (proj / "ofa_tflm.py").exists()


class FakeSConsEnv:
    """The parts of PlatformIO's SCons environment the extra script uses."""

    def __init__(self, project: Path, options: dict):
        self.project, self.options = project, options
        self.vars: dict[str, list] = {}
        self.middlewares: list = []
        self.sources: list = []

    def GetProjectOption(self, name, default=None):  # noqa: N802 (PlatformIO's names)
        return self.options.get(name, default)

    def subst(self, s):
        return s.replace("$PROJECT_DIR", str(self.project))

    def Append(self, **kw):  # noqa: N802
        for k, v in kw.items():
            self.vars.setdefault(k, []).extend(v)

    def AddBuildMiddleware(self, callback, pattern=None):  # noqa: N802
        self.middlewares.append((callback, pattern))

    def BuildSources(self, variant_dir, src_dir, src_filter=None):  # noqa: N802
        self.sources.append((variant_dir, src_dir, src_filter))

    def Object(self, node, **overrides):  # noqa: N802
        return ("object", node, overrides)

    def Exit(self, code):  # noqa: N802
        raise SystemExit(code)


def _run_script(proj: Path, options: dict, env_vars: dict, monkeypatch):
    for k in ("TFLM_DIR",):
        monkeypatch.delenv(k, raising=False)
    for k, v in env_vars.items():
        monkeypatch.setenv(k, v)
    env = FakeSConsEnv(proj, options)
    out, err = io.StringIO(), io.StringIO()
    code = None
    with redirect_stdout(out), redirect_stderr(err):
        try:
            exec(compile((proj / "ofa_tflm.py").read_text(), "ofa_tflm.py", "exec"),
                 {"Import": lambda name: None, "env": env, "__name__": "SCons"})
        except SystemExit as exc:
            code = exc.code
    return env, code, out.getvalue() + err.getvalue()


@pytest.mark.parametrize("kernels", ["tflm-reference.tar.gz", "tflm-cmsis-nn.tar.gz"])
def test_platformio_extra_script_compiles_a_real_tflm_tree(vww, arena, kernels, tmp_path, monkeypatch):
    """Run ofa_tflm.py as PlatformIO would, on the pinned TFLM trees: every TFLM source is selected
    by PlatformIO's own filter matcher, the include folders exist, CMSIS-NN trees add -DCMSIS_NN
    and its headers, and TFLM's Cortex-M timer is built as its stub."""
    from platformio.fs import match_src_files

    tree = unpack(kernels)
    if tree is None:
        pytest.skip(f"the pinned TFLM tree {kernels} is absent (as in a fresh clone)")
    proj = _emit(vww, arena, "stm32f746g-disco", tmp_path / "p", "platformio")
    env, code, out = _run_script(proj, {}, {"TFLM_DIR": str(tree)}, monkeypatch)
    assert code is None, out
    assert env.sources == [("$BUILD_DIR/tflm", str(tree), "+<tensorflow/> +<signal/> +<third_party/>")]
    matched = set(match_src_files(str(tree), env.sources[0][2], ["c", "cc", "cpp"]))
    expected = {str(p.relative_to(tree)) for d in ("tensorflow", "signal", "third_party") for p in (tree / d).rglob("*")
                if p.suffix in (".c", ".cc", ".cpp")}
    assert matched == expected and len(expected) > 100
    defines = env.vars["CPPDEFINES"]
    assert {"TF_LITE_STATIC_MEMORY", "TF_LITE_DISABLE_X86_NEON", "OFA_TFLM_DEBUG_LOG_CALLBACK"} <= set(defines)
    assert ("CMSIS_NN" in defines) == (kernels == "tflm-cmsis-nn.tar.gz")
    assert all(Path(p).is_dir() for p in env.vars["CPPPATH"]), env.vars["CPPPATH"]
    (callback, pattern), = env.middlewares
    timer = str(tree / "tensorflow/lite/micro/cortex_m_generic/micro_time.cc")
    assert fnmatch.fnmatch(timer, pattern) and not fnmatch.fnmatch(str(tree / "tensorflow/lite/micro/micro_time.h"), pattern)
    assert callback(env, timer) == ("object", timer, {"CPPDEFINES": ["PROJECT_GENERATION"]})
    # custom_tflm_dir in platformio.ini wins; a tree copied into tflm/ is found too
    env, code, _ = _run_script(proj, {"custom_tflm_dir": str(tree)}, {"TFLM_DIR": "/nowhere"}, monkeypatch)
    assert code is None and env.sources[0][1] == str(tree)
    shutil.copytree(tree, proj / "tflm", symlinks=True)
    env, code, _ = _run_script(proj, {}, {}, monkeypatch)
    assert code is None and env.sources[0][1] == str(proj / "tflm")


def test_platformio_extra_script_says_what_is_missing(vww, arena, tmp_path, monkeypatch):
    proj = _emit(vww, arena, "nano33ble-sense", tmp_path / "p", "platformio")
    env, code, out = _run_script(proj, {}, {}, monkeypatch)
    assert code == 1 and "no TFLite-Micro tree: set TFLM_DIR" in out and not env.sources
    (tmp_path / "headers").mkdir()
    env, code, out = _run_script(proj, {}, {"TFLM_DIR": str(tmp_path / "headers")}, monkeypatch)
    assert code == 1 and "holds no TFLite-Micro sources (tensorflow/lite/micro/micro_interpreter.cc is missing)" in out


# --- ESP-IDF ------------------------------------------------------------------------------------

def _partitions(text: str) -> list[dict]:
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, typ, sub, off, size, *_ = [c.strip() for c in line.split(",")]
        rows.append({"name": name, "type": typ, "subtype": sub, "offset": int(off, 0), "size": int(size, 0)})
    return rows


@pytest.mark.parametrize("bs", ["esp-idf", "platformio"])
def test_esp_idf_partition_table_and_sdkconfig(vww, arena, bs, tmp_path):
    """ESP-IDF's rules (gen_esp32part.py): partitions after the table (0x8000 + 0x1000), no overlap,
    app partitions 64 KB aligned, inside the flash; the one factory partition is the app flash
    the budgets use; sdkconfig.defaults points at the table and sets the CPU clock of OFA_CPU_HZ."""
    import yaml

    board = load_board("esp32-s3-devkitc")
    proj = _emit(vww, arena, board, tmp_path / "p", bs)
    rows = _partitions((proj / "partitions.csv").read_text())
    assert [r["name"] for r in rows] == ["nvs", "phy_init", "factory"]
    end = 0x9000
    for r in rows:
        assert r["offset"] >= end, r
        assert r["offset"] % (0x10000 if r["type"] == "app" else 0x1000) == 0, r
        end = r["offset"] + r["size"]
    assert end <= board.flash_bytes
    app = [r for r in rows if r["type"] == "app"]
    assert len(app) == 1 and app[0]["size"] == board.app_flash_bytes and app[0]["offset"] == 0x10000
    sdk = dict(ln.split("=", 1) for ln in (proj / "sdkconfig.defaults").read_text().splitlines()
               if ln and not ln.startswith("#"))
    assert sdk["CONFIG_PARTITION_TABLE_CUSTOM"] == "y" and sdk["CONFIG_PARTITION_TABLE_OFFSET"] == "0x8000"
    assert (proj / json.loads(sdk["CONFIG_PARTITION_TABLE_CUSTOM_FILENAME"])).is_file()
    assert sdk["CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_240"] == "y" and sdk["CONFIG_ESPTOOLPY_FLASHSIZE_8MB"] == "y"
    src = "main" if bs == "esp-idf" else "src"
    assert "#define OFA_CPU_HZ 240000000u" in (proj / src / "board_config.h").read_text()
    manifest = yaml.safe_load((proj / src / "idf_component.yml").read_text())
    assert manifest["dependencies"]["espressif/esp-tflite-micro"].startswith("^1.") and manifest["dependencies"]["idf"] == ">=5.0"
    summary = json.loads((proj / "deploy_summary.json").read_text())
    assert summary["flash_budget_bytes"] == board.app_flash_bytes - board.runtime_flash_bytes - board.reserve_flash_bytes


# --- Arduino ------------------------------------------------------------------------------------

def test_arduino_sketch_builds_with_either_tflm_library(vww, arena, tmp_path):
    """The sketch pulls Chirale_TensorFlowLite (Library Manager) by default and
    Arduino_TensorFlowLite with -DOFA_ARDUINO_TFLITE=1: the preprocessor's include list shows which."""
    proj = _emit(vww, arena, "nano33ble-sense", tmp_path / "p", "arduino")
    sketch = proj / "vww"
    libs = tmp_path / "libs"
    (libs / "chirale").mkdir(parents=True)
    (libs / "arduino").mkdir()
    (libs / "chirale/Chirale_TensorFlowLite.h").write_text("#pragma once\n")
    (libs / "arduino/TensorFlowLite.h").write_text("#pragma once\n")
    for flags, header in (([], "Chirale_TensorFlowLite.h"), (["-DOFA_ARDUINO_TFLITE=1"], "TensorFlowLite.h")):
        deps = subprocess.run(["g++", "-x", "c++", "-M", f"-I{libs / 'chirale'}", f"-I{libs / 'arduino'}", *flags,
                               str(sketch / "vww.ino")], capture_output=True, text=True, check=True).stdout
        names = {Path(p).name for p in deps.replace("\\\n", " ").split()[1:]}
        assert header in names and ({"Chirale_TensorFlowLite.h", "TensorFlowLite.h"} - {header}).isdisjoint(names)
    assert '#include "ofa_tflm_library.h"' in (sketch / "ofa_app.cpp").read_text()
    readme = (proj / "README.md").read_text()
    assert "arduino-cli lib install Chirale_TensorFLowLite" in readme and "tflite-micro-arduino-examples" in readme


# --- READMEs --------------------------------------------------------------------------------------

def test_over_budget_projects_say_so_at_the_top_of_their_readme(vww, arena, tmp_path):
    data = tomllib.loads((BOARDS_DIR / "stm32f746g-disco.toml").read_text())
    data["sram_bytes"] = data["memory"]["ram_length"] = 96 * 1024
    small = parse_board(data, "stm32f746g-disco.toml")
    over = _emit(vww, arena, small, tmp_path / "over", allow_over_budget=True)
    lines = (over / "README.md").read_text().splitlines()
    assert lines[0].startswith("# vww: TFLite-Micro firmware for stm32f746g-disco")
    banner = next(i for i, ln in enumerate(lines) if ln.startswith("> **Over budget"))
    left = small.budget("tflm").sram_bytes
    assert banner <= 3 and "arena" in lines[banner + 1] and f"SRAM budget {left} B" in lines[banner + 1]
    fits = _emit(vww, arena, "stm32f746g-disco", tmp_path / "fits")
    assert "Over budget" not in (fits / "README.md").read_text()


@pytest.mark.parametrize("name,bs,needles", [
    ("stm32f746g-disco", "make", ["USART1 (PA9 TX, PB7 RX, AF7) at 115200 Bd", "ST-LINK virtual COM port",
                                  "python3 -m serial.tools.miniterm /dev/ttyACM0 115200", "216 MHz", "7 flash wait states",
                                  "16 MHz reset clock"]),
    ("nucleo-h743zi2", "cmake", ["USART3 (PD8 TX, PD9 RX, AF7)", "400 MHz core", "silicon", "64 MHz reset clock"]),
    ("rpi-pico", "pico-sdk", ["USB CDC", "programs the PLLs at boot", "133 MHz", "SysTick", "/dev/ttyACM0"]),
    ("rpi-pico", "platformio", ["pio device monitor -e rpi-pico", "TFLM_DIR"]),
    ("esp32-s3-devkitc", "esp-idf", ["idf.py -p /dev/ttyUSB0 monitor", "240 MHz", "8128 KB factory partition"]),
    ("qemu-mps2-an386", "make", ["CMSDK UART0", "-serial stdio", "exits with the firmware's status"]),
])
def test_readmes_tell_how_to_build_flash_and_watch_the_console(vww, arena, name, bs, needles, tmp_path):
    readme = (_emit(vww, arena, name, tmp_path / "p", bs) / "README.md").read_text()
    assert "## Build" in readme and "## Flash" in readme and "## Serial console" in readme
    for n in needles:
        assert n in readme, n
    assert "does not program the PLL" not in readme


def test_pico_console_choice_reaches_the_sdk_and_the_readme(vww, arena, tmp_path):
    uart = _emit(vww, arena, load_board("rpi-pico").with_console("uart"), tmp_path / "uart")
    cmake = (uart / "CMakeLists.txt").read_text()
    assert "pico_enable_stdio_usb(app 0)" in cmake and "pico_enable_stdio_uart(app 1)" in cmake
    assert "The firmware prints on UART0 (GP0 TX, GP1 RX) at 115200 Bd" in (uart / "README.md").read_text()
    usb = _emit(vww, arena, "rpi-pico", tmp_path / "usb")
    assert "pico_enable_stdio_usb(app 1)" in (usb / "CMakeLists.txt").read_text()
    for proj, console in ((uart, "uart"), (usb, "usb-cdc")):
        assert json.loads((proj / "ofa-mcu.json").read_text())["console"] == console


def _defines(header: str) -> dict[str, int]:
    out = {}
    for line in header.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "#define":
            try:
                out[parts[1]] = int(parts[2].rstrip("u"), 0)
            except ValueError:
                pass
    return out


AHB_DIV = {0: 1, 8: 2, 9: 4, 10: 8, 11: 16, 12: 64, 13: 128, 14: 256, 15: 512}


@pytest.mark.parametrize("name", [b.name for b in list_boards()])
def test_ofa_cpu_hz_is_the_clock_each_build_system_really_sets(vww, arena, name, tmp_path):
    """For every build system of the board, OFA_CPU_HZ equals what the firmware's own clock set-up
    produces: recomputed from the PLL values the bare-metal BSP programs (board_config.h), from the
    Pico SDK's clock definitions, from sdkconfig, or the framework's figure for Arduino cores."""
    board = load_board(name)
    for bs in board.build_systems:
        proj = _emit(vww, arena, board, tmp_path / bs, bs)
        spec = json.loads((proj / "ofa-mcu.json").read_text())
        header = next(proj.rglob("board_config.h")).read_text()
        d = _defines(header)
        hz = d["OFA_CPU_HZ"]
        assert hz == board.cpu_hz(bs), (bs, hz)
        if bs in ("make", "cmake") and board.family == "stm32f7":
            assert d["OFA_CLK_HSE_HZ"] // d["OFA_CLK_PLLM"] * d["OFA_CLK_PLLN"] // (2 * (d["OFA_CLK_PLLP_CODE"] + 1)) == hz
        elif bs in ("make", "cmake") and board.family == "stm32h7":
            vco = d["OFA_CLK_HSE_HZ"] // d["OFA_CLK_DIVM1"] * (d["OFA_CLK_DIVN1_CODE"] + 1)
            assert vco // (d["OFA_CLK_DIVP1_CODE"] + 1) // AHB_DIV[d["OFA_CLK_D1CPRE_CODE"]] == hz
        elif bs == "pico-sdk":
            cm = (proj / "CMakeLists.txt").read_text()
            clk = dict(x.split("=") for x in cm.split() if x.startswith(("SYS_CLK_HZ=", "PLL_SYS_")))
            assert int(clk["SYS_CLK_HZ"]) == hz
            assert int(clk["PLL_SYS_VCO_FREQ_HZ"]) // (int(clk["PLL_SYS_POSTDIV1"]) * int(clk["PLL_SYS_POSTDIV2"])) == hz
        elif board.family == "esp32s3":
            assert f"CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_{hz // 1_000_000}=y" in (proj / "sdkconfig.defaults").read_text()
        # where the firmware prints: the framework's own console (Arduino Serial, ESP-IDF's UART0)
        # where a framework owns it, else the board's
        framework = {"arduino": "serial", "esp-idf": "uart"}.get(bs)
        if bs == "platformio":
            framework = "serial" if board.platformio_framework == "arduino" else "uart"
        assert spec["console"] == (framework or board.console), (bs, spec["console"])
