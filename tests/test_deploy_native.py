"""``ofa-mcu deploy --backend native`` and ``ofa-mcu flash`` of the native project: a real subnet
converted by the project's converter, built with arm-none-eabi-gcc, run in QEMU (scores equal
TFLite-Micro's), instruction counts, dry runs, budgets and the one-line errors."""
from __future__ import annotations

import json
import re
import shutil
import tomllib

import numpy as np
import pytest

from ofa_mcu.quant.tflm_runner import tflm_outputs
from ofa_mcu.boards import BOARDS_DIR, load_board, parse_board
from ofa_mcu.cli import main as cli_main
from ofa_mcu.errors import UserError

QEMU = "qemu-mps2-an386"
needs_arm = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                               reason="needs qemu-system-arm and arm-none-eabi-gcc (apt)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The smallest Fashion-MNIST subnet with random weights, full-int8 via ofa_mcu.quant, and
    an int8 test input (.npy) that deploy embeds as is."""
    from ofa_mcu.config import FASHION_MNIST as cfg
    from ofa_mcu.quant import convert_int8
    from ofa_mcu.space.arch import smallest_arch
    from ofa_mcu.space.folded import random_folded
    from ofa_mcu.space.table import build_table

    rng = np.random.default_rng(7)
    arch = smallest_arch(cfg)
    r = arch["image_size"]
    tfl = convert_int8(random_folded(build_table(arch, cfg), rng),
                       rng.standard_normal((8, cfg.in_channels, r, r)).astype(np.float32))
    d = tmp_path_factory.mktemp("tiny")
    (d / "tiny.tflite").write_bytes(tfl)
    x = rng.integers(-128, 128, size=(1, r, r, cfg.in_channels), dtype=np.int16).astype(np.int8)
    np.save(d / "input.npy", x)
    return d, tfl, x


@pytest.fixture(scope="module")
def qemu_project(tiny, tmp_path_factory):
    d, _, _ = tiny
    out = tmp_path_factory.mktemp("deploy") / "proj"
    assert cli_main(["deploy", str(d / "tiny.tflite"), "--board", QEMU, "--backend", "native", "--out", str(out),
                     "--test-image", str(d / "input.npy"), "--labels", ",".join(f"c{i}" for i in range(10))]) == 0
    return out


def _scores(stdout: str) -> list[list[int]]:
    return [[int(v) for v in m.split()] for m in re.findall(r"^scores \d+:((?: -?\d+)+)$", stdout, re.M)]


@needs_arm
@pytest.mark.slow
def test_native_deploy_writes_project_summary_and_report(tiny, qemu_project, capsys):
    _, tfl, x = tiny
    proj = qemu_project
    manifest = json.loads((proj / "ofa-mcu.json").read_text())
    assert manifest["backend"] == "native" and manifest["board"] == QEMU and manifest["build_system"] == "native-make"
    assert manifest["artifacts"]["elf"] == f"build/{QEMU}/app.elf"
    summary = json.loads((proj / "deploy_summary.json").read_text())
    plan = json.loads((proj / "plan.json").read_text())
    n = summary["native"]
    assert n["static_buffer_bytes"] == plan["arena_bytes"] > 0
    assert n["const_bytes"] == plan["const_bytes"] and n["macs"] == plan["macs"] > 0
    assert n["n_layers"] == len(plan["layers"]) > 10
    assert (proj / n["plan_png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the firmware sections, measured on the built image (the build itself is not kept)
    assert n["rodata_bytes"] >= n["const_bytes"] and n["text_bytes"] > 1000
    assert n["flash_bytes"] == n["text_bytes"] + n["rodata_bytes"] + n["data_bytes"]
    assert n["bss_bytes"] >= n["static_buffer_bytes"] and not (proj / "build").exists()
    board = load_board(QEMU)
    assert summary["sram_budget_bytes"] == board.native_model_sram_budget
    assert summary["sram_headroom_bytes"] == board.native_model_sram_budget - n["static_buffer_bytes"]
    assert summary["fits"] is True
    expected = tflm_outputs(tfl, x)[0]
    assert summary["self_test"]["expected_scores"] == expected.tolist()
    assert summary["self_test"]["expected_label"] == f"c{int(np.argmax(expected))}"
    # the host TFLM arena rides along for comparison (no TFLM arena is reserved in a native
    # project); the report's memory.native is the native build's
    assert "arena_bytes" not in summary and summary["arena_measured_bytes"] > n["static_buffer_bytes"]
    report = json.loads((proj / "report" / "report.json").read_text())
    assert report["backend"] == "native"
    rn = report["memory"]["native"]
    assert rn["peak_bytes"] == n["static_buffer_bytes"] and rn["rodata_bytes"] == n["rodata_bytes"]
    assert rn["flash_bytes"] == n["flash_bytes"] and (proj / "report" / rn["plan_png"]).is_file()


@needs_arm
@pytest.mark.slow
def test_flash_runs_the_native_firmware_in_qemu(tiny, qemu_project, capfd):
    _, tfl, x = tiny
    rc = cli_main(["flash", str(qemu_project)])
    out = capfd.readouterr().out
    assert rc == 0, out
    assert "$ make firmware bin" in out and "$ qemu-system-arm -M mps2-an386" in out
    assert _scores(out) == [tflm_outputs(tfl, x)[0].tolist()]
    assert "1/1 outputs match TFLite-Micro" in out
    assert (qemu_project / f"build/{QEMU}/app.bin").stat().st_size > 1000


@needs_arm
def test_flash_count_instructions_prints_layers_and_latency(qemu_project, capfd):
    if not (qemu_project / f"build/{QEMU}/app.elf").is_file():
        assert cli_main(["flash", str(qemu_project)]) == 0
    capfd.readouterr()
    assert cli_main(["flash", str(qemu_project), "--count-instructions", "--no-build"]) == 0
    out = capfd.readouterr().out
    layers = json.loads((qemu_project / "plan.json").read_text())["layers"]
    rows = re.findall(r"^(\d+): .*?\s([\d,]+)\s+([\d,]+)\s+([\d.]+)$", out, re.M)
    assert [int(r[0]) for r in rows] == [l["index"] for l in layers]
    assert [int(r[1].replace(",", "")) for r in rows] == [l["macs"] for l in layers]
    instr = [int(r[2].replace(",", "")) for r in rows]
    assert all(i > 0 for i in instr)
    total = re.search(r"latency estimate on qemu-mps2-an386: ([\d.]+) ms \(([\d,]+) instructions x 1.25 "
                      r"cycles/instruction / 25 MHz\)", out)
    assert int(total.group(2).replace(",", "")) == sum(instr)
    assert float(total.group(1)) == pytest.approx(sum(instr) * 1.25 / 25e6 * 1e3, rel=1e-3)
    assert "outputs match TFLite-Micro" in out  # the firmware's own output is printed too


@needs_arm
@pytest.mark.slow
def test_native_dry_runs_print_the_exact_commands(tiny, qemu_project, tmp_path, capsys):
    assert cli_main(["flash", str(qemu_project), "--dry-run"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("(cd ")]
    assert lines == [f"(cd {qemu_project} && make firmware bin)",
                     f"(cd {qemu_project} && qemu-system-arm -M mps2-an386 -nographic -serial stdio -monitor none "
                     f"-semihosting-config enable=on,target=native -kernel build/{QEMU}/app.elf)"]
    assert cli_main(["flash", str(qemu_project), "--dry-run", "--count-instructions"]) == 0
    out = capsys.readouterr().out
    assert "-icount shift=0 -plugin" in out and "<address of ofa_layer_marker>" in out
    d, _, _ = tiny
    stm = tmp_path / "stm"
    assert cli_main(["deploy", str(d / "tiny.tflite"), "--board", "stm32f746g-disco", "--backend", "native",
                     "--out", str(stm)]) == 0
    capsys.readouterr()
    assert "FLASH (rx)  : ORIGIN = 0x08000000" in (stm / "startup/linker.ld").read_text()
    assert cli_main(["flash", str(stm), "--dry-run"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("(cd ")]
    assert lines == [f"(cd {stm} && make firmware bin)",
                     f"(cd {stm} && openocd -f board/stm32f7discovery.cfg -c 'program build/stm32f746g-disco/app.elf "
                     "verify reset exit')"]
    # --console semihosting: openocd stays attached to show the output
    sh = tmp_path / "stm-sh"
    assert cli_main(["deploy", str(d / "tiny.tflite"), "--board", "stm32f746g-disco", "--backend", "native",
                     "--console", "semihosting", "--out", str(sh)]) == 0
    capsys.readouterr()
    assert "#define OFA_CONSOLE_SEMIHOSTING 1" in (sh / "bsp/board_config.h").read_text()
    assert cli_main(["flash", str(sh), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(
        "-c 'program build/stm32f746g-disco/app.elf verify' -c 'arm semihosting enable' -c 'reset run')")
    assert cli_main(["flash", str(sh), "--monitor"]) == 2
    assert "prints through semihosting" in capsys.readouterr().err
    assert cli_main(["flash", str(stm), "--dry-run", "--tool", "pyocd"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == \
        f"(cd {stm} && pyocd flash -t stm32f746xg build/stm32f746g-disco/app.elf)"
    assert cli_main(["flash", str(stm), "--count-instructions"]) == 2
    assert "stm32f746g-disco is not a QEMU board" in capsys.readouterr().err


def test_unsupported_op_gets_the_one_line_error_and_nothing_is_written(tmp_path, capsys):
    from codegen.native.opmodel import TensorSpec, single_op_model

    x = TensorSpec((1, 4, 4, 2), "int8", 0.1, 0)
    size = TensorSpec((2,), "int32", None, 0, np.array([8, 8], np.int32))
    model = tmp_path / "m.tflite"
    model.write_bytes(single_op_model("RESIZE_NEAREST_NEIGHBOR", [x, size], [TensorSpec((1, 8, 8, 2), "int8", 0.1, 0)],
                                      "ResizeNearestNeighborOptions", {}))
    out = tmp_path / "out"
    assert cli_main(["deploy", str(model), "--board", QEMU, "--backend", "native", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "op RESIZE_NEAREST_NEIGHBOR is not supported by the native backend (supported: ADD," in err
    assert err.endswith("use --backend tflm for this model")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


@needs_arm
@pytest.mark.slow
def test_mlperf_vww_model_deploys_natively_and_matches_tflm_in_qemu(external_models, tmp_path, capfd):
    """The MLPerf Tiny VWW model as shipped (SOFTMAX included), on the Cortex-M7 board."""
    vww = external_models / "vww_96_int8.tflite"
    out = tmp_path / "vww"
    assert cli_main(["deploy", str(vww), "--board", "qemu-mps2-an500", "--backend", "native", "--out", str(out),
                     "--test-image", str(external_models / "person.bmp"), "--labels", "no_person,person"]) == 0
    summary = json.loads((out / "deploy_summary.json").read_text())
    assert summary["native"]["static_buffer_bytes"] <= 0.5 * summary["arena_measured_bytes"]
    capfd.readouterr()
    assert cli_main(["flash", str(out)]) == 0
    assert "1/1 outputs match TFLite-Micro" in capfd.readouterr().out


def test_native_options_are_checked(tiny, tmp_path, capsys):
    d, _, _ = tiny
    assert cli_main(["deploy", str(d / "tiny.tflite"), "--board", QEMU, "--backend", "native", "--out",
                     str(tmp_path / "p"), "--build-system", "cmake"]) == 2
    assert "--build-system cmake is for --backend tflm" in capsys.readouterr().err


@needs_arm
@pytest.mark.slow
def test_native_budgets_are_enforced(tiny, tmp_path):
    from codegen.native.deploy import deploy_native

    _, tfl, _ = tiny
    data = tomllib.loads((BOARDS_DIR / f"{QEMU}.toml").read_text())
    data["sram_bytes"] = data["runtime"]["native_sram_bytes"] + 2048  # 2 KB for activations
    data["runtime"]["sram_bytes"] = 1024
    small = parse_board(data, "test board")
    with pytest.raises(UserError, match=r"does not fit qemu-mps2-an386: static buffer \d+ B > SRAM budget 2048 B"):
        deploy_native(tfl, small, tmp_path / "p")
    assert not (tmp_path / "p").exists()
    proj, summary = deploy_native(tfl, small, tmp_path / "p", allow_over_budget=True)
    assert summary["fits"] is False and summary["sram_headroom_bytes"] < 0
    assert (proj / "ofa-mcu.json").is_file()
    # an existing project is kept unless --force
    with pytest.raises(UserError, match="pass --force"):
        deploy_native(tfl, small, proj, allow_over_budget=True)
