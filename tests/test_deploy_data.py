"""``ofa-mcu deploy --data DIR [--float-model M]``: accuracy of every path on the user's labelled
images or arrays, in the report; unreadable files listed and skipped; bad data one-line errors
with nothing written. The models are small classifiers written without TensorFlow."""
from __future__ import annotations

import json

import numpy as np
import pytest

from codegen.native.opmodel import TensorSpec, graph_model
from ofa_mcu.cli import main as cli_main

QEMU = "qemu-mps2-an386"


def _classifier(float_model: bool = False, seed: int = 0) -> bytes:
    """8x8x1 image -> 3x3 conv (4 ch, ReLU) -> spatial mean -> FC (3 classes): int8 (or its float
    twin with the same real weights)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (4, 3, 3, 1)).astype(np.int8)
    fw = rng.integers(-127, 128, (3, 4)).astype(np.int8)
    ws, fs, xs = 0.01, 0.02, 1 / 255
    if float_model:
        t = [TensorSpec((1, 8, 8, 1), "float32"),
             TensorSpec((4, 3, 3, 1), "float32", data=w.astype(np.float32) * ws),
             TensorSpec((4,), "float32", data=np.zeros(4, np.float32)),
             TensorSpec((1, 8, 8, 4), "float32"),
             TensorSpec((2,), "int32", data=np.array([1, 2], np.int32)),
             TensorSpec((1, 4), "float32"),
             TensorSpec((3, 4), "float32", data=fw.astype(np.float32) * fs),
             TensorSpec((3,), "float32", data=np.zeros(3, np.float32)),
             TensorSpec((1, 3), "float32")]
    else:
        t = [TensorSpec((1, 8, 8, 1), "int8", xs, -128),
             TensorSpec((4, 3, 3, 1), "int8", [ws] * 4, 0, w),
             TensorSpec((4,), "int32", [xs * ws] * 4, 0, np.zeros(4, np.int32)),
             TensorSpec((1, 8, 8, 4), "int8", 0.02, -128),
             TensorSpec((2,), "int32", data=np.array([1, 2], np.int32)),
             TensorSpec((1, 4), "int8", 0.02, -128),
             TensorSpec((3, 4), "int8", fs, 0, fw),
             TensorSpec((3,), "int32", [0.02 * fs] * 3, 0, np.zeros(3, np.int32)),
             TensorSpec((1, 3), "int8", 0.05, 0)]
    ops = [("CONV_2D", [0, 1, 2], [3], "Conv2DOptions", {"padding": 0, "strideH": 1, "strideW": 1,
                                                         "fusedActivationFunction": 1}),
           ("MEAN", [3, 4], [5], "ReducerOptions", {"keepDims": False}),
           ("FULLY_CONNECTED", [5, 6, 7], [8], "FullyConnectedOptions", {})]
    return graph_model(t, ops, [0], [8])


def _images(root, n_per_class: int = 4, seed: int = 1):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in ("cat", "dog", "fox"):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            size = (12, 10) if i % 2 else (8, 8)  # some need resizing
            Image.fromarray(rng.integers(0, 256, size[::-1] + (3,), dtype=np.uint8)).save(root / c / f"{i}.png")
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    (root / "fox" / "notes.txt").write_text("not an image")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    (d / "m.tflite").write_bytes(_classifier())
    (d / "float.tflite").write_bytes(_classifier(float_model=True))
    data = d / "data"
    _images(data)
    return d, data


def test_native_deploy_reports_accuracy_of_every_path(models, tmp_path, capsys):
    d, data = models
    out = tmp_path / "p"
    assert cli_main(["deploy", str(d / "m.tflite"), "--board", QEMU, "--backend", "native", "--out", str(out),
                     "--data", str(data), "--labels", "cat,dog,fox", "--float-model", str(d / "float.tflite")]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if "top-1 on" in ln][0]
    assert "top-1 on 12 samples of data" in line and "2 files skipped" in line
    report = json.loads((out / "report" / "report.json").read_text())
    acc = report["accuracy"]
    assert list(acc) == ["float", "tflite_int8", "tflm", "native"]
    for rec in acc.values():
        conf = np.array(rec["confusion"])
        assert conf.shape == (3, 3) and conf.sum() == 12 and conf.sum(axis=1).tolist() == [4, 4, 4]
        assert rec["top1"] == pytest.approx(np.trace(conf) / 12)
    assert acc["native"]["confusion"] == acc["tflm"]["confusion"]  # bit-exact: same predictions
    ag = report["agreement"]
    assert ag["matrix"][ag["paths"].index("native")][ag["paths"].index("tflm")] == 1.0
    ds = report["dataset"]
    assert ds["class_names"] == ["cat", "dog", "fox"] and ds["images"] == 12
    assert sorted(ds["skipped"]) == ["dog/broken.png: cannot be read (UnidentifiedImageError)",
                                     "fox/notes.txt: not an image file (.txt)"]
    assert "resized to 8x8" in ds["preprocessing"] and "round(x / 0.00392157) + -128" in ds["preprocessing"]
    md = (out / "report" / "report.md").read_text()
    assert "**input preprocessing**" in md and "**skipped files**: 2" in md and "change from float" in md
    assert not (out / "build").exists()  # the host build used for the evaluation is not left behind


@pytest.mark.slow
def test_tflm_deploy_with_arrays_and_labels(models, tmp_path, capsys):
    d, _ = models
    arrays = tmp_path / "arrays"
    arrays.mkdir()
    rng = np.random.default_rng(4)
    np.save(arrays / "x.npy", rng.integers(-128, 128, (10, 8, 8, 1)).astype(np.int8))
    (arrays / "labels.txt").write_text("\n".join(str(v) for v in rng.integers(0, 3, 10)))
    out = tmp_path / "p"
    assert cli_main(["deploy", str(d / "m.tflite"), "--board", QEMU, "--out", str(out), "--data", str(arrays)]) == 0
    report = json.loads((out / "report" / "report.json").read_text())
    assert list(report["accuracy"]) == ["tflite_int8", "tflm"]
    assert report["dataset"]["images"] == 10 and "int8 model inputs used as given" in report["dataset"]["preprocessing"]


@pytest.mark.parametrize("case,message", [
    ("broken_only", "holds no readable image (1 files skipped)"),
    ("unknown_class", "has class folders ['wolf'] that are not among the labels"),
    ("count_mismatch", "has 4 samples in x.npy but 3 labels in labels.txt"),
    ("empty", "holds neither class folders of images nor an array file"),
    ("float_without_data", "--float-model is the reference of the --data evaluation"),
])
def test_bad_data_is_a_one_line_error_and_nothing_is_written(models, tmp_path, capsys, case, message):
    d, _ = models
    data = tmp_path / "data"
    data.mkdir()
    args = ["--data", str(data), "--labels", "cat,dog,fox"]
    if case == "broken_only":
        (data / "cat").mkdir()
        (data / "cat" / "x.png").write_bytes(b"nope")
    elif case == "unknown_class":
        (data / "wolf").mkdir()
    elif case == "count_mismatch":
        np.save(data / "x.npy", np.zeros((4, 8, 8, 1), np.int8))
        (data / "labels.txt").write_text("0\n1\n2\n")
    elif case == "float_without_data":
        args = ["--float-model", str(d / "float.tflite")]
    out = tmp_path / "out"
    assert cli_main(["deploy", str(d / "m.tflite"), "--board", QEMU, "--backend", "native", "--out", str(out),
                     *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_an_int8_float_model_is_one_line_without_the_runtimes_info_line(models, tmp_path):
    """The TFLite runtime prints 'INFO: Created TensorFlow Lite XNNPACK delegate' on stderr (C-level,
    so the command runs as a process here) when it opens a model: only the one error line shows."""
    import subprocess
    import sys

    d, data = models
    proc = subprocess.run([sys.executable, "-m", "ofa_mcu", "deploy", str(d / "m.tflite"), "--board", QEMU,
                           "--out", str(tmp_path / "o"), "--data", str(data), "--labels", "cat,dog,fox",
                           "--float-model", str(d / "m.tflite")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "takes int8 input; give the float model" in lines[0], proc.stderr
    assert not (tmp_path / "o").exists()
