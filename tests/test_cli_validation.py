"""Bad input anywhere on the command line: exit 2, exactly one line ``ofa-mcu: error: ...``, no
traceback, no file written, before any work starts.

The option walk reads the parser itself: every option of every subcommand whose type is one of
``ofa_mcu.validate``'s kinds (numbers with a range, lists, shards, paths) or that has choices is
given values outside what it accepts, drawn by hypothesis. The table below adds the checks that
need more than one option (paths that cannot be written, files of the wrong kind, budgets no
network meets)."""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ofa_mcu.cli import build_parser, main
from ofa_mcu.config import FASHION_MNIST
from ofa_mcu.errors import UserError
from ofa_mcu.space import smallest_arch
from ofa_mcu.validate import Number, NumberList, shard

PARSER = build_parser()
TEST_DATA = Path(__file__).resolve().parent / "data"


def _subcommands(parser: argparse.ArgumentParser, prefix=()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                children = _subcommands(sub, prefix + (name,))
                out += children or [(prefix + (name,), sub)]
    return out


COMMANDS = _subcommands(PARSER)
# (argv prefix, option string or None for a positional, the action)
TYPED = [(cmd, (a.option_strings or [None])[-1], a) for cmd, p in COMMANDS for a in p._actions
         if isinstance(a.type, (Number, NumberList)) or a.type is shard
         or getattr(a.type, "__name__", "") in ("file", "folder")]
CHOICES = [(cmd, (a.option_strings or [None])[-1], a) for cmd, p in COMMANDS for a in p._actions
           if a.choices and not isinstance(a, argparse._SubParsersAction)]


def run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """``main(argv)`` in-process in ``cwd``: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> str:
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ofa-mcu: error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def test_the_walk_covers_every_command_and_many_options():
    names = {" ".join(c) for c, _ in COMMANDS}
    assert {"build", "search", "space sample", "train", "collect", "deploy", "flash", "report", "measure",
            "calibrate", "predictor fit", "supernet init", "data info", "data build-vww"} <= names
    assert len(TYPED) >= 60 and len(CHOICES) >= 20


def _bad_numbers(t: Number) -> st.SearchStrategy[str]:
    words = st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "abc", "", " ", "0x10", "1 2"])
    parts = [words]
    if t.lo is not None:
        if t.integer:
            parts.append(st.integers(max_value=math.ceil(t.lo) - (0 if t.lo_open else 1)).map(str))
        else:
            parts.append(st.floats(max_value=t.lo, exclude_max=not t.lo_open, allow_nan=False,
                                   allow_infinity=False).map(repr))
    if t.hi is not None:
        if t.integer:
            parts.append(st.integers(min_value=math.floor(t.hi) + (0 if t.hi_open else 1)).map(str))
        else:
            parts.append(st.floats(min_value=t.hi, exclude_min=not t.hi_open, allow_nan=False,
                                   allow_infinity=False).map(repr))
    if t.integer:
        parts.append(st.floats(min_value=-1e6, max_value=1e6).filter(lambda x: not float(x).is_integer()).map(repr))
    return st.one_of(parts)


def _bad_values(action) -> st.SearchStrategy[str]:
    t = action.type
    if isinstance(t, Number):
        return st.one_of(_bad_numbers(t), st.just("1,5"))  # one number, not a list
    if isinstance(t, NumberList):
        return st.one_of(_bad_numbers(t.item), _bad_numbers(t.item).map(lambda v: f"1,{v}"),
                         st.sampled_from(["", ",", "1,,2", "1,"]))
    if t is shard:
        return st.one_of(st.sampled_from(["abc", "1", "1/1", "2/2", "-1/2", "1/0", "0/0", "1/2/3", "a/b", ""]),
                         st.tuples(st.integers(0, 50), st.integers(0, 50)).filter(lambda p: p[0] >= p[1])
                         .map(lambda p: f"{p[0]}/{p[1]}"))
    # paths: missing ones, and the wrong kind (a folder for a file, a file for a folder)
    return st.sampled_from(["missing/nothing-here", "also-missing.json", "WRONG_KIND", ""])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_typed_option_rejects_bad_values_in_one_line(tmp_path, data):
    cmd, opt, action = data.draw(st.sampled_from(TYPED), label="option")
    value = data.draw(_bad_values(action), label="value")
    if value == "WRONG_KIND":
        (tmp_path / "a-file").write_text("x")
        (tmp_path / "a-folder").mkdir(exist_ok=True)
        value = "a-folder" if action.type.__name__ == "file" else "a-file"
    before = _files(tmp_path)
    argv = [*cmd, f"{opt}={value}" if opt else value]
    line = assert_one_line_error(*run(argv, tmp_path))
    assert (opt or action.metavar or action.dest).lstrip("-") in line or action.dest in line, line
    assert _files(tmp_path) == before


@pytest.mark.parametrize("cmd, opt, action", CHOICES, ids=[f"{' '.join(c)} {o}" for c, o, _ in CHOICES])
def test_every_choice_option_rejects_an_unknown_value(tmp_path, cmd, opt, action):
    argv = [*cmd, f"{opt}=no-such-choice" if opt else "no-such-choice"]
    assert_one_line_error(*run(argv, tmp_path), "invalid choice")
    assert _files(tmp_path) == []


def test_usage_errors_are_one_line(tmp_path):
    for argv in (["bogus"], ["build", "--bogus"], ["space"], ["deploy"], ["train"], ["build", "--max-macs"],
                 ["predictor", "fit", "--out", "x"], ["boards", "extra"]):
        assert_one_line_error(*run(argv, tmp_path))
    assert _files(tmp_path) == []


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Inputs for the table: a file, a truncated checkpoint, an arch file, a results file."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "a-file.txt").write_text("x")
    (root / "a-folder").mkdir()
    (root / "a-folder" / "thing.txt").write_text("mine")
    (root / "truncated.pth").write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    (root / "model.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3 not really a model")
    (root / "results.json").write_text('{"model": {"name": "m"}, "versions": {"ofa_mcu": "0"}}')
    shutil.copyfile(TEST_DATA / "float_island_int8.tflite", root / "float_island_int8.tflite")
    (root / "bad-arch.json").write_text('{"wid": 0, "ks": [3], "e": [3], "d": [0], "image_size": 32}')
    (root / "arch.json").write_text(json.dumps(smallest_arch(FASHION_MNIST)))
    (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)  # past Python's recursion limit
    return {p.name: p for p in root.iterdir()}


# (argv with {placeholders} for the files above, the fragment the one line must hold)
TABLE = [
    (["build"], "needs --board"),
    (["build", "--board", "stm32f746g-disko"], "unknown board"),
    (["build", "--board", "stm32f746g-disco", "--build-system", "nope"], "does not support build system"),
    (["build", "--board", "stm32f746g-disco", "--backend", "native", "--build-system", "make"], "is for --backend tflm"),
    (["build", "--board", "stm32f746g-disco", "--out", "{a-file.txt}"], "is a file"),
    (["build", "--board", "stm32f746g-disco", "--out", "{a-folder}"], "was not written by ofa-mcu"),
    (["build", "--board", "stm32f746g-disco", "--out", "{a-folder}", "--force"], "was not written by ofa-mcu"),
    (["build", "--board", "stm32f746g-disco", "--out", "/sys/ofa-mcu-out"], "does not accept new files"),
    (["build", "--board", "stm32f746g-disco", "--out", "{a-file.txt}/sub"], "is a file, not a folder"),
    (["build", "--board", "stm32f746g-disco", "--space", "vww", "--predictor", "fashion_mnist"],
     "the predictor was trained for space"),
    (["build", "--board", "stm32f746g-disco", "--max-sram-kb", "1"], "no network in the space meets"),
    (["search", "--max-sram-kb", "1"], "no network in the space meets"),
    (["search", "--max-latency-ms", "5"], "needs --board"),
    (["search", "--out", "{a-file.txt}"], "is a file"),
    (["search", "--out", "{a-folder}", "--force"], "was not written by ofa-mcu"),
    (["search", "--predictor", "{a-folder}"], "predictor metadata"),
    (["space", "stats", "{a-file.txt}"], "is not valid JSON"),
    (["space", "validate", "{bad-arch.json}"], "arch #0"),
    (["space", "stats", "{deep.json}"], "nests its lists or objects too deeply"),
    (["report", "{deep.json}"], "nests its lists or objects too deeply"),
    (["predictor", "predict", "fashion_mnist", "{deep.json}"], "nests its lists or objects too deeply"),
    (["supernet", "check", "{truncated.pth}"], "not a PyTorch checkpoint"),
    (["supernet", "check", "{a-file.txt}"], "not a PyTorch checkpoint"),
    (["supernet", "init", "--out", "{a-folder}"], "is a folder"),
    (["supernet", "init", "--out", "{a-file.txt}"], "already exists"),
    (["supernet", "init", "--out", "/sys/x.pth"], "does not accept new files"),
    (["measure", "{arch.json}", "--keep", "{a-file.txt}"], "is a file"),
    (["measure", "{arch.json}", "--keep", "/sys/kept"], "does not accept new files"),
    (["calibrate", "-n", "5", "--holdout", "5"], "leaves nothing to fit"),
    (["calibrate", "-n", "5", "--holdout", "1"], "the fit needs at least 11"),
    (["calibrate", "--cores", "bogus"], "--cores only works with --target"),
    (["calibrate", "--target", "--cores", "bogus", "--tflm-dir", "reference={a-folder}"], "TFLite-Micro"),
    (["space", "sample", "-n", "1" + "0" * 400], "(401 characters)"),
    (["search", "--reserve-sram-kb", "1e307"], "--reserve-sram-kb: must be a finite number in [0, 4,294,967,296]"),
    (["train", "--out", "o", "--calib-images", "1"], "--calib-images: must be an integer in [2,"),
    (["build", "--board", "stm32f746g-disco", "--bn-calib-images", "1"], "--bn-calib-images: must be an integer in [2,"),
    (["report", "{results.json}", "--out", "{a-folder}"], "holds files ofa-mcu did not write"),
    (["report", "{results.json}", "--format", "md,,html"], "has an empty item"),

    (["calibrate", "--out", "{a-folder}"], "is a folder"),
    (["calibrate", "--target", "--tflm-dir", "reference={a-folder}", "--out", "{a-folder}"], "is a folder"),
    (["calibrate", "--target", "--tflm-dir", "reference={a-folder}", "--out", "{a-file.txt}/c.json"],
     "is a file, not a folder"),
    (["calibrate", "--measurements", "{a-folder}"], "--measurements"),
    (["search", "--board", ""], "unknown board ''"),
    (["search", "--generations", "1000000"], "--generations: must be an integer in [1, 100,000]"),
    (["train", "--out", "o", "--epochs", "100000"], "--epochs: each value must be an integer in [1, 10,000]"),
    (["build", "--board", "stm32f746g-disco", "--finetune-epochs", "1e9"], "--finetune-epochs: must be a finite number in [0, 10,000]"),
    (["collect", "--out", "{a-folder}"], "is a folder"),
    (["collect", "--out", "/sys/pairs.json"], "does not accept new files"),
    (["train", "--out", "{a-file.txt}"], "is a file"),
    (["train", "--out", "/sys/run"], "does not accept new files"),
    (["train", "--out", "{a-folder}", "--force"], "not written by ofa-mcu"),
    (["train", "--out", "o", "--phases", "largest,width", "--epochs", "1,2,3"], "one --epochs"),
    (["report", "{results.json}", "--out", "{a-file.txt}"], "is a file"),
    (["report", "{results.json}", "--format", "pdf"], "report format pdf is not known"),
    (["report", "{a-file.txt}"], "is not valid JSON"),
    (["report", "{results.json}", "--out", "/sys/rep"], "does not accept new files"),
    (["deploy", "{model.tflite}", "--board", "stm32f746g-disco", "--out", "{a-file.txt}"], "is a file"),
    (["deploy", "{model.tflite}", "--board", "stm32f746g-disco", "--labels", "/missing/labels.txt", "--out", "o"],
     "--labels file '/missing/labels.txt' does not exist"),
    (["deploy", "{model.tflite}", "--board", "stm32f746g-disco", "--out", "o"], "model"),
    (["deploy", "{model.tflite}", "--board", "stm32f746g-disco", "--backend", "native", "--build-system", "make",
      "--out", "o"], "is for --backend tflm"),
    (["deploy", "{float_island_int8.tflite}", "--board", "stm32f746g-disco", "--out", "o"],
     "computes in float inside (2 float tensors"),
    (["deploy", "{model.tflite}", "--board", "stm32f746g-disco", "--labels", "{a-folder}", "--out", "o"],
     "is a folder"),
    (["deploy", "{float_island_int8.tflite}", "--board", "stm32f746g-disco", "--labels", "a,,b", "--out", "o"],
     "holds an empty label"),
    (["deploy", "{float_island_int8.tflite}", "--board", "stm32f746g-disco", "--name", "", "--out", "o"],
     "--name must not be empty"),
    (["flash", "{a-folder}"], "has no ofa-mcu.json"),
    (["data", "info", "vww"], "needs its folder"),
    (["data", "info", "imagefolder", "--data", "{a-folder}"], "has no class subfolders"),
    (["data", "build-vww", "--coco-root", "{a-folder}", "--out", "o"], "COCO annotations"),
    (["data", "download-coco", "--coco-root", "{a-file.txt}"], "is a file; give a folder"),
    (["predictor", "eval", "{a-folder}", "--pairs", "{a-file.txt}"], "predictor"),
]


@pytest.mark.parametrize("pre, fragment", [
    ({"resolution": float("nan")}, "resolution must be a positive integer"),
    ({"channels": 0}, "channels must be a positive integer"),
    ({"mean": [float("inf")]}, "mean must be a list of finite numbers"),
    ({"std": "1"}, "std must be a list of finite numbers"),
    ([1, 2], "expected a JSON object"),
    ({"mean": [1e308], "std": [1e-308]}, "mean must lie in [-1e+06, 1e+06]"),
    ({"interpolation": "zzz"}, "interpolation must be 'bilinear'"),
    ({"resolutoin": 32}, "unknown keys ['resolutoin']"),
])
def test_preprocess_file_is_checked(pre, fragment):
    """deploy --preprocess: a file with NaN, zero or a wrong kind gets one line naming the field."""
    from codegen.model_settings import check_preprocess

    with pytest.raises(UserError, match=re.escape(fragment)):
        check_preprocess(pre)
    assert check_preprocess({"resolution": 32, "channels": 1, "mean": [0.5], "std": [0.25]})["resolution"] == 32


def test_preprocess_keys_are_the_data_layers():
    """codegen checks a --preprocess file against the fields of the one Preprocess record."""
    import dataclasses

    from codegen.model_settings import PREPROCESS_KEYS, check_preprocess
    from ofa_mcu.data.preprocess import INTERPOLATIONS, Preprocess

    assert set(PREPROCESS_KEYS) == {f.name for f in dataclasses.fields(Preprocess)}
    assert INTERPOLATIONS == ("bilinear",)
    shipped = Preprocess(32, 1, (0.286,), (0.353,), source_size=28).to_dict()
    assert check_preprocess(shipped) == shipped


@pytest.mark.parametrize("argv, fragment", TABLE, ids=[" ".join(a)[:60] for a, _ in TABLE])
def test_bad_input_table(tmp_path, files, argv, fragment):
    for name, path in files.items():
        argv = [a.replace("{" + name + "}", str(path)) for a in argv]
    before = {k: (v.read_bytes() if v.is_file() else sorted(x.name for x in v.iterdir())) for k, v in files.items()}
    assert_one_line_error(*run(argv, tmp_path), fragment)
    assert _files(tmp_path) == []  # nothing written where the command ran
    after = {k: (v.read_bytes() if v.is_file() else sorted(x.name for x in v.iterdir())) for k, v in files.items()}
    assert after == before  # and no input changed


def test_flash_takes_the_build_output_folder_or_its_project(tmp_path):
    """``ofa-mcu build`` puts the project in ``OUT/project``; ``flash OUT`` finds it."""
    from codegen.flash import MANIFEST, project_manifest
    from ofa_mcu.boards import load_board

    project = tmp_path / "out" / "project"
    project.mkdir(parents=True)
    manifest = project_manifest(backend="tflm", board=load_board("stm32f746g-disco"), build_system="make",
                                project="ofa_fashion_mnist", artifacts={"elf": "build/app.elf"},
                                model_name="m", tflite=b"TFL3")
    (project / MANIFEST).write_text(json.dumps(manifest))
    outputs = []
    for folder in (tmp_path / "out", project):
        code, out, err = run(["flash", str(folder), "--dry-run"], tmp_path)
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1] and f"make project in {project}" in outputs[0]


def test_labels_with_a_slash_in_a_comma_list_are_names():
    """Fashion-MNIST's own class names hold '/' ('T-shirt/top'): a comma list is names, not a path."""
    from ofa_mcu.cli.deploy import _labels
    from ofa_mcu.data.fashion_mnist import CLASS_NAMES

    assert _labels(",".join(CLASS_NAMES)) == list(CLASS_NAMES)
    with pytest.raises(UserError, match="does not exist"):
        _labels("T-shirt/top")  # one name with a slash and no comma reads as a missing file


@pytest.mark.parametrize("cmd", [c for c, _ in COMMANDS], ids=[" ".join(c) for c, _ in COMMANDS])
def test_every_commands_help_renders(cmd, tmp_path):
    """argparse formats each help string with %: a stray '%' there breaks only --help."""
    code, out, err = run([*cmd, "--help"], tmp_path)
    assert code == 0 and out.startswith("usage: ofa-mcu") and not err, (code, err[-300:])
