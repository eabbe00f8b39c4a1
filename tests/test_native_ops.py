"""Each native kernel against TFLite-Micro on random single-op models (shapes, strides,
paddings, fused activations, quantization parameters; ``tests/native_cases.py``): the host build
of the generated C (the portable forms of the DSP instructions) on many random int8 inputs, and
a firmware build on the Cortex-M7 QEMU board (the DSP instructions themselves), bit for bit."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from codegen.native import emit_native
from codegen.native.host import build_host, run_host
from codegen.native.reference import random_inputs, tflm_outputs
from native_cases import cases

CASES = cases()
IDS = [c[0] for c in CASES]
FAST = {"conv3x3_s2_same_ic3", "dw5x5_s2_nhwc", "softmax_10", "add_per_channel"}
needs_arm = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                               reason="needs qemu-system-arm and arm-none-eabi-gcc (apt)")


def _params(names=None):
    return [pytest.param(*c, id=c[0], marks=() if c[0] in FAST else pytest.mark.slow)
            for c in CASES if names is None or c[0] in names]


@pytest.mark.parametrize("name,tflite,choices,kernels", _params())
def test_kernel_bit_exact_on_the_host(name, tflite, choices, kernels, tmp_path):
    res = emit_native(tflite, tmp_path / "p", board="qemu-mps2-an500", plot=False, choices=choices)
    assert {l.kernel for l in res.graph.layers} == kernels
    x = random_inputs(np.random.default_rng(hash(name) % 2**32), 200, res.graph.input_shape[1:])
    ref = tflm_outputs(tflite, x)
    got = run_host(build_host(res.out_dir), x, ref.shape[1])
    bad = (ref != got).any(axis=1)
    assert not bad.any(), f"{bad.sum()}/200 inputs differ, max |diff| {np.abs(ref.astype(int) - got).max()}"


QEMU_CASES = ("conv3x3_s2_same_ic3", "conv10x4_s2_same_ic1", "conv1x1_odd_channels", "conv1x1_dead_channel",
              "conv1x1_left_shift", "dw3x3_s1_plane", "dw5x5_s1_plane", "dw7x7_s2_plane", "dw3x3_s2_nhwc",
              "dw9x9_s3_generic", "fc_odd_inputs", "add_elementwise_relu", "mul_per_channel", "maxpool_3x3_s2_same_relu",
              "mean_keepdims", "softmax_rows_beta", "logistic", "concat_channels", "pad_spatial_and_channels",
              "residual_block_3x3")


@needs_arm
@pytest.mark.slow
@pytest.mark.parametrize("name,tflite,choices,kernels", _params(QEMU_CASES))
def test_kernel_bit_exact_on_cortex_m7(name, tflite, choices, kernels, tmp_path):
    from codegen.native.qemu import build_firmware, run_in_qemu

    x = random_inputs(np.random.default_rng(7), 8, tuple(_input_shape(tflite)))
    ref = tflm_outputs(tflite, x)
    res = emit_native(tflite, tmp_path / "p", board="qemu-mps2-an500", test_input_int8=x, expected_output_int8=ref,
                      plot=False, choices=choices)
    code, out = run_in_qemu(build_firmware(res.out_dir, "qemu-mps2-an500"), "mps2-an500")
    assert code == 0 and "8/8 outputs match TFLite-Micro" in out, out[-2000:]
    rows = re.findall(r"^scores \d+:((?: -?\d+)+)$", out, re.M)
    assert np.array_equal(np.array([[int(v) for v in r.split()] for r in rows]), ref.astype(int))


def _input_shape(tflite):
    from codegen.tflite_model import read_tflite

    m = read_tflite(tflite)
    return m.tensors[m.inputs[0]].shape[1:]
