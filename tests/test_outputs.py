"""The output rule (ofa_mcu.io): --force replaces only what ofa-mcu wrote, never an input, and
temporary folders of dead runs are cleaned by the next run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ofa_mcu.cli import main
from ofa_mcu.errors import UserError
from ofa_mcu.io import (
    OUTPUT_MANIFEST, check_output_folder, check_writable, clean_stale_temps, read_output_manifest, refuse_clobber,
    staged_output, write_tree_atomically,
)


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content (the manifest's list aside)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fresh_output_gets_a_manifest_of_what_was_written(tmp_path):
    out = write_tree_atomically(tmp_path / "out", {"a.txt": b"1", "sub/b.txt": b"2"}, force=False)
    assert read_output_manifest(out) == {"a.txt", "sub/b.txt"}
    doc = json.loads((out / OUTPUT_MANIFEST).read_text())
    assert doc["format"] == "ofa-mcu-output/1" and doc["written_by"].startswith("ofa-mcu ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_folder_ofa_mcu_did_not_write_is_refused_with_and_without_force(tmp_path):
    mine = tmp_path / "mine"
    (mine / "deep").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    (mine / "deep" / "data.bin").write_bytes(b"\x00\x01")
    before = _tree(mine)
    for force in (False, True):
        with pytest.raises(UserError, match="was not written by ofa-mcu"):
            write_tree_atomically(mine, {"x": b"new"}, force=force)
        assert _tree(mine) == before
    # An empty folder is fine without --force.
    (tmp_path / "empty").mkdir()
    write_tree_atomically(tmp_path / "empty", {"x": b"1"}, force=False)
    assert (tmp_path / "empty" / "x").read_bytes() == b"1"


def test_force_replaces_only_the_listed_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "out"
    write_tree_atomically(out, {"keep/old.txt": b"old", "gone.txt": b"old", "same.txt": b"v1"}, force=False)
    # the user adds files beside ofa-mcu's: a file at the top, one in a generated folder, a folder of their own
    (out / "notes.txt").write_text("mine")
    (out / "keep" / "mine.txt").write_text("mine too")
    (out / "build").mkdir()
    (out / "build" / "app.elf").write_bytes(b"\x7fELF")
    with pytest.raises(UserError, match="pass --force"):
        write_tree_atomically(out, {"same.txt": b"v2"}, force=False)
    write_tree_atomically(out, {"same.txt": b"v2", "new/x.txt": b"x"}, force=True)
    files = _tree(out)
    assert files["same.txt"] == b"v2" and files["new/x.txt"] == b"x"
    assert "gone.txt" not in files and "keep/old.txt" not in files  # ofa-mcu's old files are gone
    assert files["notes.txt"] == b"mine" and files["keep/mine.txt"] == b"mine too"
    assert files["build/app.elf"] == b"\x7fELF"
    assert read_output_manifest(out) == {"same.txt", "new/x.txt"}


def test_a_user_file_where_the_new_output_writes_is_refused_and_nothing_changes(tmp_path):
    out = tmp_path / "out"
    write_tree_atomically(out, {"a.txt": b"1"}, force=False)
    (out / "b.txt").write_text("the user's")
    before = _tree(out)
    with pytest.raises(UserError, match="is in the way"):
        write_tree_atomically(out, {"a.txt": b"2", "b.txt": b"generated"}, force=True)
    assert _tree(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("theirs,new", [
    ("src/main.cc", "src/main.cc"),          # a file in the user's own folder (the folder holds nothing listed)
    ("report", "report/plots/agreement.png"),  # a user file where the new output needs a folder
    ("model/results.json", "model/results.json"),
    ("plots/deep/x.png", "plots"),             # a user folder where the new output writes a file
])
def test_a_user_entry_anywhere_on_a_new_files_path_is_in_the_way(tmp_path, theirs, new):
    """--force over an output holding a folder of the user's never replaces a file inside it."""
    out = tmp_path / "out"
    write_tree_atomically(out, {"a.txt": b"1"}, force=False)
    (out / theirs).parent.mkdir(parents=True, exist_ok=True)
    (out / theirs).write_text("the user's")
    before = _tree(out)
    top = theirs.split("/")[0]
    with pytest.raises(UserError, match=f"{top}' is in the way|{top}/.*' is in the way"):
        write_tree_atomically(out, {"a.txt": b"2", new: b"generated"}, force=True)
    assert _tree(out) == before


def test_a_user_entry_on_the_earlier_outputs_paths_is_refused_before_the_work(tmp_path):
    """The earlier output's folder 'report/' is now a file of the user's: --force stops before the
    block runs (a build would otherwise search, train and convert first)."""
    out = tmp_path / "out"
    write_tree_atomically(out, {"report/plots/a.png": b"1", "model/x.json": b"{}"}, force=False)
    import shutil

    shutil.rmtree(out / "report")
    (out / "report").write_text("the user's")
    ran = []
    with pytest.raises(UserError, match="report' is in the way"):
        with staged_output(out, force=True):
            ran.append(True)
    assert ran == [] and (out / "report").read_text() == "the user's"


def test_an_output_that_holds_an_input_is_refused_even_with_force(tmp_path):
    folder = tmp_path / "in"
    write_tree_atomically(folder, {"readme.txt": b"ofa-mcu wrote this"}, force=False)
    model = folder / "good.tflite"
    model.write_bytes(b"TFL3 model bytes")
    for out in (folder, tmp_path):  # the input's own folder, or a folder above it
        with pytest.raises(UserError, match="holds the input"):
            check_output_folder(out, True, inputs=[model])
    assert model.read_bytes() == b"TFL3 model bytes"


