"""The report as data: a title, header facts and sections of tables, images, facts and text.

Both renderers (``markdown.py``, the HTML template) walk this one structure, so the two
formats show the same strings. Everything here is a pure function of the normalised results
and the names of the plots that exist.
"""
from __future__ import annotations

import json
from typing import Iterable, Mapping

from . import derive, fmt
from .plots import PLOTS
from .schema import REFERENCE_PATH, path_label

PLOTS_DIR = "plots"
# Copied PNGs (made by other stages) and where they go in plots/.
EXTERNAL_PNGS = {("memory", "native", "plan_png"): ("native_memory_plan.png", "Native backend memory plan (tensor lifetimes)"),
                 ("search", "plot_png"): ("search.png", "Search: predicted accuracy of every candidate")}


def _table(header: list[str], rows: list[list[str]], align: str, caption: str | None = None) -> dict:
    return {"type": "table", "header": header, "rows": rows, "align": ["right" if a == "r" else "left" for a in align],
            "caption": caption}


def _image(name: str, plots: Iterable[str], caption: str | None = None) -> list[dict]:
    if name not in plots:
        return []
    return [{"type": "image", "src": f"{PLOTS_DIR}/{name}", "caption": caption or PLOTS[name][0]}]


def _facts(items: list[tuple[str, str | None]]) -> dict:
    return {"type": "facts", "items": [[k, v] for k, v in items if v is not None]}


def _b(n: int | None) -> str | None:
    """Bytes for a fact line (None, so the line is left out, when the figure is missing)."""
    return None if n is None else fmt.nbytes(n)


def title(r: Mapping) -> str:
    """The report's title (``results["title"]``, else model and board)."""
    if r.get("title"):
        return r["title"]
    board = ((r.get("memory") or {}).get("board") or {}).get("name")
    return f"Deployment report: {r['model']['name']}" + (f" on {board}" if board else "")


def header_facts(r: Mapping) -> list[list[str]]:
    """The lines under the title: model, board, dataset, verdict, provenance."""
    m, ds = r["model"], r.get("dataset") or {}
    board = ((r.get("memory") or {}).get("board") or {}).get("name")
    model = m["name"]
    if m.get("macs") is not None:
        model += f" ({fmt.mega(m['macs'])} MACs, {fmt.count(m.get('params'))} params)"
    data = None
    if ds:
        data = ds.get("name") or "?"
        extra = [x for x in (ds.get("split"), f"{ds['images']:,} images" if ds.get("images") is not None else None) if x]
        if extra:
            data += f" ({', '.join(extra)})"
    fits = derive.fits_overall(derive.memory_rows(r), r.get("backend"))
    verdict = None if fits is None else ("fits the board's budgets" if fits else "DOES NOT FIT the board's budgets")
    skipped = ds.get("skipped") or []
    items = [("model", model), ("board", board), ("backend", r.get("backend")), ("dataset", data),
             ("input preprocessing", ds.get("preprocessing")),
             ("skipped files", f"{len(skipped)}: " + "; ".join(skipped[:20]) + (" ..." if len(skipped) > 20 else "")
              if skipped else None),
             ("memory", verdict), ("created by", r.get("created_by")), ("created at", r.get("created_at"))]
    return [[k, v] for k, v in items if v is not None]


def _summary(r: Mapping) -> dict | None:
    blocks = []
    acc_rows = derive.accuracy_rows(r)
    if acc_rows:
        has_ref = REFERENCE_PATH in (r.get("accuracy") or {})
        rows = [[row.label, fmt.pct(row.top1),
                 "reference" if row.key == REFERENCE_PATH else (fmt.points(row.drop) if has_ref else fmt.MISSING),
                 fmt.count(row.n) if row.n is not None else ("predicted" if row.predicted else fmt.MISSING)]
                for row in acc_rows]
        blocks.append(_table(["path", "top-1", "change from float", "images"], rows, "lrrr",
                             "Top-1 accuracy of each path on the same images (change in percentage points)."))
    mem_rows = derive.memory_rows(r)
    if mem_rows:
        rows = [[row.label, fmt.nbytes(row.used), fmt.nbytes(row.budget), fmt.share(row.used, row.budget),
                 fmt.yes_no(row.fits)] for row in mem_rows]
        blocks.append(_table(["memory", "used by the model", "budget", "% of budget", "fits"], rows, "lrrrl",
                             "Budget = the board's memory minus what the runtime needs beside the model."))
    return {"id": "summary", "title": "Summary", "blocks": blocks} if blocks else None


