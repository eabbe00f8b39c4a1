"""``ofa-mcu flash``: exact commands per board (--dry-run), install hints for missing tools, and
the QEMU runner on a real image."""
from __future__ import annotations

import json
import subprocess

import pytest

from codegen.flash import FLASH_TOOLS, MANIFEST, MANIFEST_FORMAT, Options, plan, read_manifest, run_plan
from codegen.project import emit_project
from codegen.tflm_tree import CMSIS_NN_MARKER, CMSIS_NN_REQUIRED, REQUIRED
from ofa_mcu.quant.tflm_runner import measure_arena
from ofa_mcu.boards import list_boards, load_board
from ofa_mcu.cli import main as cli_main
from ofa_mcu.errors import UserError


@pytest.fixture(scope="module")
def vww(external_models) -> bytes:
    return (external_models / "vww_96_int8.tflite").read_bytes()


@pytest.fixture(scope="module")
def arena(vww) -> int:
    return measure_arena(vww)


def _emit(vww, arena, board, out, bs=None):
    return emit_project(vww, board, out, build_system=bs, labels=["no_person", "person"], arena_bytes=arena, model_name="vww")


def _fake_tree(root, kernels: str = "reference"):
    """A folder with the files ``open_tree`` checks for (enough for a dry run, not a build)."""
    files = [rel for rel, _ in REQUIRED]
    if kernels == "cmsis-nn":
        files += [rel for rel, _ in CMSIS_NN_REQUIRED]
        (root / CMSIS_NN_MARKER).mkdir(parents=True)
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()
    return root


# Manifests as deploy writes them, without the project around them (flash reads only these).
TFLM_MANIFEST = {"format": MANIFEST_FORMAT, "backend": "tflm", "board": "qemu-mps2-an386", "build_system": "make",
                 "project": "m", "sketch": None, "console": "uart", "kernels": "cmsis-nn",
                 "artifacts": {"bin": "build/app.bin", "elf": "build/app.elf"}, "model": {"name": "m", "ops": ["CONV_2D"]}}
NATIVE_MANIFEST = {**TFLM_MANIFEST, "backend": "native", "build_system": "native-make",
                   "artifacts": {"bin": "build/qemu-mps2-an386/app.bin", "elf": "build/qemu-mps2-an386/app.elf"}}


def _project(root, manifest) -> str:
    root.mkdir(exist_ok=True)
    (root / MANIFEST).write_text(json.dumps(manifest))
    return str(root)


EXPECTED_FLASH = {
    "stm32f746g-disco": "openocd -f board/stm32f7discovery.cfg -c 'program build/app.elf verify reset exit'",
    "nucleo-h743zi2": "openocd -f board/st_nucleo_h743zi.cfg -c 'program build/app.elf verify reset exit'",
    "nano33ble-sense": "arduino-cli upload -p /dev/ttyACM0 --fqbn arduino:mbed_nano:nano33ble vww",
    "rpi-pico": "picotool load -f -x build/app.uf2",
    "esp32-s3-devkitc": "esptool.py --chip esp32s3 -p /dev/ttyACM0 -b 460800 --before default_reset --after hard_reset write_flash @flash_args",
    "qemu-mps2-an386": "qemu-system-arm -M mps2-an386 -nographic -serial stdio -monitor none -semihosting-config enable=on,target=native -kernel build/app.elf",
    "qemu-mps2-an500": "qemu-system-arm -M mps2-an500 -nographic -serial stdio -monitor none -semihosting-config enable=on,target=native -kernel build/app.elf",
}


