"""``ofa-mcu deploy`` on MLPerf Tiny's real int8 VWW model: the project, the summary, the errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from codegen.tflm_arrays import parse_c_array
from ofa_mcu.cli import main as cli_main


@pytest.fixture(scope="module")
def models(external_models):
    return external_models


def test_deploy_writes_the_project_and_summary(models, tmp_path, capsys):
    out = tmp_path / "vww-pico"
    rc = cli_main(["deploy", str(models / "vww_96_int8.tflite"), "--board", "rpi-pico", "--out", str(out),
                   "--labels", "no_person,person", "--test-image", str(models / "no_person.bmp")])
    assert rc == 0
    msg = capsys.readouterr().out
    assert f"wrote {out}" in msg and "pico-sdk project for rpi-pico" in msg and "fits" in msg
    report = msg.strip().rsplit("report ", 1)[1]
    assert report.startswith(str(out)) and Path(report).is_file()
    summary = json.loads((out / "deploy_summary.json").read_text())
    assert summary["board"] == "rpi-pico" and summary["model_bytes"] == 333_288
    assert summary["ops"] == ["AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SOFTMAX"]
    assert summary["arena_bytes"] > summary["arena_measured_bytes"] > 0
    assert summary["sram_budget_bytes"] - summary["arena_bytes"] == summary["sram_headroom_bytes"]
    assert summary["self_test"]["input"] == "no_person.bmp"
    data = (out / "src/model_data.cc").read_text()
    assert parse_c_array(data, "g_vww_96_int8_tflite") == (models / "vww_96_int8.tflite").read_bytes()
    assert json.loads((out / "ofa-mcu.json").read_text())["build_system"] == "pico-sdk"


def test_deploy_options(models, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("background\nhuman\n")
    pre = tmp_path / "pre.json"
    pre.write_text(json.dumps({"resolution": 96, "channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}))
    out = tmp_path / "x"
    rc = cli_main(["deploy", str(models / "vww_96_int8.tflite"), "--board", "stm32f746g-disco", "--out", str(out),
                   "--build-system", "cmake", "--labels", str(labels), "--preprocess", str(pre), "--name", "VWW demo!"])
    assert rc == 0, capsys.readouterr().err
    settings = (out / "src/model_settings.cc").read_text()
    assert '"background",' in settings and '"human",' in settings
    # (p/255 - 0.5)/0.5 quantized with scale 1/255, zero point -128: p=0 -> -128 - 255 clamps to -128, p=255 -> 127
    first = re.search(r"kPixelToInput\[kNumChannels\]\[256\] = \{\s*\{\s*(.*?),", settings, re.S).group(1)
    assert first == "-128"
    assert "g_vww_demo_tflite" in (out / "src/model_data.h").read_text()
    assert (out / "CMakeLists.txt").is_file()
    # Existing output: refused, then replaced with --force.
    assert cli_main(["deploy", str(models / "vww_96_int8.tflite"), "--board", "stm32f746g-disco", "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert cli_main(["deploy", str(models / "vww_96_int8.tflite"), "--board", "stm32f746g-disco", "--out", str(out), "--force"]) == 0
    assert (out / "Makefile").is_file() and not (out / "CMakeLists.txt").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.tflite", "--board", "rpi-pico"], "does not exist; pass the path of an int8 .tflite file"),
        (["{models}/person.bmp", "--board", "rpi-pico"], "is not a TFLite flatbuffer"),
        (["{truncated}", "--board", "rpi-pico"], "malformed TFLite flatbuffer"),
        (["{models}/vww_96_int8.tflite", "--board", "stm32f74"], "did you mean stm32f746g-disco?"),
        (["{models}/vww_96_int8.tflite", "--board", "rpi-pico", "--labels", "a,,b"], "empty label"),
        (["{models}/vww_96_int8.tflite", "--board", "rpi-pico", "--labels", "a,b,c"], "3 labels given; the model has 2 outputs"),
        (["{models}/vww_96_int8.tflite", "--board", "rpi-pico", "--test-image", "{models}/vww_96_int8.tflite"], "use one of .bmp"),
        (["{models}/vww_96_int8.tflite", "--board", "rpi-pico", "--build-system", "make"], "does not support build system 'make'"),
    ],
)
def test_deploy_errors_are_one_line(models, tmp_path, capsys, args, message):
    truncated = tmp_path / "t.tflite"
    truncated.write_bytes((models / "vww_96_int8.tflite").read_bytes()[:5000])
    argv = ["deploy"] + [a.format(models=models, truncated=truncated) for a in args] + ["--out", str(tmp_path / "o")]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ofa-mcu: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