def test_deploy_into_the_folder_of_its_own_model_is_refused_and_deletes_nothing(tmp_path, capsys):
    """The data loss of the issue: `deploy in/good.tflite --out in --force` deleted `in/`."""
    folder = tmp_path / "in"
    folder.mkdir()
    model = folder / "good.tflite"
    model.write_bytes(b"TFL3 not really a model")
    (folder / "other.txt").write_text("keep me")
    before = _tree(folder)
    for extra in ([], ["--force"]):
        assert main(["deploy", str(model), "--board", "stm32f746g-disco", "--out", str(folder), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ofa-mcu: error:") and err.count("\n") == 1
        assert _tree(folder) == before
    # and when the folder is an ofa-mcu output, the input inside it still protects it
    (folder / OUTPUT_MANIFEST).write_text(json.dumps({"format": "ofa-mcu-output/1", "files": ["other.txt"]}))
    assert main(["deploy", str(model), "--board", "stm32f746g-disco", "--out", str(folder), "--force"]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert model.read_bytes() == b"TFL3 not really a model"


def test_a_failure_or_interrupt_leaves_the_old_output_untouched(tmp_path):
    out = tmp_path / "out"
    write_tree_atomically(out, {"a.txt": b"1"}, force=False)
    before = _tree(out)
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with staged_output(out, True) as tmp:
                (tmp / "a.txt").write_bytes(b"half")
                raise exc
        assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_folders_of_dead_runs_are_removed_and_named(tmp_path, capsys):
    out = tmp_path / "board"
    dead = tmp_path / f".board.ofa-mcu-tmp-{_dead_pid()}-abc123"
    legacy = tmp_path / ".board.build-k2j4h5g6"  # what older versions left after a SIGKILL
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = tmp_path / f".board.ofa-mcu-tmp-{sleeper.pid}-def456"
        other = tmp_path / ".other.build-k2j4h5g6"
        for d in (dead, legacy, alive, other):
            (d / "model").mkdir(parents=True)
        removed = clean_stale_temps(out)
        assert sorted(removed) == sorted([dead.name, legacy.name])
        assert "removed 2 temporary folder(s)" in capsys.readouterr().err
        assert not dead.exists() and not legacy.exists()
        assert alive.exists() and other.exists()  # a live run's folder and another output's are kept
    finally:
        sleeper.kill()
        sleeper.wait()


def test_sigkill_during_a_staged_write_is_cleaned_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "out"
    code = ("import os, signal, sys\n"
            "from ofa_mcu.io import staged_output\n"
            f"with staged_output({str(out)!r}, False) as tmp:\n"
            "    (tmp / 'half.bin').write_bytes(b'x' * 1000)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".out.ofa-mcu-tmp-") and not out.exists()
    write_tree_atomically(out, {"a.txt": b"1"}, force=False)
    assert left[0] in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_paths_that_cannot_be_written_are_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_writable(blocker / "sub" / "out")
    with pytest.raises(UserError, match="is a file; choose a folder path"):
        check_output_folder(blocker, True)
    if Path("/sys").is_dir():  # read-only for every user, root included
        with pytest.raises(UserError, match="does not accept new files"):
            check_output_folder("/sys/ofa-mcu-test-out", False)


def test_refuse_clobber_for_in_place_writers(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "train_config.json").write_text("{}")
    refuse_clobber(run, True, "training run folder")  # a training run: recognised by its manifest
    with pytest.raises(UserError, match="--force"):
        refuse_clobber(run, False, "training run folder")
    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.tex").write_text("x")
    with pytest.raises(UserError, match="not written by ofa-mcu"):
        refuse_clobber(user, True, "training run folder")
    single = tmp_path / "w.pth"
    single.write_bytes(b"x")
    refuse_clobber(single, True, "checkpoint")  # one file the user named: --force overwrites it
    with pytest.raises(UserError, match="already exists"):
        refuse_clobber(single, False, "checkpoint")


def test_report_force_never_overwrites_a_report_ofa_mcu_did_not_write(tmp_path, capsys):
    results = {"model": {"name": "m"}, "versions": {"ofa_mcu": "0"}}
    src = tmp_path / "results.json"
    src.write_text(json.dumps(results))
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("my own report")
    assert main(["report", str(src), "--out", str(out), "--force"]) == 2
    assert "was not written by ofa-mcu" in capsys.readouterr().err
    assert (out / "report.md").read_text() == "my own report"
    out2 = tmp_path / "rep2"
    assert main(["report", str(src), "--out", str(out2)]) == 0
    assert main(["report", str(src), "--out", str(out2)]) == 2  # exists: --force needed
    assert main(["report", str(src), "--out", str(out2), "--force"]) == 0
    assert "report.md" in read_output_manifest(out2)


def test_a_doctored_manifest_cannot_reach_outside_the_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.txt").write_text("also precious")
    out = tmp_path / "out"
    write_tree_atomically(out, {"a.txt": b"1"}, force=False)
    (out / "link").symlink_to(outside)
    (out / OUTPUT_MANIFEST).write_text(json.dumps({"format": "ofa-mcu-output/1", "files": [
        "a.txt", "../victim.txt", str(victim), "link/x.txt"]}))
    write_tree_atomically(out, {"b.txt": b"2"}, force=True)
    assert victim.read_text() == "precious" and (outside / "x.txt").read_text() == "also precious"
    assert not (out / "a.txt").exists() and (out / "b.txt").read_bytes() == b"2"


def test_atomic_path_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    from ofa_mcu.io import atomic_path

    target = tmp_path / "sub" / "model.onnx"
    with atomic_path(target) as tmp:
        assert not tmp.exists() and tmp.parent == target.parent  # a writer that refuses existing files can use it
        tmp.write_bytes(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new" and sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("the exporter failed")
    assert target.read_bytes() == b"new" and sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]