@pytest.mark.parametrize("board", sorted(EXPECTED_FLASH))
def test_dry_run_prints_the_exact_commands(vww, arena, board, tmp_path, capsys):
    proj = _emit(vww, arena, board, tmp_path / "p")
    tree = _fake_tree(tmp_path / "tflm", read_manifest(proj).get("kernels", "reference"))
    assert cli_main(["flash", str(proj), "--dry-run", "--tflm-dir", str(tree), "--port", "/dev/ttyACM0"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("(cd ")]
    assert lines[-1].endswith(EXPECTED_FLASH[board] + ")"), lines[-1]
    b = load_board(board)
    if b.default_build_system in ("make", "cmake"):
        assert f"TFLM_DIR={tree}" in out
    if board == "esp32-s3-devkitc":
        assert lines[-1].startswith(f"(cd {proj / 'build'} && ")
        assert "idf.py build" in out


def test_dry_run_uses_placeholders_for_missing_values(vww, arena, tmp_path, capsys):
    proj = _emit(vww, arena, "nano33ble-sense", tmp_path / "p")
    assert cli_main(["flash", str(proj), "--dry-run"]) == 0
    assert "arduino-cli upload -p '<PORT>'" in capsys.readouterr().out


def test_platformio_projects_upload_with_platformio(vww, arena, tmp_path):
    proj = _emit(vww, arena, "rpi-pico", tmp_path / "p", "platformio")
    p = plan(read_manifest(proj), Options())
    assert [s.shell() for s in p.build] == ["pio run -e rpi-pico"]
    assert [s.shell() for s in p.flash] == ["pio run -e rpi-pico -t upload"]
    # --tflm-dir reaches the project's extra script through TFLM_DIR
    p = plan(read_manifest(proj), Options(tflm_dir="/opt/tflm"))
    assert [s.shell() for s in p.build] == ["TFLM_DIR=/opt/tflm pio run -e rpi-pico"]
    assert "runs `pio run` with `TFLM_DIR` set" in (proj / "README.md").read_text()


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "stm32f746g-disco"])
def test_make_run_target(vww, arena, board, tmp_path):
    """The Make project's `make run` runs QEMU boards with flash's own command, and says what
    to do on real hardware; the README names it only where it exists."""
    proj = _emit(vww, arena, board, tmp_path / "p", "make")
    tree = tmp_path / "tree"  # what the Makefile checks before any rule runs
    (tree / "tensorflow/lite/micro").mkdir(parents=True)
    (tree / "tensorflow/lite/micro/micro_interpreter.h").touch()
    (tmp_path / "libtflm.a").touch()
    out = subprocess.run(["make", "-n", "run", f"TFLM_DIR={tree}", f"TFLM_LIB={tmp_path / 'libtflm.a'}"], cwd=proj,
                         capture_output=True, text=True)
    if board.startswith("qemu"):
        qemu = [ln for ln in out.stdout.splitlines() if ln.startswith("qemu-system-arm")]
        assert qemu and qemu[-1].startswith(EXPECTED_FLASH[board].rsplit(" ", 1)[0]), out.stdout[-500:]
        assert qemu[-1].endswith("app.elf")
    else:
        assert "real hardware" in out.stdout + out.stderr
    cmake = _emit(vww, arena, board, tmp_path / "c", "cmake")
    assert "make run" not in (cmake / "README.md").read_text()


def test_tool_override_and_its_limits(vww, arena, tmp_path):
    proj = _emit(vww, arena, "nucleo-h743zi2", tmp_path / "p")
    p = plan(read_manifest(proj), Options(tflm_dir="/t", tool="pyocd"))
    assert [s.shell() for s in p.flash] == ["pyocd flash -t stm32h743zitx build/app.elf"]
    with pytest.raises(UserError, match="flash tool picotool cannot flash a make project"):
        plan(read_manifest(proj), Options(tflm_dir="/t", tool="picotool"))
    with pytest.raises(UserError, match="unknown flash tool 'jtag'"):
        plan(read_manifest(proj), Options(tflm_dir="/t", tool="jtag"))


def test_every_board_flash_tool_is_registered():
    for b in list_boards():
        assert b.flash_tool in FLASH_TOOLS


def test_missing_tools_say_how_to_install(vww, arena, tmp_path, monkeypatch):
    pico = _emit(vww, arena, "rpi-pico", tmp_path / "pico")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    p = plan(read_manifest(pico), Options(tflm_dir="/x"))
    with pytest.raises(UserError, match=r"cmake is needed to build this project but is not installed; install it: apt-get install cmake"):
        run_plan(pico, p)
    (pico / "build").mkdir()
    with pytest.raises(UserError, match=r"picotool is needed to flash rpi-pico but is not installed; install it: .*picotool"):
        run_plan(pico, p)
    esp = _emit(vww, arena, "esp32-s3-devkitc", tmp_path / "esp")
    with pytest.raises(UserError, match=r"esptool.py is needed to flash esp32-s3-devkitc .* pip install esptool"):
        run_plan(esp, plan(read_manifest(esp), Options(port="/dev/ttyUSB0")), build=False)
    nano = _emit(vww, arena, "nano33ble-sense", tmp_path / "nano")
    with pytest.raises(UserError, match="pass --port"):
        plan(read_manifest(nano), Options())