def _accuracy(r: Mapping, plots: Iterable[str]) -> dict | None:
    acc = {k: v for k, v in (r.get("accuracy") or {}).items() if v.get("per_class") is not None}
    if not acc:
        return None
    names = derive.class_names(r) or []
    counts = derive.class_counts(r)
    header = ["class"] + (["images"] if counts else []) + [path_label(k, v) for k, v in acc.items()]
    rows = []
    for i, name in enumerate(names):
        row = [name] + ([fmt.count(counts[i])] if counts else [])
        rows.append(row + [fmt.pct(v["per_class"][i]) for v in acc.values()])
    blocks = [_table(header, rows, "l" + "r" * (len(header) - 1), "Top-1 within each true class.")]
    blocks += _image("per_class.png", plots) + _image("confusion.png", plots)
    return {"id": "accuracy", "title": "Per-class accuracy", "blocks": blocks}


def _agreement(r: Mapping, plots: Iterable[str]) -> dict | None:
    ag = r.get("agreement")
    if not ag or not ag["paths"]:
        return None
    acc = r.get("accuracy") or {}
    labels = [path_label(p, acc.get(p)) for p in ag["paths"]]
    rows = [[labels[i]] + [fmt.pct(v) for v in row] for i, row in enumerate(ag["matrix"])]
    blocks = [_table([""] + labels, rows, "l" + "r" * len(labels),
                     "Share of the images on which two paths predict the same top-1 class.")]
    return {"id": "agreement", "title": "Agreement matrix", "blocks": blocks + _image("agreement.png", plots)}


def _memory(r: Mapping, plots: Iterable[str]) -> dict | None:
    mem = r.get("memory")
    if not mem:
        return None
    b, p, m, n = (mem.get(k) or {} for k in ("board", "predicted", "measured", "native"))
    blocks = []
    if b:
        blocks.append(_table(["board " + b["name"], "SRAM", "flash"], [
            ["total", fmt.nbytes(b["sram_bytes"]), fmt.nbytes(b.get("app_flash_bytes") or b["flash_bytes"])],
            ["TFLM runtime", fmt.nbytes(b.get("runtime_sram_bytes")), fmt.nbytes(b.get("runtime_flash_bytes"))],
            *([["application reserve", fmt.nbytes(b.get("reserve_sram_bytes")),
                fmt.nbytes(b.get("reserve_flash_bytes"))]] if b.get("reserve_sram_bytes") or b.get("reserve_flash_bytes")
              else []),
            ["model budget (TFLM)", fmt.nbytes(b.get("model_sram_budget")), fmt.nbytes(b.get("model_flash_budget"))],
            *([["native runtime", fmt.nbytes(b.get("native_runtime_sram_bytes")),
                fmt.nbytes(b.get("native_runtime_flash_bytes"))],
               ["model budget (native)", fmt.nbytes(b.get("native_model_sram_budget")),
                fmt.nbytes(b.get("native_model_flash_budget"))]] if b.get("native_model_sram_budget") is not None else []),
        ], "lrr"))
    sram = derive.sram_lines(r)
    if sram:
        blocks.append(_table(["SRAM figure", "bytes", "relation"],
                             [[line.label, fmt.nbytes(line.used), line.relation or ""] for line in sram], "lrl",
                             "One line per meaning. The firmware reserves the arena of the 32-bit target for its "
                             "kernel set (measured in QEMU, or predicted by the calibrated model) plus a small "
                             "margin; the 64-bit host interpreter needs more (8-byte pointers)."))
    if b.get("runtime_source"):
        blocks.append(_facts([("runtime figures", b["runtime_source"])]))
    lk = mem.get("linked") or {}
    if lk:
        blocks.append(_table(["linked firmware (arm-none-eabi-size)", "bytes", "of the board's", "fits"], [
            ["flash (code + constants + .data)", fmt.nbytes(lk.get("flash_bytes")), fmt.nbytes(lk.get("flash_total_bytes")),
             "yes" if lk.get("flash_bytes", 0) <= lk.get("flash_total_bytes", 0) else "NO"],
            ["RAM (.data + .bss + stack + heap)", fmt.nbytes(lk.get("ram_bytes")), fmt.nbytes(lk.get("ram_total_bytes")),
             "yes" if lk.get("ram_bytes", 0) <= lk.get("ram_total_bytes", 0) else "NO"],
        ], "lrrl", lk.get("note")))
    facts = []
    if p:
        facts += [("predicted flash", _b(p.get("flash_bytes"))), ("memory prediction", p.get("source"))]
    if m:
        facts += [(".tflite flatbuffer", _b(m.get("tflite_bytes"))),
                  ("model data in flash", _b(m.get("flash_bytes"))),
                  ("measurement", m.get("note"))]
    if n:
        facts += [("native code (.text)", _b(n.get("text_bytes"))),
                  ("native weights (.rodata)", _b(n.get("rodata_bytes"))),
                  ("native", n.get("note"))]
    if facts:
        blocks.append(_facts(facts))
    blocks += _image("memory.png", plots) + _image("native_memory_plan.png", plots, EXTERNAL_PNGS[("memory", "native", "plan_png")][1])
    return {"id": "memory", "title": "Memory", "blocks": blocks} if blocks else None


