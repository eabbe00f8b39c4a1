"""``ofa-mcu build`` end to end on the embedded default: real search, supernet, ONNX Runtime,
TFLite converter, TFLM interpreter, cross-compiler and QEMU."""
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest


FAST = ["--population", "20", "--generations", "15", "--eval-images", "120", "--calib-images", "64",
        "--bn-calib-images", "256", "--quiet"]


def _build(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ofa_mcu", "build", *args, *FAST], capture_output=True, text=True,
                          timeout=900, env=env)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_tflm_build_is_verified_deterministic_and_protected(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    r = _build("--board", "stm32f746g-disco", "--out", str(a))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "project:" in r.stdout and "SRAM for the TFLM arena: " in r.stdout and "on the 32-bit target" in r.stdout
    results = json.loads((a / "model" / "results.json").read_text())
    acc = results["accuracy"]
    assert set(acc) == {"float", "onnx_int8", "tflite_int8", "tflm"}
    assert all(v["n"] == 120 for v in acc.values())
    assert acc["float"]["top1"] > 0.5  # the shipped supernet is trained: far above chance (0.1)
    assert abs(acc["tflm"]["top1"] - acc["float"]["top1"]) < 0.1
    mem = results["memory"]
    assert mem["reserved"]["arena_bytes"] <= mem["board"]["model_sram_budget"]
    assert mem["measured"]["tflite_bytes"] <= mem["board"]["model_flash_budget"]
    # the calibrated predictor's host arena equals the measured one within its stated error
    host = mem["measured"]["tflm_arena_bytes"]
    assert abs(mem["predicted"]["tflm_arena_bytes_host"] - host) <= 0.0025 * host + 16
    # the report shows the numbers of the runs
    md = (a / "report" / "report.md").read_text()
    assert f"{100 * acc['tflm']['top1']:.2f} %" in md
    project = _tree(a / "project")
    # the C array holds exactly the verified .tflite
    body = project["src/model_data.cc"].decode().split("{", 1)[1].split("}", 1)[0]
    assert bytes(int(t, 16) for t in re.findall(r"0x([0-9a-fA-F]{2})", body)) == (a / "model" / "model.tflite").read_bytes()
    # same inputs and seed: a byte-identical project
    r = _build("--board", "stm32f746g-disco", "--out", str(b))
    assert r.returncode == 0, r.stderr[-3000:]
    assert _tree(b / "project") == project
    assert (b / "model" / "model.tflite").read_bytes() == (a / "model" / "model.tflite").read_bytes()
    # an existing output is not overwritten without --force
    r = _build("--board", "stm32f746g-disco", "--out", str(a))
    assert r.returncode == 2 and "--force" in r.stderr and r.stderr.count("\n") == 1
    assert _tree(a / "project") == project
    # --force replaces what the build wrote and keeps what the user added
    (a / "project" / "notes.txt").write_text("mine")
    (a / "mine").mkdir()
    (a / "mine" / "data.bin").write_bytes(b"\x01")
    r = _build("--board", "stm32f746g-disco", "--out", str(a), "--force")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (a / "project" / "notes.txt").read_text() == "mine" and (a / "mine" / "data.bin").read_bytes() == b"\x01"
    assert {k: v for k, v in _tree(a / "project").items() if k != "notes.txt"} == project
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folder left


@pytest.mark.slow
def test_failed_build_leaves_nothing_behind(tmp_path):
    out = tmp_path / "fail"
    r = _build("--board", "stm32f746g-disco", "--out", str(out), "--data", str(tmp_path / "no-such-dir"))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Fashion-MNIST not found" in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []
    r = _build("--board", "stm32f746g-disco", "--out", str(out), "--max-sram-kb", "4")
    assert r.returncode == 2 and "smallest possible" in r.stderr
    assert not out.exists()


@pytest.mark.slow
def test_native_build_runs_in_qemu(tmp_path):
    out = tmp_path / "native"
    r = _build("--board", "qemu-mps2-an500", "--backend", "native", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((out / "model" / "results.json").read_text())
    acc = results["accuracy"]
    # the generated C is bit-exact with TFLM, so the same images get the same answers
    assert acc["native"]["confusion"] == acc["tflm"]["confusion"]
    native = results["memory"]["native"]
    assert native["peak_bytes"] <= 0.5 * results["memory"]["measured"]["tflm_arena_bytes"]
    assert native["text_bytes"] > 0
    assert (out / "project" / "ofa_model.c").is_file()
    # flash on a QEMU board builds and runs the firmware; its self-test is the exit code
    r = subprocess.run([sys.executable, "-m", "ofa_mcu", "flash", str(out / "project")], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@pytest.mark.slow
def test_build_fine_tunes_the_chosen_subnet_when_asked(tmp_path):
    out = tmp_path / "ft"
    bad = _build("--board", "stm32f746g-disco", "--out", str(out), "--finetune-epochs", "-1")
    assert bad.returncode == 2 and "argument --finetune-epochs: must be a finite number in [0, 10,000]" in bad.stderr and "Traceback" not in bad.stderr
    r = _build("--board", "stm32f746g-disco", "--out", str(out), "--finetune-epochs", "0.02")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "fine-tuned" in r.stdout
    ft = json.loads((out / "model" / "results.json").read_text())["finetune"]
    assert ft["steps"] == 8 and ft["lr"] == 0.02 and ft["seconds"] > 0
