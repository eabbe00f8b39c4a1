"""TFLite-Micro firmware linked against the real runtime (the pinned trees of ../shared) and run
in QEMU on a Cortex-M4 and a Cortex-M7, with both kernel sets: the self-test passes over the
emulated UART, the firmware's own arena figure is what the calibrated memory model predicted
(within 0.25 %), and the reserved arena holds it. Trees: ``tests/shared_trees.py`` (skips in a
fresh clone); TFLM is compiled once per (tree, core flags) into ofa-mcu's library cache.
"""
from __future__ import annotations

import json

import pytest

from codegen.firmware_output import link_overflows, parse_usage
from codegen.tflm_tree import open_tree
from ofa_mcu.boards import load_board
from ofa_mcu.boards.budget import arena_reserve
from ofa_mcu.cli import main as cli_main
from ofa_mcu.config import FASHION_MNIST
from ofa_mcu.errors import UserError
from shared_trees import tflm_tree_or_skip

# A deep subnet with 5x5 and 7x7 depthwise convolutions (CMSIS-NN scratch buffers), SE and
# residual blocks, every op the converter emits, small enough to convert in a few seconds.
ARCH = {"wid": 0, "ks": [3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5, 7, 3, 5],
        "e": [3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4, 6, 3, 4], "d": [1, 2, 1, 2, 1, 2], "image_size": 40}
# The M7 runs are built with the STM32F746's flags (the QEMU twin of a real board), so the
# library they compile is the one the board's own link test uses.
CORES = {"cortex-m4": ("qemu-mps2-an386", None), "cortex-m7": ("qemu-mps2-an500", "stm32f746g-disco")}


@pytest.fixture(scope="module")
def model():
    from ofa_mcu.quant.measure import measure_arch

    record, tflite = measure_arch(ARCH, FASHION_MNIST, seed=3)
    return record, tflite


def _predicted_target(kernels: str, core: str) -> int:
    from ofa_mcu.efficiency import get_efficiency_model
    from ofa_mcu.efficiency.tflm_model import scratch_kernels

    m = get_efficiency_model("tflm", FASHION_MNIST, kernels=scratch_kernels(kernels, core))
    return int(m.evaluate(ARCH)["tflm_arena_bytes_target"])


def test_tree_problems_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="is not a folder; make one with TFLite-Micro's create_tflm_tree.py"):
        open_tree(tmp_path / "missing")
    with pytest.raises(UserError, match=r"TFLite-Micro's C\+\+ sources \(tensorflow/lite/micro/micro_interpreter.cc\)"):
        open_tree(tmp_path)
    (tmp_path / "tensorflow/lite/micro").mkdir(parents=True)
    (tmp_path / "tensorflow/lite/micro/micro_interpreter.cc").write_text("")
    with pytest.raises(UserError, match=r"TFLite-Micro's headers \(tensorflow/lite/micro/micro_interpreter.h\)") as e:
        open_tree(tmp_path)
    assert "\n" not in str(e.value)
    (tmp_path / "tensorflow/lite/micro/micro_interpreter.h").write_text("")
    with pytest.raises(UserError, match=r"op resolver header \(tensorflow/lite/micro/micro_mutable_op_resolver.h\)"):
        open_tree(tmp_path)


def test_a_tree_of_the_other_kernel_set_is_refused():
    tree = tflm_tree_or_skip("reference")
    assert open_tree(tree).kernels == "reference"
    with pytest.raises(UserError, match="holds the reference kernels but --kernels cmsis-nn was asked"):
        open_tree(tree, "cmsis-nn")
    assert open_tree(tflm_tree_or_skip("cmsis-nn")).kernels == "cmsis-nn"