def _architecture(r: Mapping, plots: Iterable[str]) -> dict | None:
    m = r["model"]
    bl = derive.blocks(m.get("layers"))
    blocks = []
    facts = [("space", m.get("space")), ("arch", json.dumps(m["arch"], separators=(",", ":")) if m.get("arch") else None),
             ("MACs", f"{fmt.count(m['macs'])} ({fmt.mega(m['macs'])})" if m.get("macs") is not None else None),
             ("params", fmt.count(m.get("params")) if m.get("params") is not None else None)]
    if any(v is not None for _, v in facts):
        blocks.append(_facts(facts))
    blocks += _image("architecture.png", plots)
    if bl:
        rows = [[b.label, b.kind, f"{b.kernel}x{b.kernel}", f"{b.expand:.3g}" if b.expand is not None else fmt.MISSING,
                 f"{b.in_ch} → {b.mid} → {b.out_ch}" if b.mid else f"{b.in_ch} → {b.out_ch}",
                 f"{b.in_hw} → {b.out_hw}", str(b.stride), "yes" if b.se else "", "yes" if b.residual else "",
                 fmt.count(b.macs), fmt.share(b.macs, m.get("macs")), fmt.count(b.params)] for b in bl]
        blocks.append(_table(["block", "type", "kernel", "expand", "channels", "resolution", "stride", "SE", "residual",
                              "MACs", "% MACs", "params"], rows, "lllrlllllrrr"))
    return {"id": "architecture", "title": "Architecture", "blocks": blocks} if blocks else None


def _latency(r: Mapping, plots: Iterable[str]) -> dict | None:
    lat = r.get("latency")
    if not lat:
        return None
    facts = [("board", lat.get("board")),
             ("instructions", fmt.count(lat["total_instructions"]) if lat.get("total_instructions") is not None else None),
             ("cycles per instruction", f"{lat['cycles_per_instruction']:g}" if lat.get("cycles_per_instruction") is not None else None),
             ("clock", f"{lat['clock_hz'] / 1e6:g} MHz" if lat.get("clock_hz") is not None else None),
             ("estimated latency", fmt.ms(lat.get("estimated_ms")) if lat.get("estimated_ms") is not None else None),
             ("source", lat.get("source"))]
    blocks = [_facts(facts)] + _image("latency.png", plots)
    rows = derive.latency_rows(r)
    if rows:
        blocks.append(_table(["layer", "MACs", "instructions", "instr./MAC", "est. ms", "% of instr."], [
            [row.name, fmt.count(row.macs), fmt.count(row.instructions),
             f"{row.per_mac:.2f}" if row.per_mac is not None else fmt.MISSING,
             f"{row.ms:.3f}" if row.ms is not None else fmt.MISSING, fmt.share(row.share, 1.0)]
            for row in rows], "lrrrrr"))
    return {"id": "latency", "title": "Latency estimate", "blocks": blocks}


