"""``ofa-mcu measure`` and ``ofa-mcu calibrate`` as a user runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ofa_mcu.cli import main
from ofa_mcu.config import FASHION_MNIST
from ofa_mcu.space.arch import smallest_arch


@pytest.mark.slow
def test_measure_prints_json_lines_and_keeps_models(tmp_path):
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps([smallest_arch(FASHION_MNIST)]))
    keep = tmp_path / "models"
    cmd = [sys.executable, "-m", "ofa_mcu", "measure", str(archs), "--space", "fashion_mnist", "--keep", str(keep)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1  # stdout carries nothing but the JSON lines (converter chatter is captured)
    row = json.loads(lines[0])
    assert row["index"] == 0 and row["arch"] == smallest_arch(FASHION_MNIST)
    assert row["tflm_arena_bytes"] == row["head"] + row["tail"] > 0
    assert row["tflite_bytes"] == (keep / "0.tflite").stat().st_size
    assert "CONV_2D" in row["ops"] and "measure" in proc.stderr  # tqdm bar on stderr
    # A second run must not overwrite the kept model without --force.
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 2 and "--force" in proc.stderr and proc.stderr.count("\n") == 1


def test_measure_rejects_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"wid": 0}]))
    assert main(["measure", str(bad), "--space", "fashion_mnist"]) == 2
    assert "arch #0" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["measure", str(bad), "--space", "nope"]) == 2


def test_calibrate_refits_from_a_measurement_cache(tmp_path, capsys):
    """With every subnet already in the cache, calibrate measures nothing: it refits on real
    measurements (those shipped with the packaged calibration) and writes a new file."""
    from ofa_mcu.efficiency.tflm_model import calibration_records, load_calibration
    from ofa_mcu.quant.measure import calibration_archs

    cal = load_calibration("fashion_mnist")
    records = calibration_records(cal, "fit") + calibration_records(cal, "holdout")
    cache = tmp_path / "cache.jsonl"
    cache.write_text("".join(json.dumps(r) + "\n" for r in records))
    n = 20
    assert [r["arch"] for r in records[:n]] == calibration_archs(FASHION_MNIST, n, cal["seed"])
    out = tmp_path / "cal.json"
    args = ["calibrate", "--space", "fashion_mnist", "-n", str(n), "--holdout", "5", "--seed", str(cal["seed"]),
            "--measurements", str(cache), "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "holdout" in text and "lab peak estimate" in text
    new = json.loads(out.read_text())
    assert new["n_fit"] == 15 and new["n_holdout"] == 5
    assert new["errors"]["holdout"]["arena_host"]["max_pct"] < 0.25
    assert cache.read_text().count("\n") == len(records)  # nothing new was measured
    assert main(args) == 2 and "--force" in capsys.readouterr().err
    assert main(args[:-2] + ["--holdout", "20", "--out", str(tmp_path / "x.json")]) == 2
