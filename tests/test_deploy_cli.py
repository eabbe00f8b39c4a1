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


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` pixels (its pixels are never read: the size is
    refused first), a few bytes on disk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def _one_line_error(capsys, argv: list[str], out: Path) -> str:
    """Run ``argv``; assert exit 2, a single ``ofa-mcu: error:`` line (no warning lines) and
    nothing written to ``out``; return the line."""
    assert cli_main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ofa-mcu: error: ") and err.count("\n") == 1, err
    assert not out.exists()
    return err


@pytest.mark.parametrize("size, words", [((20000, 20000), "has more than 178,956,970 pixels"),
                                         ((10000, 10000), "has 10000 x 10000 pixels")])
def test_too_large_test_images_are_one_line_errors(models, tmp_path, capsys, size, words):
    image = _png_header(tmp_path / "big.png", *size)
    err = _one_line_error(capsys, ["deploy", str(models / "vww_96_int8.tflite"), "--board", "rpi-pico",
                                   "--test-image", str(image)], tmp_path / "o")
    assert words in err and "over the limit of 67,108,864 (8192 x 8192); shrink it" in err


def _arrays(folder: Path, x, labels) -> Path:
    import numpy as np

    folder.mkdir()
    np.save(folder / "x.npy", x)
    np.save(folder / "labels.npy", labels)
    return folder


def test_data_without_samples_or_with_bad_labels_is_one_line(models, tmp_path, capsys):
    import numpy as np

    model = str(models / "vww_96_int8.tflite")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    (empty_bin / "x.bin").write_bytes(b"")
    (empty_bin / "labels.txt").write_text("")
    cases = [(empty_bin, "holds no sample; give at least one input of shape [96, 96, 3]"),
             (_arrays(tmp_path / "npy", np.zeros((0, 96, 96, 3), np.uint8), np.zeros(0, np.int64)), "holds no sample"),
             (_arrays(tmp_path / "nan", np.zeros((2, 96, 96, 3), np.uint8), np.array([0.0, np.nan])),
              "labels.npy' holds nan at index 1; labels are class indices"),
             (_arrays(tmp_path / "str", np.zeros((1, 96, 96, 3), np.uint8), np.array(["person"])),
              "holds <U6 values; labels are class indices")]
    for folder, words in cases:
        err = _one_line_error(capsys, ["deploy", model, "--board", "rpi-pico", "--data", str(folder)], tmp_path / "o")
        assert words in err, err


def test_image_folders_skip_too_large_images_without_warnings(tmp_path):
    import warnings

    import numpy as np
    from PIL import Image

    from ofa_mcu.data.user_data import load_user_data

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (12, 12), "white").save(tmp_path / name / "ok.png")
    _png_header(tmp_path / "a" / "huge.png", 10000, 10000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_user_data(tmp_path, (1, 8, 8, 3), "int8", 2)
    assert not caught, [str(w.message) for w in caught]
    assert data.n == 2 and data.skipped == [("a/huge.png", "larger than 67,108,864 pixels")]
    # whole-number float labels are class indices
    arrays = _arrays(tmp_path / "arrays", np.zeros((2, 4), np.int8), np.array([1.0, 0.0]))
    assert load_user_data(arrays, (1, 4), "int8", 2).labels.tolist() == [1, 0]


def _damaged(tflite: bytes, edit) -> bytes:
    """``tflite`` with ``edit(subgraph, model)`` applied to its object tree, serialized again."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(tflite, 0))
    edit(model.subgraphs[0], model)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _set(obj, name: str, value) -> None:
    setattr(obj, name, value)


DAMAGE = {
    "op input": (lambda g, m: _set(g.operators[3], "inputs", [10_000, *g.operators[3].inputs[1:]]),
                 "is not a valid .tflite (operator 3 (DEPTHWISE_CONV_2D) input names tensor 10000, but the graph has 89 tensors)"),
    "opcode": (lambda g, m: _set(g.operators[0], "opcodeIndex", 77), "operator 0 names opcode 77, but the file has 8 opcodes"),
    "buffer": (lambda g, m: _set(g.tensors[5], "buffer", 31_247), "tensor 5 names buffer 31247, but the file has"),
    "graph output": (lambda g, m: _set(g, "outputs", [400]), "the graph's output names tensor 400"),
    # a FULLY_CONNECTED output far larger than its weights: TFLM's kernel writes past its buffers
    "shape": (lambda g, m: _set(g.tensors[g.operators[-2].outputs[0]], "shape", [1, 589_834]),
              "TFLite-Micro's interpreter crashed on model '{model}': the flatbuffer is damaged; re-export it"),
}


@pytest.mark.parametrize("backend", ["tflm", "native"])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_models_are_one_line_errors(models, tmp_path, capsys, damage, backend):
    """A .tflite whose header is intact but whose graph is damaged: the parser names the bad
    index; what only TFLite-Micro's interpreter trips over crashes a worker process, not deploy."""
    edit, words = DAMAGE[damage]
    model = tmp_path / "damaged.tflite"
    model.write_bytes(_damaged((models / "vww_96_int8.tflite").read_bytes(), edit))
    err = _one_line_error(capsys, ["deploy", str(model), "--board", "qemu-mps2-an386", "--backend", backend],
                          tmp_path / "o")
    assert words.format(model=model) in err, err