def test_firmware_output_parsing():
    text = ("ofa: arena_used_bytes 168788 of 168800\r\nofa: stack_used_bytes 1544 of 4096\r\n"
            "ofa: heap_used_bytes 0 of 512\r\nofa: inference 1234 cycles, 6 us at 216 MHz\r\n"
            "ofa: self-test PASS: class 3\r\n")
    u = parse_usage(text)
    assert (u["arena_used_bytes"], u["arena_reserved_bytes"], u["stack_used_bytes"], u["heap_reserved_bytes"]) == \
        (168788, 168800, 1544, 512)
    assert u["self_test"] == "PASS" and u["cycles"] == 1234
    log = "ld: region `FLASH' overflowed by 5264 bytes\nld: region `FLASH' overflowed by 12 bytes\n" \
          "ld: region `RAM' overflowed by 7 bytes\n"
    assert link_overflows(log) == {"FLASH": 5264, "RAM": 7}


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["reference", "cmsis-nn"])
@pytest.mark.parametrize("core", sorted(CORES))
def test_firmware_runs_in_qemu_and_its_arena_is_the_predicted_one(model, core, kernels, tmp_path, capfd,
                                                                  monkeypatch):
    """deploy -> flash --tflm-dir (the M4 runs take the tree from $TFLM_DIR instead) -> QEMU."""
    record, tflite = model
    tree = tflm_tree_or_skip(kernels)
    qemu, flags_of = CORES[core]
    board = load_board(qemu)
    if flags_of is not None:  # the real board's flags on its QEMU twin
        import dataclasses

        board = dataclasses.replace(board, cpu_flags=load_board(flags_of).cpu_flags)
    predicted = _predicted_target(kernels, core)
    reserve = arena_reserve(predicted, "calibrated")
    from codegen.project import emit_project

    proj = emit_project(tflite, board, tmp_path / "p", kernels=kernels, arena=reserve, model_name="fm",
                        arena_bytes=record["tflm_arena_bytes"])
    manifest = json.loads((proj / "ofa-mcu.json").read_text())
    assert manifest["kernels"] == kernels
    from codegen.flash import Options, plan, read_manifest, run_plan

    if core == "cortex-m4":
        monkeypatch.setenv("TFLM_DIR", str(tree))
        opts = Options()
    else:
        opts = Options(tflm_dir=str(tree))
    res = run_plan(proj, plan(read_manifest(proj), opts, board=board), echo=lambda _: None, quiet=True)
    u = parse_usage(res.run_output)
    assert res.returncode == 0 and u["self_test"] == "PASS", res.run_output[-2000:]
    assert "max score difference 0 LSB" in res.run_output  # bit-exact with the host TFLM run
    measured = u["arena_used_bytes"]
    assert abs(predicted - measured) <= 0.0025 * measured, (predicted, measured)
    assert measured <= u["arena_reserved_bytes"] == reserve["total"]
    assert u["stack_used_bytes"] < u["stack_reserved_bytes"]
    # The figures came over the emulated UART (the firmware has no semihosting console).
    assert "ofa: status 0" in res.run_output


@pytest.mark.slow
def test_flash_command_builds_with_the_cache_and_reports_the_measurement(model, tmp_path, capsys):
    """The CLI path: ``ofa-mcu deploy --tflm-dir`` measures the 32-bit arena in QEMU and links;
    ``ofa-mcu flash DIR --tflm-dir`` builds and runs it and prints what it measured."""
    _, tflite = model
    tree = tflm_tree_or_skip("cmsis-nn")
    (tmp_path / "m.tflite").write_bytes(tflite)
    out = tmp_path / "proj"
    assert cli_main(["deploy", str(tmp_path / "m.tflite"), "--board", "qemu-mps2-an386", "--out", str(out),
                     "--tflm-dir", str(tree)]) == 0
    said = capsys.readouterr().out
    assert "measured-qemu, cmsis-nn kernels" in said and "linked: flash" in said
    results = json.loads((out / "report" / "report.json").read_text())
    assert results["memory"]["target"]["source"] == "measured-qemu"
    assert results["memory"]["reserved"]["arena_bytes"] - results["memory"]["target"]["arena_bytes"] < 16
    assert cli_main(["flash", str(out), "--tflm-dir", str(tree)]) == 0
    said = capsys.readouterr().out
    assert "self-test PASS" in said and "ofa-mcu: measured on qemu-mps2-an386: arena_used_bytes" in said


@pytest.mark.slow
@pytest.mark.parametrize("board, build_system", [("stm32f746g-disco", "make"), ("nucleo-h743zi2", "cmake")])
def test_real_boards_link_with_their_own_flags_and_fit(board, build_system, tmp_path, capsys):
    """The STM32 boards' projects (Make and CMake) link against the real runtime with each
    board's own core flags, and the linked image fits the board's flash and RAM."""
    from ofa_mcu.quant.measure import measure_arch
    from ofa_mcu.space.arch import smallest_arch

    _, tflite = measure_arch(smallest_arch(FASHION_MNIST), FASHION_MNIST)  # about 0.45 MB: fits both
    tree = tflm_tree_or_skip("cmsis-nn")
    (tmp_path / "m.tflite").write_bytes(tflite)
    out = tmp_path / "proj"
    assert cli_main(["deploy", str(tmp_path / "m.tflite"), "--board", board, "--build-system", build_system,
                     "--out", str(out), "--tflm-dir", str(tree)]) == 0
    assert "linked: flash" in capsys.readouterr().out
    linked = json.loads((out / "report" / "report.json").read_text())["memory"]["linked"]
    b = load_board(board)
    assert 0 < linked["flash_bytes"] <= linked["flash_total_bytes"] == b.memory.flash_length
    assert 0 < linked["ram_bytes"] <= linked["ram_total_bytes"] == b.memory.ram_length