def test_make_project_needs_a_tflm_tree(vww, arena, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TFLM_DIR", raising=False)
    proj = _emit(vww, arena, "stm32f746g-disco", tmp_path / "p")
    assert cli_main(["flash", str(proj)]) == 2
    assert "pass --tflm-dir DIR or set TFLM_DIR" in capsys.readouterr().err


def test_manifest_problems_are_user_errors(tmp_path, capsys):
    assert cli_main(["flash", str(tmp_path)]) == 2
    assert f"has no {MANIFEST}" in capsys.readouterr().err
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "other/9", "board": "rpi-pico", "build_system": "make"}))
    with pytest.raises(UserError, match="expected 'ofa-mcu-project/1'"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("content, words", [
    ([TFLM_MANIFEST], "holds a list, not the project's JSON object"),
    ({**TFLM_MANIFEST, "board": None}, "'board' is null, expected a string"),
    ({**TFLM_MANIFEST, "artifacts": None}, "'artifacts' is null, expected an object"),
    ({**TFLM_MANIFEST, "build_system": ["make"]}, "'build_system' is a list, expected a string"),
    ({**TFLM_MANIFEST, "artifacts": {"elf": 3}}, "'artifacts.elf' is a number, expected a string"),
    ({**TFLM_MANIFEST, "model": {"ops": "CONV_2D"}}, "'model.ops' is a string, expected a list"),
    ({**TFLM_MANIFEST, "console": 1}, "'console' is a number, expected a string or null"),
    ({k: v for k, v in TFLM_MANIFEST.items() if k != "board"}, "lacks 'board'"),
    ({**TFLM_MANIFEST, "backend": "zzz"}, "backend 'zzz' is not one of tflm, native"),
    ({**TFLM_MANIFEST, "kernels": "zzz"}, "kernels 'zzz' is not one of reference, cmsis-nn"),
    ({**TFLM_MANIFEST, "console": "zzz"}, "console 'zzz' is not one of uart"),
    ({**TFLM_MANIFEST, "artifacts": {"elf": "../../../etc/passwd"}}, "artifacts.elf '../../../etc/passwd' leaves the project"),
    ({**TFLM_MANIFEST, "artifacts": {"bin": "/etc/passwd"}}, "artifacts.bin '/etc/passwd' leaves the project"),
])
def test_damaged_manifests_are_one_line_errors(tmp_path, capsys, content, words):
    project = _project(tmp_path / "p", content)
    assert cli_main(["flash", project, "--dry-run", "--tflm-dir", str(_fake_tree(tmp_path / "t", "cmsis-nn"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ofa-mcu: error: ") and err.count("\n") == 1, err
    assert words in err and "regenerate the project with ofa-mcu deploy/build" in err


@pytest.mark.parametrize("manifest", [TFLM_MANIFEST, NATIVE_MANIFEST], ids=["tflm", "native"])
def test_no_build_needs_a_build(tmp_path, capsys, manifest):
    """--no-build on a project never built: one line, before QEMU or nm run."""
    project = _project(tmp_path / "p", manifest)
    elf = manifest["artifacts"]["elf"]
    for extra in ([], ["--count-instructions", "--json"]):
        assert cli_main(["flash", project, "--no-build", *extra]) == 2
        out, err = capsys.readouterr()
        assert err == f"ofa-mcu: error: no build in {project} ({elf} is missing); drop --no-build\n" and not out
    assert cli_main(["flash", project, "--no-build", "--dry-run"]) == 0  # a dry run needs no build


def test_dry_run_checks_the_tree_as_a_run_does(tmp_path, capsys, monkeypatch):
    """--dry-run refuses a --tflm-dir / $TFLM_DIR that a run refuses; a placeholder only when
    no tree is named at all."""
    monkeypatch.delenv("TFLM_DIR", raising=False)
    project = _project(tmp_path / "p", TFLM_MANIFEST)
    assert cli_main(["flash", project, "--dry-run"]) == 0
    assert "make TFLM_DIR=/path/to/tflm-tree" in capsys.readouterr().out
    missing = str(tmp_path / "nonexist")
    for argv, env in ((["--tflm-dir", missing], None), ([], missing), (["--count-instructions", "--tflm-dir", missing], None)):
        if env:
            monkeypatch.setenv("TFLM_DIR", env)
        assert cli_main(["flash", project, "--dry-run", *argv]) == 2
        out, err = capsys.readouterr()
        assert f"TFLite-Micro tree {missing!r} is not a folder" in err and err.count("\n") == 1 and not out
    monkeypatch.delenv("TFLM_DIR")
    tree = str(_fake_tree(tmp_path / "reference-tree"))  # the project was sized for cmsis-nn
    assert cli_main(["flash", project, "--dry-run", "--tflm-dir", tree]) == 2
    assert "holds the reference kernels but --kernels cmsis-nn was asked" in capsys.readouterr().err
    assert cli_main(["flash", project, "--dry-run", "--tflm-dir", tree, "--kernels", "reference"]) == 0
    assert f"make TFLM_DIR={tree} -j2" in capsys.readouterr().out


PROBE = r"""
#include "ofa_bsp.h"
int main(void) {
  ofa_bsp_init();
  ofa_bsp_log("probe on %s\n", "qemu");
  return 5;
}
"""


def test_qemu_flash_runs_the_image_and_returns_its_status(vww, arena, tmp_path, capfd):
    """The qemu entry of the flash registry on a real ELF built from the project's own startup,
    BSP and linker script (a TFLM image needs TFLM sources, which no registry ships)."""
    b = load_board("qemu-mps2-an386")
    proj = _emit(vww, arena, b, tmp_path / "p")
    (tmp_path / "probe.c").write_text(PROBE)
    (proj / "build").mkdir()
    subprocess.run(["arm-none-eabi-gcc", *b.cpu_flags, "-O2", f"-I{proj / 'src'}", str(proj / "src/startup_cortexm.c"),
                    str(proj / "src/ofa_bsp_baremetal.c"), str(tmp_path / "probe.c"), "-T", str(proj / "linker.ld"),
                    "--specs=nano.specs", "--specs=rdimon.specs", "-o", str(proj / "build/app.elf")], check=True)
    assert cli_main(["flash", str(proj), "--no-build"]) == 5
    out = capfd.readouterr().out
    assert "$ qemu-system-arm -M mps2-an386" in out and "probe on qemu" in out


def test_tflm_project_on_qemu_needs_a_tflm_source_tree(vww, arena, tmp_path, monkeypatch, capsys):
    """A TFLM image cannot be linked without TFLM's C++ sources: flash says to pass --tflm-dir
    with a create_tflm_tree.py tree, and refuses a header-only tree before running make."""
    from codegen.tflm_headers import make_tflm_tree

    monkeypatch.delenv("TFLM_DIR", raising=False)
    proj = _emit(vww, arena, "qemu-mps2-an386", tmp_path / "p")
    assert cli_main(["flash", str(proj)]) == 2
    err = capsys.readouterr().err
    assert "pass --tflm-dir DIR or set TFLM_DIR" in err and "create_tflm_tree.py" in err
    headers = make_tflm_tree(tmp_path / "headers-only")
    assert cli_main(["flash", str(proj), "--tflm-dir", str(headers)]) == 2
    err = capsys.readouterr().err
    assert "is not a TFLite-Micro tree: TFLite-Micro's C++ sources (tensorflow/lite/micro/micro_interpreter.cc)" in err
    assert "create_tflm_tree.py" in err and "pass --tflm-dir DIR or set TFLM_DIR" in err and err.count("\n") == 1
    assert not (proj / "build").exists()  # nothing ran
    # the dry run refuses the tree as the run does
    assert cli_main(["flash", str(proj), "--dry-run", "--tflm-dir", str(headers)]) == 2
    assert "is not a TFLite-Micro tree" in capsys.readouterr().err
    # instruction counting builds the TFLM firmware too: the same one-line tree error
    assert cli_main(["flash", str(proj), "--count-instructions", "--tflm-dir", str(headers)]) == 2
    assert "is not a TFLite-Micro tree" in capsys.readouterr().err
