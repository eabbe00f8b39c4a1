"""Validate and normalise a results dict (the schema is documented in ``schema.md``).

``normalise_results(results)`` returns a new JSON-plain dict: numbers as Python ints and
floats, accuracy paths in a fixed order, the agreement matrix as ``{"paths", "matrix"}``,
and the figures that follow from others filled in (top-1 and per-class accuracy from a
confusion matrix, totals from the per-layer rows, budgets from board totals minus runtime).
Numbers that are given and contradict each other are an error, never silently fixed: the
report must show what the runs measured. Every problem is a one-line :class:`UserError`.
"""
from __future__ import annotations

import copy
import json
import math
import numbers
import re
from typing import Any, Mapping

from ..errors import UserError

SCHEMA_VERSION = 1
REQUIRED_TOP = ("model", "versions")
# Top-level keys in the order report.json lists them (unknown keys follow, sorted).
TOP_ORDER = ("schema", "title", "created_by", "created_at", "backend", "model", "dataset", "accuracy", "agreement",
             "memory", "latency", "search", "versions", "timings")

# Accuracy paths the report knows, in display order, with their labels (others follow, sorted).
PATH_LABELS = {
    "float": "float (PyTorch)",
    "onnx_float": "ONNX Runtime float",
    "onnx_int8": "ONNX Runtime int8",
    "tflite_int8": "TFLite int8",
    "tflm": "TFLite Micro int8",
    "native": "native C int8",
}
REFERENCE_PATH = "float"
PATH_KEY = re.compile(r"^[a-z0-9_]+$")
# Tolerance when a given figure is compared with the one its raw counts imply.
TOL = 1e-6

LAYER_INT_KEYS = ("in_ch", "out_ch", "kernel", "stride", "in_hw", "out_hw", "macs", "params")
BOARD_INT_KEYS = ("sram_bytes", "flash_bytes", "app_flash_bytes", "model_sram_budget", "model_flash_budget",
                  "runtime_sram_bytes", "runtime_flash_bytes", "native_runtime_sram_bytes", "native_runtime_flash_bytes",
                  "native_model_sram_budget", "native_model_flash_budget", "reserve_sram_bytes", "reserve_flash_bytes")
