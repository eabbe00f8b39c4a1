"""The deployment report: numbers from the results, Markdown/HTML/JSON, plots, CLI, errors."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import random
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ofa_mcu.boards import load_board
from ofa_mcu.cli import main as cli_main
from ofa_mcu.config import VWW
from ofa_mcu.errors import UserError
from ofa_mcu.report import (board_fields, collect_versions, layers_from_table, load_results, model_fields,
                            normalise_results, write_deploy_report, write_report)
from ofa_mcu.space.arch import sample_arch
from ofa_mcu.space.table import build_table

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["background", "person|crowd", "<dog>"]
PATHS = ("float", "onnx_int8", "tflite_int8", "tflm")
LABELS = {"float": "float (PyTorch)", "onnx_int8": "ONNX Runtime int8", "tflite_int8": "TFLite int8",
          "tflm": "TFLite Micro int8"}
BOARD = "stm32f746g-disco"


def _png(path: Path, colour: str) -> Path:
    """A small real PNG, as another stage (search, native planner) would write."""
    Image.new("RGB", (40, 30), colour).save(path, format="PNG")
    return path


def _predictions(rng: np.random.Generator, labels: np.ndarray, base: np.ndarray | None, flip: float) -> np.ndarray:
    src = labels if base is None else base
    other = (src + rng.integers(1, len(CLASSES), src.shape)) % len(CLASSES)
    return np.where(rng.random(src.shape) < flip, other, src)


def _confusion(labels: np.ndarray, pred: np.ndarray) -> list[list[int]]:
    conf = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    np.add.at(conf, (labels, pred), 1)
    return conf.tolist()


@pytest.fixture(scope="module")
def arch():
    return sample_arch(random.Random(7), VWW)


@pytest.fixture(scope="module")
def results(arch, tmp_path_factory) -> dict:
    """A realistic results dict: per-layer table of a real arch, four accuracy paths with
    confusion matrices on the same images, agreement, the catalog board, latency, search."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CLASSES), 600)
    preds = {"float": _predictions(rng, labels, None, 0.12)}
    preds["onnx_int8"] = _predictions(rng, labels, preds["float"], 0.03)
    preds["tflite_int8"] = _predictions(rng, labels, preds["onnx_int8"], 0.01)
    preds["tflm"] = preds["tflite_int8"].copy()
    model = {"name": "vww-r160", "tflite_sha256": hashlib.sha256(b"model").hexdigest(), "tflite_bytes": 401_234,
             "ops": ["ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "MUL"],
             "input": {"shape": [1, arch["image_size"], arch["image_size"], 3], "dtype": "int8", "scale": 0.0078125,
                       "zero_point": -1},
             "output": {"shape": [1, 3], "dtype": "int8", "scale": 0.00390625, "zero_point": -128},
             **model_fields(arch, VWW)}
    layers = model["layers"]
    return {
        "schema": 1,
        "title": "VWW r160 on the STM32F746",
        "created_by": "ofa-mcu 0.1.0",
        "model": model,
        "dataset": {"name": "vww-mini", "split": "val", "images": 600, "class_names": CLASSES},
        "accuracy": {k: {"top1": float((preds[k] == labels).mean()), "confusion": _confusion(labels, preds[k]),
                         "n": 600} for k in PATHS},
        "agreement": {"paths": list(PATHS), "matrix": [[float((preds[a] == preds[b]).mean()) for b in PATHS]
                                                       for a in PATHS]},
        "memory": {"board": board_fields(BOARD),
                   "predicted": {"sram_bytes": 201_000, "flash_bytes": 1_000_000, "source": "tflm calibrated predictor"},
                   "measured": {"tflm_arena_bytes": 200_112, "head": 150_000, "tail": 50_112, "tflite_bytes": 401_234,
                                "note": "host (64-bit) TFLM"},
                   "native": {"peak_bytes": 150_016, "text_bytes": 30_000, "rodata_bytes": 380_000,
                              "plan_png": str(_png(d / "plan.png", "orange"))}},
        "latency": {"board": BOARD, "cycles_per_instruction": 0.8, "clock_hz": 216_000_000,
                    "per_layer": [{"name": f"{i}:{row['role']}", "macs": row["macs"],
                                   "instructions": 2 * row["macs"] + 500} for i, row in enumerate(layers)]},
        "search": {"strategy": "evolution", "predicted_accuracy": 86.25, "evaluated": 4000,
                   "constraints": {"sram_bytes": 303_104}, "plot_png": str(_png(d / "search.png", "navy"))},
        "versions": collect_versions(),
        "timings": {"train": 12.5, "convert": 4.25},
    }


@pytest.fixture(scope="module")
def rendered(results, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report")
    return out, write_report(results, out)


def test_model_fields_follow_the_per_layer_table(arch, results):
    table = build_table(arch, VWW)
    model = results["model"]
    assert model["macs"] == sum(c.macs for c in table.convs) and model["params"] == sum(c.params for c in table.convs)
    assert len(layers_from_table(table)) == len(table.convs) == len(model["layers"])
    assert [r["role"] for r in model["layers"]] == [c.role for c in table.convs]


def test_report_json_holds_the_input_numbers(results, rendered):
    out, paths = rendered
    assert set(paths) >= {"md", "html", "json"}
    data = json.loads((out / "report.json").read_text())
    for k in PATHS:
        assert data["accuracy"][k]["top1"] == results["accuracy"][k]["top1"]
        assert data["accuracy"][k]["confusion"] == results["accuracy"][k]["confusion"]
        conf = np.array(results["accuracy"][k]["confusion"])
        assert data["accuracy"][k]["per_class"] == [conf[i, i] / conf[i].sum() for i in range(len(CLASSES))]
    assert data["agreement"] == results["agreement"]
    for section in ("predicted", "measured"):
        assert data["memory"][section] == results["memory"][section]
    assert data["memory"]["board"] == results["memory"]["board"]
    assert data["memory"]["native"]["flash_bytes"] == 30_000 + 380_000
    assert data["model"]["layers"] == results["model"]["layers"] and data["model"]["macs"] == results["model"]["macs"]
    assert data["versions"] == results["versions"]
    lat = data["latency"]
    total = sum(r["instructions"] for r in results["latency"]["per_layer"])
    assert lat["total_instructions"] == total
    assert lat["estimated_ms"] == pytest.approx(total * 0.8 / 216e6 * 1e3)
    # The copied plots are referenced inside the report folder.
    assert data["search"]["plot_png"] == "plots/search.png"
    assert data["memory"]["native"]["plan_png"] == "plots/native_memory_plan.png"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _kb(n: int) -> str:
    return f"{n / 1024:,.1f} KB ({n:,} B)"


def test_markdown_shows_the_results(results, rendered):
    out, _ = rendered
    md = (out / "report.md").read_text()
    acc = results["accuracy"]
    ref = acc["float"]["top1"]
    assert _row("float (PyTorch)", f"{100 * ref:.2f} %", "reference", "600") in md
    for k in PATHS[1:]:
        t = acc[k]["top1"]
        assert _row(LABELS[k], f"{100 * t:.2f} %", f"{100 * (t - ref):+.2f} pt", "600") in md
    p = 0.8625
    assert _row("search prediction (accuracy predictor)", f"{100 * p:.2f} %", f"{100 * (p - ref):+.2f} pt",
                "predicted") in md
    board = load_board(BOARD)
    s_budget, f_budget = board.budget("tflm").sram_bytes, board.budget("tflm").flash_bytes
    assert _row("SRAM, measured TFLM arena", _kb(200_112), _kb(s_budget), f"{100 * 200_112 / s_budget:.1f} %", "yes") in md
    assert _row("flash, predicted", _kb(1_000_000), _kb(f_budget), f"{100 * 1_000_000 / f_budget:.1f} %",
                "yes" if 1_000_000 <= f_budget else "NO") in md
    n_budget = board.budget("native").sram_bytes
    assert _row("SRAM, native C peak", _kb(150_016), _kb(n_budget), f"{100 * 150_016 / n_budget:.1f} %", "yes") in md
    # Per-class rows (class names escaped for Markdown tables).
    conf = {k: np.array(acc[k]["confusion"]) for k in PATHS}
    for i, name in enumerate(["background", "person\\|crowd", "&lt;dog>"]):
        cells = [f"{100 * conf[k][i, i] / conf[k][i].sum():.2f} %" for k in PATHS]
        assert _row(name, f"{conf['float'][i].sum():,}", *cells) in md
    m = results["agreement"]["matrix"]
    assert _row(LABELS["float"], *[f"{100 * v:.2f} %" for v in m[0]]) in md
    # Architecture: one row per block, plus stem and head, with the table's MACs.
    table = build_table(results["model"]["arch"], VWW)
    for i in range(len(table.blocks)):
        macs = sum(c.macs for c in table.block_convs(i))
        assert any(line.startswith(f"| B{i} |") and f"| {macs:,} |" in line for line in md.splitlines()), i
    for name, version in results["versions"].items():
        assert _row(name, version if version is not None else "not installed") in md
    for plot in ("confusion", "per_class", "agreement", "memory", "architecture", "latency", "search",
                 "native_memory_plan"):
        assert f"(plots/{plot}.png)" in md
    assert md.index("## Summary") < md.index("## Per-class") < md.index("## Agreement") < md.index("## Memory") \
        < md.index("## Architecture") < md.index("## Latency") < md.index("## Versions")


def test_plots_are_valid_pngs(results, rendered):
    out, paths = rendered
    plots = {k: v for k, v in paths.items() if k.startswith("plots/")}
    assert set(plots) == {f"plots/{n}.png" for n in ("confusion", "per_class", "agreement", "memory", "architecture",
                                                    "latency", "search", "native_memory_plan")}
    for path in plots.values():
        data = path.read_bytes()
        assert data.startswith(PNG)
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            assert img.size[0] >= 40 and img.size[1] >= 30
    assert (out / "plots/search.png").read_bytes() == Path(results["search"]["plot_png"]).read_bytes()
    assert (out / "plots/native_memory_plan.png").read_bytes() == Path(results["memory"]["native"]["plan_png"]).read_bytes()


class _Page(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.links, self.tags, self.errors = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs["src"])
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def test_html_is_self_contained_and_well_formed(results, rendered):
    out, _ = rendered
    html = (out / "report.html").read_text()
    page = _Page()
    page.feed(html)
    page.close()
    assert not page.errors and not page.stack
    assert "script" not in page.tags and "&lt;dog&gt;" in html  # class names are escaped
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in page.images if src.startswith("data:image/png;base64,")]
    assert len(embedded) == len(page.images) == 8
    on_disk = {p.read_bytes() for p in (out / "plots").iterdir()}
    assert set(embedded) == on_disk
    assert all(link.startswith("#") for link in page.links)  # no external asset
    ref = results["accuracy"]["float"]["top1"]
    t = results["accuracy"]["tflm"]["top1"]
    assert f"<td class=\"right\">{100 * t:.2f} %</td><td class=\"right\">{100 * (t - ref):+.2f} pt</td>" in html


def test_rendering_is_deterministic(results, rendered, tmp_path):
    out, paths = rendered
    again = write_report(results, tmp_path / "again")
    assert set(again) == set(paths)
    for key, path in paths.items():
        assert again[key].read_bytes() == path.read_bytes(), key


def _without(results: dict, *keys: str) -> dict:
    r = json.loads(json.dumps(results))
    obj = r
    for k in keys[:-1]:
        obj = obj[k]
    del obj[keys[-1]]
    return r


def _changed(results: dict, value, *keys: str) -> dict:
    r = json.loads(json.dumps(results))
    obj = r
    for k in keys[:-1]:
        obj = obj[k]
    obj[keys[-1]] = value
    return r


@pytest.mark.parametrize("make, words", [
    (lambda r: _without(r, "model"), ["'model'", "schema.md"]),
    (lambda r: _without(r, "versions"), ["'versions'"]),
    (lambda r: _without(r, "model", "name"), ["model", "name"]),
    (lambda r: _without(r, "memory", "board", "sram_bytes"), ["memory.board", "sram_bytes"]),
    (lambda r: _changed(r, 91.5, "accuracy", "tflm", "top1"), ["accuracy.tflm.top1", "fraction"]),
    (lambda r: _changed(r, r["accuracy"]["tflm"]["top1"] - 0.01, "accuracy", "tflm", "top1"), ["confusion matrix gives"]),
    (lambda r: _changed(r, [[1, 2], [3, 4], [5, 6]], "accuracy", "float", "confusion"), ["accuracy.float.confusion[0]"]),
    (lambda r: _changed(r, 5, "accuracy", "float", "n"), ["accuracy.float.n", "600"]),
    (lambda r: _changed(r, r["model"]["macs"] + 1, "model", "macs"), ["model.macs", "per-layer"]),
    (lambda r: _changed(r, [[1.0, 0.5], [0.4, 1.0]], "agreement", "matrix"), ["agreement.matrix"]),
    (lambda r: _changed(r, "no/such/plot.png", "search", "plot_png"), ["search.plot_png", "does not exist"]),
    (lambda r: _changed(r, 2, "schema"), ["schema"]),
    (lambda r: _changed(r, ["a", "b"], "dataset", "class_names"), ["3 classes", "class_names has 2"]),
    (lambda r: _changed(r, None, "model", "output", "zero_point"), ["model.output.zero_point", "integer, got None"]),
    (lambda r: _changed(r, "-128", "model", "input", "zero_point"), ["model.input.zero_point", "integer"]),
])
def test_bad_results_are_one_line_user_errors(results, tmp_path, make, words):
    with pytest.raises(UserError) as err:
        write_report(make(results), tmp_path / "out")
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    assert not (tmp_path / "out").exists()


def test_null_optional_fields_render_as_absent(tmp_path):
    r = {"model": {"name": "m", "output": {"dtype": "int8", "scale": None}}, "dataset": {"name": None, "images": 3},
         "versions": {"ofa-mcu": "0.1.0"}}
    md = write_report(r, tmp_path / "r", formats="md")["md"].read_text()
    assert "? (3 images)" in md


def test_minimal_results_render(tmp_path):
    r = {"model": {"name": "user model", "tflite_bytes": 1234}, "versions": {"ofa-mcu": "0.1.0"}}
    paths = write_report(r, tmp_path / "min", formats="md,json")
    assert set(paths) == {"md", "json"}
    md = paths["md"].read_text()
    assert "# Deployment report: user model" in md and "1.2 KB (1,234 B)" in md and "## Summary" not in md
    assert json.loads(paths["json"].read_text()) == {**r, "schema": 1}
    assert normalise_results(json.loads(paths["json"].read_text())) == normalise_results(r)


@pytest.mark.slow
def test_cli_round_trip_and_force(results, tmp_path, capsys):
    src = tmp_path / "run"
    src.mkdir()
    r = json.loads(json.dumps(results))
    _png(src / "search_plot.png", "green")
    r["search"]["plot_png"] = "search_plot.png"  # relative to the results file
    (src / "results.json").write_text(json.dumps(r))
    out = tmp_path / "rep"
    assert cli_main(["report", str(src / "results.json"), "--out", str(out)]) == 0
    assert "report.md" in capsys.readouterr().out
    data = json.loads((out / "report.json").read_text())
    assert data["accuracy"] == load_results(src / "results.json")["accuracy"]
    assert (out / "plots/search.png").read_bytes() == (src / "search_plot.png").read_bytes()
    # Refused without --force, nothing changed; replaced with it.
    before = (out / "report.md").read_bytes()
    assert cli_main(["report", str(src / "results.json"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pass --force" in err and err.count("\n") == 1
    assert cli_main(["report", str(src / "results.json"), "--out", str(out), "--force"]) == 0
    assert (out / "report.md").read_bytes() == before
    # report.json is itself a results file and renders the same report.
    again = tmp_path / "again"
    assert cli_main(["report", str(out / "report.json"), "--out", str(again), "--format", "md"]) == 0
    assert (again / "report.md").read_bytes() == before and not (again / "report.html").exists()
    assert cli_main(["report", str(src / "results.json"), "--out", str(tmp_path / "x"), "--format", "pdf"]) == 2
    assert "md,html,json" in capsys.readouterr().err
    assert cli_main(["report", str(tmp_path / "missing.json"), "--out", str(tmp_path / "y")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_deploy_report_from_summary(external_models, tmp_path):
    tflite = (external_models / "vww_96_int8.tflite").read_bytes()
    summary = {"board": "rpi-pico", "build_system": "pico-sdk", "model_bytes": len(tflite),
               "model_sha256": hashlib.sha256(tflite).hexdigest(), "model_data_flash_bytes": len(tflite) + 27_648,
               "arena_measured_bytes": 103_680, "arena_target_bytes": 105_744, "arena_target_source": "derived",
               "kernels": "reference", "arena_bytes": 106_000, "arena_margin_rule": "host + scratch + 256 B",
               "ops": ["CONV_2D", "SOFTMAX"], "fits": True,
               "input": {"name": "input_1", "shape": [1, 96, 96, 3], "dtype": "int8", "scale": 1 / 255, "zero_point": -128}}
    project = tmp_path / "vww-pico"
    project.mkdir()
    md = write_deploy_report(summary, project, model_name="vww_96_int8",
                             results={"dataset": {"name": "vww", "class_names": ["no_person", "person"]}})
    assert md == project / "report" / "report.md"
    data = json.loads((project / "report" / "report.json").read_text())
    board = load_board("rpi-pico")
    assert data["memory"]["board"]["model_sram_budget"] == board.model_sram_budget
    assert data["memory"]["reserved"]["arena_bytes"] == 106_000 and data["memory"]["measured"]["tflm_arena_bytes"] == 103_680
    assert data["memory"]["target"] == {"arena_bytes": 105_744, "source": "derived", "kernels": "reference"}
    assert data["model"]["tflite_sha256"] == summary["model_sha256"] and data["dataset"]["class_names"] == ["no_person", "person"]
    text = md.read_text()
    assert _row("SRAM, arena reserved (32-bit target, derived + margin)", _kb(106_000), _kb(board.model_sram_budget),
                f"{100 * 106_000 / board.model_sram_budget:.1f} %", "yes") in text
    assert (project / "report" / "plots" / "memory.png").read_bytes().startswith(PNG)
    with pytest.raises(UserError, match="pass --force"):
        write_deploy_report(summary, project)


def test_results_from_the_quant_helpers_normalise(results):
    """The agreement dict of ``ofa_mcu.quant.agreement`` and numpy values are accepted as they are."""
    from ofa_mcu.quant.agreement import accuracy, agreement

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 50)
    logits = {"float": rng.standard_normal((50, 3)), "tflm": rng.integers(-128, 127, (50, 3)).astype(np.int8)}
    r = {"model": {"name": "m"}, "versions": {"ofa-mcu": "0.1.0"},
         "accuracy": {k: {"top1": np.float64(accuracy(v, labels)), "confusion": np.array(_confusion(labels, v.argmax(1)))}
                      for k, v in logits.items()},
         "agreement": agreement(logits)}
    n = normalise_results(r)
    assert n["agreement"]["paths"] == ["float", "tflm"]
    same = float((logits["float"].argmax(1) == logits["tflm"].argmax(1)).mean())
    assert n["agreement"]["matrix"] == [[1.0, same], [same, 1.0]]
    assert n["accuracy"]["tflm"]["top1"] == accuracy(logits["tflm"], labels)
    assert type(n["accuracy"]["tflm"]["confusion"][0][0]) is int
    json.dumps(n)


def _memory_results(**memory) -> dict:
    return {"model": {"name": "m", "ops": ["CONV_2D", "FULLY_CONNECTED"],
                      "input": {"dtype": "int8", "shape": [1, 48, 48, 1], "scale": 0.02, "zero_point": -3},
                      "output": {"dtype": "int8", "shape": [1, 10], "scale": 0.25, "zero_point": -7}},
            "versions": {"ofa_mcu": "0"},
            "memory": {"board": board_fields(BOARD), **memory},
            "search": {"constraints": {"tflm_arena_bytes_host": 274618.1818181818, "flash_bytes": 873216},
                       "constraint_sources": {"tflm_arena_bytes_host": f"board {BOARD}",
                                              "flash_bytes": "--max-flash-kb 852.75"}}}


def test_sram_section_has_one_line_per_meaning_and_their_relations(tmp_path):
    from ofa_mcu.report import derive

    full = _memory_results(
        predicted={"sram_bytes": 192_960, "tflm_arena_bytes_host": 174_400, "tflm_arena_bytes_target": 168_939,
                   "flash_bytes": 900_000},
        measured={"tflm_arena_bytes": 178_511, "head": 150_000, "tail": 28_511, "arena_bytes": 197_392},
        target={"arena_bytes": 168_788, "source": "measured-qemu"},
        reserved={"arena_bytes": 197_392, "stack_bytes": 8192, "heap_bytes": 4096})
    lines = {line.key: line for line in derive.sram_lines(normalise_results(full))}
    assert list(lines) == ["predicted", "host", "target", "reserved_arena", "stack", "heap", "budget"]
    assert lines["predicted"].relation == "-4,111 B (-2.30 %) vs the measured host arena"
    assert lines["host"].relation == "= 150,000 B activations (head) + 28,511 B persistent (tail)"
    assert lines["target"].label == "arena on the 32-bit target (measured in QEMU)"
    assert lines["target"].relation.startswith("-9,723 B (-5.45 %) vs the 64-bit host")
    assert lines["reserved_arena"].relation == "= the 32-bit target figure + 28,604 B"
    budget = load_board(BOARD).budget("tflm").sram_bytes
    assert lines["budget"].relation == f"the reserved arena uses {100 * 197_392 / budget:.1f} % of it"
    # a figure that is absent has no line: no target, no reservation figures
    part = _memory_results(measured={"tflm_arena_bytes": 178_511},
                           target={"arena_bytes": 170_000, "source": "derived"})
    got = derive.sram_lines(normalise_results(part))
    assert [line.key for line in got] == ["host", "target"]
    assert got[1].label == "arena on the 32-bit target (bounded from the host arena and the kernels' scratch)"

    md = (write_report(full, tmp_path / "r", formats="md")["md"]).read_text()
    assert md.count("| arena ") == 4 and "stack reserved in the firmware" in md
    # constraints in the flags' units with where each came from; no HTML entity; no "? ?"
    assert ("TFLM arena on the 64-bit host, before margin ≤ 268.2 KB (board stm32f746g-disco); "
            "flash ≤ 852.8 KB (--max-flash-kb 852.75)") in md
    assert "&lt;" not in md and "274,618.18" not in md and "? ?" not in md
    assert "int8 [1, 48, 48, 1]; scale 0.02, zero point -3" in md
    assert "dequantized score = 0.25 x (q + 7) (logits, not probabilities)" in md


def test_model_tensors_without_dtype_or_shape_show_what_is_known(tmp_path):
    r = {"model": {"name": "m", "input": {"scale": 0.5, "zero_point": 1}}, "versions": {}}
    md = write_report(r, tmp_path / "r", formats="md")["md"].read_text()
    assert "- **input**: scale 0.5, zero point 1" in md and "?" not in md.split("## Model")[1]