@pytest.mark.slow
def test_a_link_overflow_is_one_line_and_the_project_stays(tmp_path, capsys):
    """A model over the STM32F746's flash, forced past the budget check: the link fails with the
    linker's overflow in bytes, in one line, and the project folder is written for inspection."""
    from ofa_mcu.quant.measure import measure_arch
    from ofa_mcu.space.arch import largest_arch

    tree = tflm_tree_or_skip("cmsis-nn")
    _, tflite = measure_arch(largest_arch(FASHION_MNIST, 32, wid=0), FASHION_MNIST)
    assert len(tflite) > 1_100_000  # more than the board's 1 MB of flash
    (tmp_path / "big.tflite").write_bytes(tflite)
    out = tmp_path / "proj"
    rc = cli_main(["deploy", str(tmp_path / "big.tflite"), "--board", "stm32f746g-disco", "--out", str(out),
                   "--tflm-dir", str(tree), "--allow-over-budget"])
    err = capsys.readouterr().err
    # a cold library cache prints its progress first (on stderr too); the error is one last line
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    assert rc == 2 and lines[-1].startswith("ofa-mcu: error: ") and err.count("ofa-mcu: error") == 1, err
    assert "Traceback" not in err
    assert "the firmware does not fit stm32f746g-disco: the linker reports FLASH by" in err
    assert (out / "ofa-mcu.json").is_file() and (out / "report" / "report.md").is_file()
    over = int(err.split("FLASH by ")[1].split(" B")[0])
    assert over > len(tflite) - 1_048_576  # at least the model's excess over the flash


def test_measured_runtime_footprints_make_the_budgets():
    """The boards' budgets: memory minus the runtime measured from linked images minus the
    application reserve; CMSIS-NN's kernels cost flash, not RAM."""
    from ofa_mcu.boards.budget import runtime_footprint

    b = load_board("stm32f746g-disco")
    ref, cmsis = b.budget("tflm", kernels="reference"), b.budget("tflm", kernels="cmsis-nn")
    fp = runtime_footprint("tflm", "cortex-m7", "cmsis-nn")
    assert cmsis.runtime_flash_bytes == fp["flash_bytes"] and cmsis.source.startswith("measured")
    assert cmsis.flash_bytes == b.flash_bytes - fp["flash_bytes"] - b.reserve_flash_bytes
    assert cmsis.sram_bytes == b.sram_bytes - fp["sram_bytes"] - b.reserve_sram_bytes
    assert 30_000 < cmsis.runtime_flash_bytes - ref.runtime_flash_bytes < 80_000
    assert fp["stack_used_bytes"] < fp["stack_reserved_bytes"]
    assert b.budget("tflm", reserve_flash_bytes=0).flash_bytes == b.flash_bytes - fp["flash_bytes"]
    # a framework build system keeps the board file's stated runtime
    pico = load_board("rpi-pico").budget("tflm")
    assert pico.source.startswith("stated")
    with pytest.raises(UserError, match="leave no room for a model"):
        b.budget("tflm", reserve_flash_bytes=b.flash_bytes)


def test_the_calibrated_target_arena_matches_the_qemu_measurements_it_was_checked_on():
    """The shipped calibration holds the QEMU measurements (20 held-out random subnets x Cortex-M4
    and M7 x both kernel sets, none used for the fit): the model's 32-bit arena is within 0.25 %
    of every one of them, recomputed here from the archs."""
    import numpy as np

    from ofa_mcu.efficiency.tflm_model import load_calibration, predict_from_graph, scratch_kernels, target_graph

    cal = load_calibration("fashion_mnist")
    held = cal["target_measurements"]["holdout"]
    keys = sorted({k for r in held for k in r["target"]})
    assert len(held) >= 20 and keys == ["cortex-m4/cmsis-nn", "cortex-m4/reference", "cortex-m7/cmsis-nn",
                                        "cortex-m7/reference"]
    for key in keys:
        core, kernels = key.split("/")
        kk = scratch_kernels(kernels, core)
        pred = predict_from_graph(target_graph(held, FASHION_MNIST, kk), cal, kk)["tflm_arena_bytes_target"]
        real = np.array([r["target"][key]["arena_used_bytes"] for r in held])
        assert np.all(np.abs(pred - real) <= 0.0025 * real), key
        if kernels == "cmsis-nn":  # the scratch buffers matter: host + 10 % would not have held them all
            host = np.array([r["tflm_arena_bytes"] for r in held])
            assert np.any(host * 1.1 + 1024 < real)
