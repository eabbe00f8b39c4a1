"""The MLPerf Tiny reference architectures (ResNet-8, DS-CNN, FC autoencoder; rebuilt with random
weights by ``codegen.native.testmodels``) deploy with ``--backend native``, build, and match
TFLite-Micro bit for bit in QEMU; and ``flash --count-instructions --json`` counts the TFLite-Micro
firmware (CMSIS-NN kernels) the same way as the native one, so the two are compared on one board."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from codegen.native.testmodels import MLPERF_TINY, mlperf_tiny_tflite
from ofa_mcu.quant.tflm_runner import tflm_outputs
from ofa_mcu.cli import main as cli_main
from shared_trees import tflm_tree_or_skip

BOARD = "qemu-mps2-an500"
needs_arm = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                               reason="needs qemu-system-arm and arm-none-eabi-gcc (apt)")


@pytest.fixture(scope="module")
def mlperf(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlperf")
    out = {}
    for name in MLPERF_TINY:
        (d / f"{name}.tflite").write_bytes(mlperf_tiny_tflite(name))
        out[name] = d / f"{name}.tflite"
    return out


@needs_arm
@pytest.mark.slow
@pytest.mark.parametrize("name", list(MLPERF_TINY))
def test_reference_model_deploys_natively_and_matches_tflm_in_qemu(mlperf, name, tmp_path, capfd):
    from codegen.tflite_model import read_model

    tfl = mlperf[name].read_bytes()
    info = read_model(tfl)
    x = np.random.default_rng(3).integers(-128, 128, size=info.input.shape, dtype=np.int16).astype(np.int8)
    np.save(tmp_path / "x.npy", x.reshape(info.input.shape[1:]) if len(info.input.shape) == 4 else x.reshape(-1))
    out = tmp_path / "p"
    assert cli_main(["deploy", str(mlperf[name]), "--board", BOARD, "--backend", "native", "--out", str(out),
                     "--test-image", str(tmp_path / "x.npy")]) == 0
    summary = json.loads((out / "deploy_summary.json").read_text())
    assert summary["self_test"]["expected_scores"] == tflm_outputs(tfl, x)[0].tolist()
    assert summary["native"]["static_buffer_bytes"] <= 0.5 * summary["arena_measured_bytes"]
    if name == "resnet8":  # the stride-1 stack runs as one fused residual block, over its input
        assert '"kernel": "resblock"' in (out / "plan.json").read_text()
    capfd.readouterr()
    assert cli_main(["flash", str(out)]) == 0
    assert "1/1 outputs match TFLite-Micro" in capfd.readouterr().out


@needs_arm
@pytest.mark.slow
def test_count_instructions_of_a_tflm_project_as_json(mlperf, tmp_path, capfd):
    tree = tflm_tree_or_skip("cmsis-nn")
    out = tmp_path / "tflm"
    assert cli_main(["deploy", str(mlperf["ds_cnn"]), "--board", BOARD, "--out", str(out)]) == 0
    capfd.readouterr()
    assert cli_main(["flash", str(out), "--tflm-dir", str(tree), "--kernels", "cmsis-nn", "--count-instructions",
                     "--json"]) == 0
    captured = capfd.readouterr()
    rec = json.loads(captured.out)  # stdout holds the one JSON object, the build talks on stderr
    from codegen.native.profile import tflm_layers

    layers = tflm_layers(mlperf["ds_cnn"].read_bytes())
    assert rec["board"] == BOARD and rec["backend"] == "tflm" and rec["exit_code"] == 0
    assert [r["name"] for r in rec["per_layer"]] == [l["name"] for l in layers]
    assert all(r["instructions"] > 0 for r in rec["per_layer"])
    # the total is the whole Invoke: the ops plus the interpreter's own work between them
    assert rec["instructions"] > sum(r["instructions"] for r in rec["per_layer"])
    conv = [r for r in rec["per_layer"] if r["name"] == "CONV_2D"]
    assert conv[0]["macs"] == 25 * 5 * 64 * 10 * 4  # the 10x4 stride-2 input conv on 49x10