def _search(r: Mapping, plots: Iterable[str]) -> dict | None:
    s = r.get("search")
    if not s:
        return None
    from ..search.constraints import describe_limit, format_metric

    cons = s.get("constraints") or {}
    sources = s.get("constraint_sources") or {}
    facts = [("strategy", s.get("strategy")),
             ("candidates evaluated", fmt.count(s["evaluated"]) if s.get("evaluated") is not None else None),
             ("predicted top-1", f"{s['predicted_accuracy']:.2f} %" if s.get("predicted_accuracy") is not None else None),
             ("efficiency model", s.get("efficiency_model")),
             ("constraints", "; ".join(describe_limit(k, v, sources.get(k)) for k, v in cons.items()) if cons else None),
             ("chosen figures", ", ".join(f"{k} = {format_metric(k, v)}" for k, v in (s.get("efficiency") or {}).items())
              or None),
             ("search time", fmt.seconds(s["seconds"]) if s.get("seconds") is not None else None)]
    blocks = [_facts(facts)] + _image("search.png", plots, EXTERNAL_PNGS[("search", "plot_png")][1])
    return {"id": "search", "title": "Search", "blocks": blocks}


def _model(r: Mapping) -> dict | None:
    m = r["model"]

    def tensor(t, output: bool = False):
        if not t:
            return None
        parts = [" ".join(str(x) for x in (t.get("dtype"), t.get("shape")) if x is not None)]
        if t.get("scale") is not None:
            zp = t.get("zero_point", 0)
            q = f"scale {t['scale']:.9g}, zero point {zp}"
            if output:  # what the int8 outputs mean once dequantized
                kind = "probabilities" if "SOFTMAX" in (m.get("ops") or []) else "logits, not probabilities"
                shifted = f"q - {zp}" if zp >= 0 else f"q + {-zp}"
                q += f"; dequantized score = {t['scale']:.6g} x ({shifted}) ({kind})"
            parts.append(q)
        return "; ".join(p for p in parts if p) or None

    facts = [("name", m["name"]), ("TFLite SHA-256", m.get("tflite_sha256")),
             ("TFLite size", _b(m.get("tflite_bytes"))),
             ("ops", ", ".join(m["ops"]) if m.get("ops") else None),
             ("input", tensor(m.get("input"))), ("output", tensor(m.get("output"), output=True))]
    return {"id": "model", "title": "Model", "blocks": [_facts(facts)]}


def _versions(r: Mapping) -> dict:
    rows = [[k, v if v is not None else "not installed"] for k, v in r["versions"].items()]
    return {"id": "versions", "title": "Versions", "blocks": [_table(["component", "version"], rows, "ll")]}


def _timings(r: Mapping) -> dict | None:
    t = r.get("timings")
    if not t:
        return None
    rows = [[k, fmt.seconds(v)] for k, v in t.items()] + [["total", fmt.seconds(sum(t.values()))]]
    return {"id": "timings", "title": "Timings", "blocks": [_table(["stage", "time"], rows, "lr")]}


def build_view(r: Mapping, plots: Iterable[str]) -> dict:
    """The report of normalised results ``r`` whose plots ``plots`` (file names in
    ``plots/``) exist: ``{"title", "facts", "sections": [{"id", "title", "blocks"}]}``."""
    plots = set(plots)
    sections = [_summary(r), _accuracy(r, plots), _agreement(r, plots), _memory(r, plots), _architecture(r, plots),
                _latency(r, plots), _search(r, plots), _model(r), _versions(r), _timings(r)]
    return {"title": title(r), "facts": header_facts(r), "sections": [s for s in sections if s]}