# (total, runtime, budget, reserve) tuples: budget = total - runtime - the application reserve
# (the flash total is the app partition where the board has one).
BUDGETS = (("sram_bytes", "runtime_sram_bytes", "model_sram_budget", "reserve_sram_bytes"),
           ("flash_bytes", "runtime_flash_bytes", "model_flash_budget", "reserve_flash_bytes"),
           ("sram_bytes", "native_runtime_sram_bytes", "native_model_sram_budget", "reserve_sram_bytes"),
           ("flash_bytes", "native_runtime_flash_bytes", "native_model_flash_budget", "reserve_flash_bytes"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, problem: str, fix: str) -> None:
    raise UserError(f"results: {where} {problem}; {fix}")


def _plain(value: Any) -> Any:
    """numpy arrays and scalars -> lists and Python numbers (the rest unchanged)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def _obj(value: Any, where: str) -> dict:
    if not isinstance(value, Mapping):
        _fail(where, f"must be a JSON object, got {type(value).__name__}", "see ofa_mcu/report/schema.md")
    for k in value:
        if not isinstance(k, str):
            _fail(where, f"has a non-string key {_short(k)}", "use string keys")
    return dict(value)


def _list(value: Any, where: str) -> list:
    value = _plain(value)
    if not isinstance(value, (list, tuple)):
        _fail(where, f"must be a list, got {type(value).__name__}", "see ofa_mcu/report/schema.md")
    return list(value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        _fail(where, f"must be a string, got {_short(value)}", "see ofa_mcu/report/schema.md")
    return value


def _int(value: Any, where: str, lo: int | None = 0) -> int:
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(where, f"must be an integer, got {_short(value)}", "write a whole number")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            _fail(where, f"must be an integer, got {_short(value)}", "write a whole number")
    value = int(value)
    if lo is not None and value < lo:
        _fail(where, f"must be >= {lo}, got {value}", "check the run that produced it")
    return value


def _num(value: Any, where: str, lo: float | None = None, hi: float | None = None, unit: str = "") -> float:
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        _fail(where, f"must be a finite number, got {_short(value)}", "write a number")
    value = float(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(where, f"= {value} is outside [{lo}, {hi}]{unit}", "check the run that produced it")
    return value


def _fraction(value: Any, where: str) -> float:
    return _num(value, where, 0.0, 1.0, " (a fraction, not a percentage)")


def _opt(obj: dict, key: str, where: str, conv, *args, **kwargs):
    """Convert ``obj[key]`` in place when present and not None."""
    if obj.get(key) is not None:
        obj[key] = conv(obj[key], f"{where}.{key}", *args, **kwargs)


def _require(obj: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if obj.get(k) is None]
    if missing:
        _fail(where, f"is missing required key{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
              "see ofa_mcu/report/schema.md")


# ---- sections ---------------------------------------------------------------------------


def _tensor(value: Any, where: str) -> dict:
    """A model input or output; its zero point, when the key is there, is an integer (not null:
    the report prints the dequantization with it)."""
    t = _obj(value, where)
    if t.get("shape") is not None:
        t["shape"] = [_int(d, f"{where}.shape[{i}]", lo=None) for i, d in enumerate(_list(t["shape"], f"{where}.shape"))]
    _opt(t, "dtype", where, _str)
    _opt(t, "scale", where, _num, 0.0)
    if "zero_point" in t:
        t["zero_point"] = _int(t["zero_point"], f"{where}.zero_point", lo=None)
    return t


def _layer(value: Any, where: str) -> dict:
    row = _obj(value, where)
    _require(row, ("block", "role", "kind", *LAYER_INT_KEYS), where)
    row["block"] = _int(row["block"], f"{where}.block", lo=-1)
    row["role"] = _str(row["role"], f"{where}.role")
    row["kind"] = _str(row["kind"], f"{where}.kind")
    for k in LAYER_INT_KEYS:
        row[k] = _int(row[k], f"{where}.{k}")
    _opt(row, "groups", where, _int, 1)
    _opt(row, "act", where, _str)
    if row.get("residual") is not None and not isinstance(row["residual"], bool):
        _fail(f"{where}.residual", f"must be true or false, got {_short(row['residual'])}", "write a JSON boolean")
    return row


def _model(value: Any) -> dict:
    m = _obj(value, "model")
    _require(m, ("name",), "model")
    m["name"] = _str(m["name"], "model.name")
    if m.get("tflite_sha256") is not None:
        sha = _str(m["tflite_sha256"], "model.tflite_sha256").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            _fail("model.tflite_sha256", f"= {_short(sha)} is not a SHA-256 hex digest", "write hashlib.sha256(tflite).hexdigest()")
        m["tflite_sha256"] = sha
    _opt(m, "tflite_bytes", "model", _int, 1)
    if m.get("ops") is not None:
        m["ops"] = [_str(o, f"model.ops[{i}]") for i, o in enumerate(_list(m["ops"], "model.ops"))]
    for k in ("input", "output"):
        if m.get(k) is not None:
            m[k] = _tensor(m[k], f"model.{k}")
    _opt(m, "space", "model", _str)
    _opt(m, "arch", "model", _obj)
    if m.get("layers") is not None:
        m["layers"] = [_layer(r, f"model.layers[{i}]") for i, r in enumerate(_list(m["layers"], "model.layers"))]
    for k in ("macs", "params"):
        _opt(m, k, "model", _int)
        if m.get("layers"):
            total = sum(r[k] for r in m["layers"])
            if m.get(k) is None:
                m[k] = total
            elif m[k] != total:
                _fail(f"model.{k}", f"= {m[k]:,} but the per-layer rows add up to {total:,}",
                      "take both from the same per-layer table")
    return m


def _dataset(value: Any) -> dict:
    d = _obj(value, "dataset")
    _opt(d, "name", "dataset", _str)
    _opt(d, "split", "dataset", _str)
    _opt(d, "images", "dataset", _int)
    if d.get("class_names") is not None:
        d["class_names"] = [_str(c, f"dataset.class_names[{i}]")
                            for i, c in enumerate(_list(d["class_names"], "dataset.class_names"))]
    _opt(d, "preprocessing", "dataset", _str)
    if d.get("skipped") is not None:
        d["skipped"] = [_str(c, f"dataset.skipped[{i}]") for i, c in enumerate(_list(d["skipped"], "dataset.skipped"))]
    return d


def _confusion(value: Any, where: str) -> list[list[int]]:
    rows = _list(value, where)
    n = len(rows)
    if n == 0:
        _fail(where, "is empty", "write the (classes x classes) count matrix, rows = true class")
    out = []
    for i, row in enumerate(rows):
        row = _list(row, f"{where}[{i}]")
        if len(row) != n:
            _fail(f"{where}[{i}]", f"has {len(row)} entries but the matrix has {n} rows", "make it square")
        out.append([_int(v, f"{where}[{i}][{j}]") for j, v in enumerate(row)])
    return out


def _accuracy_path(key: str, value: Any) -> dict:
    where = f"accuracy.{key}"
    rec = _obj(value, where)
    _opt(rec, "label", where, _str)
    _opt(rec, "n", where, _int, 1)
    if rec.get("confusion") is not None:
        conf = rec["confusion"] = _confusion(rec["confusion"], f"{where}.confusion")
        total = sum(map(sum, conf))
        if total == 0:
            _fail(f"{where}.confusion", "counts no image", "fill it from the run's predictions")
        if rec.get("n") is not None and rec["n"] != total:
            _fail(f"{where}.n", f"= {rec['n']} but the confusion matrix counts {total} images",
                  "take both from the same run")
        rec["n"] = total
        derived = sum(conf[i][i] for i in range(len(conf))) / total
        if rec.get("top1") is None:
            rec["top1"] = derived
        else:
            rec["top1"] = _fraction(rec["top1"], f"{where}.top1")
            if abs(rec["top1"] - derived) > TOL:
                _fail(f"{where}.top1", f"= {rec['top1']} but its confusion matrix gives {derived}",
                      "take both from the same run")
        per_class = [conf[i][i] / sum(conf[i]) if sum(conf[i]) else None for i in range(len(conf))]
        if rec.get("per_class") is None:
            rec["per_class"] = per_class
    if rec.get("top1") is None:
        _fail(where, "has neither top1 nor confusion", "give top1 (a fraction) or the confusion matrix")
    rec["top1"] = _fraction(rec["top1"], f"{where}.top1")
    if rec.get("per_class") is not None:
        given = _list(rec["per_class"], f"{where}.per_class")
        rec["per_class"] = [None if v is None else _fraction(v, f"{where}.per_class[{i}]") for i, v in enumerate(given)]
        if rec.get("confusion") is not None:
            conf = rec["confusion"]
            if len(given) != len(conf):
                _fail(f"{where}.per_class", f"has {len(given)} entries but the confusion matrix has {len(conf)} classes",
                      "take both from the same run")
            for i, v in enumerate(rec["per_class"]):
                expect = conf[i][i] / sum(conf[i]) if sum(conf[i]) else None
                if (v is None) != (expect is None) or (v is not None and abs(v - expect) > TOL):
                    _fail(f"{where}.per_class[{i}]", f"= {v} but its confusion matrix gives {expect}",
                          "take both from the same run")
    return rec


def _accuracy(value: Any, n_classes: int | None) -> dict:
    acc = _obj(value, "accuracy")
    for key in acc:
        if not PATH_KEY.match(key):
            _fail(f"accuracy.{key}", "is not a valid path name", f"use lower-case names such as {', '.join(PATH_LABELS)}")
    order = [k for k in PATH_LABELS if k in acc] + sorted(k for k in acc if k not in PATH_LABELS)
    out = {k: _accuracy_path(k, acc[k]) for k in order}
    for key, rec in out.items():
        c = len(rec["per_class"]) if rec.get("per_class") is not None else None
        if c is not None and n_classes is not None and c != n_classes:
            _fail(f"accuracy.{key}.per_class", f"has {c} classes but dataset.class_names has {n_classes}",
                  "give one class name per model output")
        if c is not None:
            n_classes = c
    return out


def _agreement(value: Any) -> dict:
    ag = _obj(value, "agreement")
    if "paths" not in ag and "matrix" not in ag:
        # The {a: {b: fraction}} form of ofa_mcu.quant.agreement.agreement().
        paths = list(ag)
        matrix = []
        for a in paths:
            row = _obj(ag[a], f"agreement.{a}")
            missing = [b for b in paths if b not in row]
            if missing:
                _fail(f"agreement.{a}", f"lacks {', '.join(missing)}", "give every pair of paths")
            matrix.append([row[b] for b in paths])
    else:
        _require(ag, ("paths", "matrix"), "agreement")
        paths, matrix = _list(ag["paths"], "agreement.paths"), _list(ag["matrix"], "agreement.matrix")
    paths = [_str(p, f"agreement.paths[{i}]") for i, p in enumerate(paths)]
    if len(set(paths)) != len(paths):
        _fail("agreement.paths", f"repeats a path: {paths}", "list each path once")
    if len(matrix) != len(paths):
        _fail("agreement.matrix", f"has {len(matrix)} rows for {len(paths)} paths", "give one row per path")
    out = []
    for i, row in enumerate(matrix):
        row = _list(row, f"agreement.matrix[{i}]")
        if len(row) != len(paths):
            _fail(f"agreement.matrix[{i}]", f"has {len(row)} entries for {len(paths)} paths", "make it square")
        out.append([_fraction(v, f"agreement.matrix[{i}][{j}]") for j, v in enumerate(row)])
    for i in range(len(paths)):
        if abs(out[i][i] - 1.0) > TOL:
            _fail(f"agreement.matrix[{i}][{i}]", f"= {out[i][i]}, but a path always agrees with itself",
                  "compute the matrix from the runs' top-1 classes")
        for j in range(i):
            if abs(out[i][j] - out[j][i]) > TOL:
                _fail(f"agreement.matrix[{i}][{j}]", f"= {out[i][j]} but [{j}][{i}] = {out[j][i]}",
                      "agreement is symmetric; compute it from the runs' top-1 classes")
    extra = {k: v for k, v in ag.items() if k not in ("paths", "matrix")} if "paths" in ag else {}
    return {**extra, "paths": paths, "matrix": out}


def _board(value: Any) -> dict:
    b = _obj(value, "memory.board")
    _require(b, ("name", "sram_bytes", "flash_bytes"), "memory.board")
    b["name"] = _str(b["name"], "memory.board.name")
    _opt(b, "runtime_source", "memory.board", _str)
    for k in BOARD_INT_KEYS:
        _opt(b, k, "memory.board", _int)
    for total_key, runtime, budget, reserve in BUDGETS:
        if total_key == "flash_bytes" and b.get("app_flash_bytes") is not None:
            total_key = "app_flash_bytes"
        total = b[total_key] - (b.get(reserve) or 0)
        if b.get(runtime) is None and b.get(budget) is not None:
            b[runtime] = total - b[budget]
        elif b.get(budget) is None and b.get(runtime) is not None:
            b[budget] = total - b[runtime]
        elif b.get(budget) is not None and b[budget] + b[runtime] != total:
            _fail(f"memory.board.{budget}", f"= {b[budget]:,} but {total_key} - {runtime} - {reserve} = "
                  f"{total - b[runtime]:,}", "take the board figures from ofa_mcu.boards.load_board(name)")
        if b.get(budget) is not None and not 0 <= b[budget] <= b[total_key]:
            _fail(f"memory.board.{budget}", f"= {b[budget]:,} is not within the board's {total_key} ({b[total_key]:,})",
                  "check the board's runtime figures")
    for _, runtime, budget, _ in BUDGETS[:2]:
        if b.get(budget) is None:
            _fail("memory.board", f"has neither {budget} nor {runtime}", "give the board's runtime overhead")
    return b


def _memory(value: Any) -> dict:
    mem = _obj(value, "memory")
    if mem.get("board") is not None:
        mem["board"] = _board(mem["board"])
    if mem.get("predicted") is not None:
        p = mem["predicted"] = _obj(mem["predicted"], "memory.predicted")
        for k in ("sram_bytes", "flash_bytes", "tflm_arena_bytes_host", "tflm_arena_bytes_target"):
            _opt(p, k, "memory.predicted", _int)
        _opt(p, "source", "memory.predicted", _str)
    if mem.get("target") is not None:
        t = mem["target"] = _obj(mem["target"], "memory.target")
        _opt(t, "arena_bytes", "memory.target", _int)
        for k in ("source", "kernels", "core", "board"):
            _opt(t, k, "memory.target", _str)
    if mem.get("reserved") is not None:
        res = mem["reserved"] = _obj(mem["reserved"], "memory.reserved")
        for k in ("arena_bytes", "stack_bytes", "heap_bytes", "stack_used_bytes", "heap_used_bytes"):
            _opt(res, k, "memory.reserved", _int)
        _opt(res, "rule", "memory.reserved", _str)
    if mem.get("linked") is not None:
        lk = mem["linked"] = _obj(mem["linked"], "memory.linked")
        for k in ("flash_bytes", "flash_total_bytes", "ram_bytes", "ram_total_bytes", "text_bytes", "rodata_bytes",
                  "data_bytes", "bss_bytes"):
            _opt(lk, k, "memory.linked", _int)
        _opt(lk, "note", "memory.linked", _str)
    if mem.get("measured") is not None:
        m = mem["measured"] = _obj(mem["measured"], "memory.measured")
        for k in ("tflm_arena_bytes", "head", "tail", "arena_bytes", "tflite_bytes", "flash_bytes"):
            _opt(m, k, "memory.measured", _int)
        _opt(m, "note", "memory.measured", _str)
        if m.get("arena_bytes") is not None and m.get("tflm_arena_bytes") is not None \
                and m["arena_bytes"] < m["tflm_arena_bytes"]:
            _fail("memory.measured.arena_bytes", f"= {m['arena_bytes']:,} is below the measured arena "
                  f"{m['tflm_arena_bytes']:,}", "arena_bytes is the measured arena plus its margin")
    if mem.get("native") is not None:
        n = mem["native"] = _obj(mem["native"], "memory.native")
        for k in ("peak_bytes", "text_bytes", "rodata_bytes", "data_bytes", "flash_bytes"):
            _opt(n, k, "memory.native", _int)
        _opt(n, "plan_png", "memory.native", _str)
        _opt(n, "note", "memory.native", _str)
        if n.get("flash_bytes") is None and n.get("text_bytes") is not None and n.get("rodata_bytes") is not None:
            n["flash_bytes"] = n["text_bytes"] + n["rodata_bytes"] + n.get("data_bytes", 0)
    return mem


def _latency(value: Any) -> dict:
    lat = _obj(value, "latency")
    _opt(lat, "board", "latency", _str)
    _opt(lat, "cycles_per_instruction", "latency", _num, 0.0)
    _opt(lat, "clock_hz", "latency", _int, 1)
    _opt(lat, "total_instructions", "latency", _int)
    _opt(lat, "estimated_ms", "latency", _num, 0.0)
    _opt(lat, "source", "latency", _str)
    if lat.get("per_layer") is not None:
        rows = []
        for i, r in enumerate(_list(lat["per_layer"], "latency.per_layer")):
            where = f"latency.per_layer[{i}]"
            r = _obj(r, where)
            _require(r, ("name", "instructions"), where)
            r["name"] = _str(r["name"], f"{where}.name")
            r["instructions"] = _int(r["instructions"], f"{where}.instructions")
            _opt(r, "macs", where, _int)
            _opt(r, "cycles", where, _int)
            _opt(r, "ms", where, _num, 0.0)
            rows.append(r)
        lat["per_layer"] = rows
        total = sum(r["instructions"] for r in rows)
        if lat.get("total_instructions") is None:
            lat["total_instructions"] = total
        elif lat["total_instructions"] != total:
            _fail("latency.total_instructions", f"= {lat['total_instructions']:,} but the per-layer rows add up to "
                  f"{total:,}", "take both from the same count")
    if lat.get("estimated_ms") is None and all(lat.get(k) is not None for k in
                                               ("total_instructions", "cycles_per_instruction", "clock_hz")):
        lat["estimated_ms"] = lat["total_instructions"] * lat["cycles_per_instruction"] / lat["clock_hz"] * 1e3
    return lat


def _search(value: Any) -> dict:
    s = _obj(value, "search")
    _opt(s, "strategy", "search", _str)
    _opt(s, "predicted_accuracy", "search", _num, 0.0, 100.0, " (top-1 in percent)")
    _opt(s, "evaluated", "search", _int)
    _opt(s, "seconds", "search", _num, 0.0)
    _opt(s, "plot_png", "search", _str)
    _opt(s, "efficiency_model", "search", _str)
    if s.get("constraint_sources") is not None:
        src = _obj(s["constraint_sources"], "search.constraint_sources")
        s["constraint_sources"] = {m: _str(v, f"search.constraint_sources.{m}") for m, v in src.items()}
    for k in ("constraints", "efficiency"):
        if s.get(k) is not None:
            obj = _obj(s[k], f"search.{k}")
            s[k] = {m: _num(v, f"search.{k}.{m}", 0.0) for m, v in obj.items()}
            s[k] = {m: int(v) if float(v).is_integer() else v for m, v in s[k].items()}
    _opt(s, "arch", "search", _obj)
    return s


def _versions(value: Any) -> dict:
    v = _obj(value, "versions")
    for k, ver in v.items():
        if ver is not None:
            _str(ver, f"versions.{k}")
    return v


def _timings(value: Any) -> dict:
    t = _obj(value, "timings")
    return {k: _num(v, f"timings.{k}", 0.0) for k, v in t.items()}


def normalise_results(results: Any) -> dict:
    """Validate ``results`` against the schema and return its normalised, JSON-plain copy.

    Raises :class:`UserError` (one line naming the key and the fix) on the first problem.
    """
    if not isinstance(results, Mapping):
        raise UserError(f"results must be a JSON object (see ofa_mcu/report/schema.md), got {type(results).__name__}")
    r = copy.deepcopy(dict(results))
    missing = [k for k in REQUIRED_TOP if r.get(k) is None]
    if missing:
        raise UserError(f"results are missing required key{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(k) for k in missing)}; see ofa_mcu/report/schema.md")
    schema = r.setdefault("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise UserError(f"results: schema = {_short(schema)} is not supported (this ofa-mcu reads schema "
                        f"{SCHEMA_VERSION}); regenerate the results with this version")
    for k in ("title", "created_by", "created_at", "backend"):
        _opt(r, k, "results", _str)
    r["model"] = _model(r["model"])
    r["versions"] = _versions(r["versions"])
    n_classes = None
    if r.get("dataset") is not None:
        r["dataset"] = _dataset(r["dataset"])
        if r["dataset"].get("class_names") is not None:
            n_classes = len(r["dataset"]["class_names"])
    sections = {"accuracy": lambda v: _accuracy(v, n_classes), "agreement": _agreement, "memory": _memory,
                "latency": _latency, "search": _search, "timings": _timings}
    for key, check in sections.items():
        if r.get(key) is not None:
            r[key] = check(r[key])
    known = [k for k in TOP_ORDER if k in r]
    r = {**{k: r[k] for k in known}, **{k: r[k] for k in sorted(set(r) - set(known))}}
    try:
        json.dumps(r, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UserError(f"results hold a value JSON cannot store ({exc}); keep the results JSON-plain") from None
    return r


def path_label(key: str, rec: Mapping | None = None) -> str:
    """Display name of an accuracy path (its ``label`` when given)."""
    if rec is not None and rec.get("label"):
        return rec["label"]
    return PATH_LABELS.get(key, key)
