"""Rendering firmware projects: every board and build system, exact model bytes, host-TFLM
expectations, deterministic output and atomic writes."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from codegen import project as projmod
from codegen.build_spec import with_framework
from codegen.paths import templates_dir
from codegen.project import emit_project
from codegen.tflm_arrays import parse_c_array
from ofa_mcu.quant.tflm_runner import measure_arena, run_reference
from ofa_mcu.boards import BOARDS_DIR, list_boards, load_board, parse_board
from ofa_mcu.boards.budget import default_kernels
from ofa_mcu.errors import UserError

LABELS = ["no_person", "person"]


@pytest.fixture(scope="module")
def vww(external_models) -> bytes:
    return (external_models / "vww_96_int8.tflite").read_bytes()


@pytest.fixture(scope="module")
def person(external_models) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(external_models / "person.bmp"))


@pytest.fixture(scope="module")
def arena(vww) -> int:
    return measure_arena(vww)


def _emit(vww, person, arena, board, out, **kw):
    kw.setdefault("labels", LABELS)
    kw.setdefault("model_name", "vww_96_int8")
    return emit_project(vww, board, out, test_image=person, arena_bytes=arena, test_description="person.bmp", **kw)


def _settings_int(text: str, name: str) -> int:
    return int(re.search(rf"constexpr \w+ {name} = (-?\d+);", text).group(1))


def test_measured_arena_is_the_smallest_that_allocates(vww, arena):
    from tflite_micro.python.tflite_micro import runtime

    assert arena % 16 == 0 and 50_000 < arena < 200_000
    runtime.Interpreter.from_bytes(vww, arena_size=arena)
    with pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes(vww, arena_size=arena - 16)


@pytest.mark.parametrize("board", [b.name for b in list_boards()])
def test_every_board_and_build_system_renders(vww, person, arena, board, tmp_path):
    b = load_board(board)
    expected_out = run_reference(vww, (np.repeat(person[:, :, None], 3, axis=2).astype(np.int16) - 128).astype(np.int8)[None])
    for bs in b.build_systems:
        spec = with_framework(tomllib.loads((templates_dir() / bs / "build.toml").read_text()), b)
        out = _emit(vww, person, arena, b, tmp_path / bs, build_system=bs)
        manifest = json.loads((out / "ofa-mcu.json").read_text())
        assert manifest["board"] == board and manifest["build_system"] == bs and manifest["backend"] == "tflm"
        src = out / spec["src_dir"].format(sketch=manifest["sketch"] or "")
        cc = spec["cc_ext"]
        names = {p.name for p in src.iterdir()}
        assert {"model_data.h", f"model_data.{cc}", "model_settings.h", f"model_settings.{cc}", "test_image.h",
                f"test_image.{cc}", "board_config.h", "ofa_bsp.h"} <= names
        for rel in spec["render"]:
            assert (out / rel.format(sketch=manifest["sketch"] or "")).is_file(), rel
        main = out / spec["main"].format(sketch=manifest["sketch"] or "")
        main_text = main.read_text()
        # The resolver registers exactly the model's ops.
        assert "MicroMutableOpResolver<6>" in main_text
        assert sorted(re.findall(r"resolver\.(Add\w+)\(\)", main_text)) == sorted(
            ["AddAveragePool2D", "AddConv2D", "AddDepthwiseConv2D", "AddFullyConnected", "AddReshape", "AddSoftmax"])
        assert "TFLITE_SCHEMA_VERSION" in main_text
        # The array holds the exact .tflite, with hash and tool version in the comment.
        data_cc = (src / f"model_data.{cc}").read_text()
        assert parse_c_array(data_cc, "g_vww_96_int8_tflite") == vww
        assert "alignas(16) const unsigned char g_vww_96_int8_tflite[]" in data_cc
        assert manifest["model"]["sha256"] in data_cc and "ofa-mcu 0.1.0" in data_cc
        header = (src / "model_data.h").read_text()
        assert "#ifndef OFA_VWW_96_INT8_MODEL_DATA_H_" in header and "extern const unsigned int g_vww_96_int8_tflite_len;" in header
        settings = (src / "model_settings.h").read_text()
        assert _settings_int(settings, "kInputHeight") == 96 and _settings_int(settings, "kNumChannels") == 3
        assert _settings_int(settings, "kInputZeroPoint") == -128 and _settings_int(settings, "kNumClasses") == 2
        b = load_board(board) if isinstance(board, str) else board
        derived = projmod.derived_arena(vww, arena, default_kernels(b.core, bs), b.core)
        assert manifest.get("kernels") == default_kernels(b.core, bs)  # pico-tflmicro: CMSIS-NN
        assert _settings_int(settings, "kTensorArenaSize") == derived["total"]
        assert _settings_int(settings, "kSelfTestExpectedClass") == int(np.argmax(expected_out))
        settings_cc = (src / f"model_settings.{cc}").read_text()
        scores = re.search(r"kSelfTestExpectedScores\[kNumClasses\] = \{(.*?)\};", settings_cc).group(1)
        assert [int(s) for s in scores.split(",")] == expected_out.reshape(-1).tolist()
        assert '"no_person",' in settings_cc and '"person",' in settings_cc
        # The embedded test image is person.bmp in the model's input quantization.
        test_cc = (src / f"test_image.{cc}").read_text()
        body = re.search(r"kTestImage\[kInputSize\] = \{(.*?)\};", test_cc, re.S).group(1)
        vals = np.array([int(v) for v in body.replace("\n", " ").split(",") if v.strip()])
        assert np.array_equal(vals, (np.repeat(person[:, :, None], 3, axis=2).astype(int) - 128).reshape(-1))
        readme = (out / "README.md").read_text()
        assert "## Getting TFLite-Micro" in readme and "## Build" in readme and "## Flash" in readme
        summary = json.loads((out / "deploy_summary.json").read_text())
        assert summary["fits"] and summary["arena_measured_bytes"] == arena and summary["ops"] == sorted(summary["ops"])
        if bs in ("make", "cmake"):
            ld = (out / "linker.ld").read_text()
            assert f"ORIGIN = 0x{b.memory.ram_origin:08X}, LENGTH = {b.memory.ram_length}" in ld
            assert f"ORIGIN = 0x{b.memory.flash_origin:08X}, LENGTH = {b.memory.flash_length}" in ld


def test_readmes_say_where_tflm_comes_from(vww, person, arena, tmp_path):
    cases = {
        ("stm32f746g-disco", "make"): ["create_tflm_tree.py", "TARGET_ARCH=cortex-m7+fp", "make TFLM_DIR=", "openocd -f board/stm32f7discovery.cfg"],
        ("nucleo-h743zi2", "cmake"): ["create_tflm_tree.py", "cmake -S . -B build -DTFLM_DIR=", "board/st_nucleo_h743zi.cfg"],
        ("rpi-pico", "pico-sdk"): ["pico-tflmicro", "PICO_SDK_PATH", "picotool load -f -x build/app.uf2"],
        ("esp32-s3-devkitc", "esp-idf"): ["esp-tflite-micro", "idf.py build", "esptool.py --chip esp32s3"],
        ("esp32-s3-devkitc", "platformio"): ["src/idf_component.yml", "esp-tflite-micro", "pio run -e esp32-s3-devkitc", "-t upload"],
        ("stm32f746g-disco", "platformio"): ["TFLM_DIR", "ofa_tflm.py", "pio run -e stm32f746g-disco", "pio device monitor"],
        ("nano33ble-sense", "arduino"): ["Chirale_TensorFLowLite", "arduino-cli monitor -p /dev/ttyACM0",
                                         "arduino-cli compile --fqbn arduino:mbed_nano:nano33ble",
                                         "arduino-cli upload -p '<PORT>'"],
        ("qemu-mps2-an500", "make"): ["qemu-system-arm -M mps2-an500", "-serial stdio", "CMSDK UART0"],
        ("nucleo-h743zi2", "make"): ["USART3 (PD8 TX, PD9 RX, AF7)", "400 MHz", "voltage scale 1",
                                     "'program build/app.elf verify reset exit'"],
    }
    for (board, bs), needles in cases.items():
        out = _emit(vww, person, arena, board, tmp_path / f"{board}-{bs}", build_system=bs)
        readme = (out / "README.md").read_text()
        for n in needles:
            assert n in readme, (board, bs, n)


def test_rendering_is_deterministic(vww, person, arena, tmp_path):
    a = _emit(vww, person, arena, "nano33ble-sense", tmp_path / "a")
    b = _emit(vww, person, arena, "nano33ble-sense", tmp_path / "b")
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) >= 10
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_user_names_become_safe_identifiers(vww, person, arena, tmp_path):
    out = _emit(vww, person, arena, "nano33ble-sense", tmp_path / "p", model_name="2 class/model*v1",
                project_name="My Sketch!", labels=['no "person"', "person\\x"])
    sketch = out / "my_sketch"
    assert (sketch / "my_sketch.ino").is_file()
    data = (sketch / "model_data.cpp").read_text()
    assert "g_model_2_class_model_v1_tflite[]" in data
    settings = (sketch / "model_settings.cpp").read_text()
    assert r'"no \"person\"",' in settings and r'"person\\x",' in settings


def test_existing_output_needs_force_and_only_ofa_mcus_files_are_replaced(vww, person, arena, tmp_path):
    out = tmp_path / "proj"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    for force in (False, True):  # a folder ofa-mcu did not write is never replaced
        with pytest.raises(UserError, match="not empty and was not written by ofa-mcu"):
            _emit(vww, person, arena, "rpi-pico", out, force=force)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    (out / "mine.txt").unlink()
    _emit(vww, person, arena, "rpi-pico", out)
    (out / "mine.txt").write_text("user data")  # added beside the generated project
    with pytest.raises(UserError, match="already exists; choose another path or pass --force"):
        _emit(vww, person, arena, "rpi-pico", out)
    _emit(vww, person, arena, "rpi-pico", out, force=True, labels=["a", "b"])
    assert (out / "mine.txt").read_text() == "user data" and (out / "ofa-mcu.json").is_file()
    assert '"a"' in (out / "src" / "model_settings.cc").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"], "no temporary folders left behind"
    # An empty folder is fine without --force.
    empty = tmp_path / "empty"
    empty.mkdir()
    _emit(vww, person, arena, "rpi-pico", empty)
    assert (empty / "CMakeLists.txt").is_file()


def test_failure_midway_leaves_the_old_project(vww, person, arena, tmp_path, monkeypatch):
    out = _emit(vww, person, arena, "rpi-pico", tmp_path / "proj")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real = Path.write_bytes

    def flaky(self, data):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError, match="disk full"):
        _emit(vww, person, arena, "rpi-pico", out, force=True, labels=["a", "b"])
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]
    with pytest.raises(OSError):
        monkeypatch.setattr(Path, "write_bytes", flaky)
        calls["n"] = 0
        _emit(vww, person, arena, "rpi-pico", tmp_path / "fresh")
    monkeypatch.undo()
    assert not (tmp_path / "fresh").exists()


def test_budgets_are_enforced(vww, person, arena, tmp_path):
    data = tomllib.loads((BOARDS_DIR / "nano33ble-sense.toml").read_text())
    data["sram_bytes"] = 128 * 1024  # 48 KB left for the model (runtime and application reserve): the VWW arena does not fit
    small = parse_board(data, "small.toml")
    left = small.budget("tflm").sram_bytes
    assert left == 128 * 1024 - small.runtime_sram_bytes - small.reserve_sram_bytes
    with pytest.raises(UserError, match=rf"does not fit nano33ble-sense: arena \d+ B > SRAM budget {left} B"):
        _emit(vww, person, arena, small, tmp_path / "no")
    assert not (tmp_path / "no").exists()
    out = _emit(vww, person, arena, small, tmp_path / "yes", allow_over_budget=True)
    summary = json.loads((out / "deploy_summary.json").read_text())
    assert summary["fits"] is False and summary["sram_headroom_bytes"] < 0


def test_bad_inputs_are_user_errors(vww, person, arena, tmp_path):
    with pytest.raises(UserError, match="3 labels given; the model has 2 outputs"):
        _emit(vww, person, arena, "rpi-pico", tmp_path / "a", labels=["a", "b", "c"])
    with pytest.raises(UserError, match="does not support build system 'esp-idf'"):
        _emit(vww, person, arena, "rpi-pico", tmp_path / "b", build_system="esp-idf")
    with pytest.raises(UserError, match="preprocess says 1 channels"):
        _emit(vww, person, arena, "rpi-pico", tmp_path / "c", preprocess={"resolution": 96, "channels": 1, "mean": [0], "std": [1]})
    with pytest.raises(UserError, match="the model wants 96x96 pixels"):
        _emit(vww, person[:50], arena, "rpi-pico", tmp_path / "d")
    with pytest.raises(UserError, match="the caller expected 1"):
        emit_project(vww, "rpi-pico", tmp_path / "e", labels=LABELS, arena_bytes=arena,
                     test_image={"input": person, "expected_class": 1})
    with pytest.raises(UserError, match="must be relative"):
        _emit(vww, person, arena, "rpi-pico", tmp_path / "f", extra_files={"../evil": b"x"})
    assert not any((tmp_path / n).exists() for n in "abcdef")


def test_extra_files_and_int8_test_input(vww, person, arena, tmp_path):
    x = (np.repeat(person[:, :, None], 3, axis=2).astype(np.int16) - 128).astype(np.int8)
    out = emit_project(vww, "qemu-mps2-an386", tmp_path / "p", labels=LABELS, arena_bytes=arena, test_image=x,
                       model_name="vww", extra_files={"docs/report.md": b"# hi\n"})
    assert (out / "docs/report.md").read_bytes() == b"# hi\n"
    body = re.search(r"kTestImage\[kInputSize\] = \{(.*?)\};", (out / "src/test_image.cc").read_text(), re.S).group(1)
    assert [int(v) for v in body.replace("\n", " ").split(",") if v.strip()] == x.reshape(-1).tolist()
