"""Native firmware under QEMU (mps2-an386 Cortex-M4, mps2-an500 Cortex-M7): built with
arm-none-eabi-gcc + newlib, scores printed over semihosting equal TFLite-Micro's, exit code
as the verdict, and per-layer instruction counts from the QEMU plugin."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from codegen.native import emit_native, testmodels as tm
from codegen.native.latency import graph_instructions
from codegen.native.qemu import build_firmware, count_instructions, firmware_sizes, run_in_qemu
from codegen.native.reference import random_inputs, tflm_outputs

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc (apt)")

BOARDS = [("qemu-mps2-an386", "mps2-an386"), ("qemu-mps2-an500", "mps2-an500")]


@pytest.fixture(scope="module")
def model():
    m, shape = tm.mbconv_model(k=5, stride=2, hw=16, cin=8, expand=4, cout=16, se=True, seed=11)
    tfl = tm.convert(m, shape)
    x = random_inputs(np.random.default_rng(5), 6, shape)
    return tfl, x, tflm_outputs(tfl, x)


def _scores(stdout: str) -> np.ndarray:
    rows = re.findall(r"^scores \d+:((?: -?\d+)+)$", stdout, re.M)
    return np.array([[int(v) for v in r.split()] for r in rows], dtype=np.int64)


@pytest.mark.slow
@pytest.mark.parametrize("board,machine", BOARDS)
def test_firmware_scores_equal_tflm(model, board, machine, tmp_path):
    tfl, x, ref = model
    res = emit_native(tfl, tmp_path / "proj", board=board, test_input_int8=x, expected_output_int8=ref,
                      model_name="mbconv", plot=False)
    elf = build_firmware(res.out_dir, board)
    from ofa_mcu.boards import load_board

    mem = load_board(board).memory
    size = firmware_sizes(elf, mem.flash_origin, mem.flash_length)
    assert size["rodata_bytes"] >= res.const_bytes  # the weights are in flash, not copied to RAM
    assert size["data_bytes"] < res.const_bytes
    assert size["bss_bytes"] >= res.peak_bytes
    code, out = run_in_qemu(elf, machine, timeout=120)
    assert code == 0, out
    got = _scores(out)
    assert got.shape == ref.shape and np.array_equal(got, ref.astype(np.int64))
    assert f"{len(x)}/{len(x)} outputs match" in out

    counts = count_instructions(elf, machine)
    n = len(res.graph.layers)
    assert len(counts["per_layer"]) == n and sum(counts["per_layer"]) == counts["total"]
    assert counts["inferences"] == len(x) and counts["exit_code"] == 0
    for l, c in zip(res.graph.layers, counts["per_layer"]):
        assert c >= l.macs / 2 > 0 or l.macs == 0, (l.name, c, l.macs)  # SMLAD: at most two MACs per instruction
    # the shipped latency model predicts this unseen network's count within 35 %
    pred = graph_instructions(res.graph).sum()
    assert abs(pred - counts["total"]) / counts["total"] < 0.35, (pred, counts["total"])


@pytest.mark.slow
def test_wrong_expected_output_fails_the_verdict(model, tmp_path):
    tfl, x, ref = model
    bad = ref.copy()
    bad[0, 0] = np.int8(int(bad[0, 0]) ^ 1)
    res = emit_native(tfl, tmp_path / "proj", board="qemu-mps2-an386", test_input_int8=x[:2],
                      expected_output_int8=bad[:2], plot=False)
    code, out = run_in_qemu(build_firmware(res.out_dir, "qemu-mps2-an386"), "mps2-an386")
    assert code == 1 and "1/2 outputs match" in out
