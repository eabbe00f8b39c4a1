"""``results.json`` of a build (the report's schema, ``ofa_mcu/report/schema.md``) from the
stages' outputs, one section per function, and the end-of-build summary for the console."""
from __future__ import annotations

import json
from typing import Mapping

import numpy as np

# Path names of the build's stages -> the report's accuracy keys.
PATH_NAMES = {"float": "float", "onnx_int8": "onnx_int8", "tflite": "tflite_int8", "tflm": "tflm", "native": "native"}


def _confusion(logits: np.ndarray, labels: np.ndarray, k: int) -> list[list[int]]:
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (labels, np.asarray(logits).argmax(1)), 1)
    return m.tolist()


def accuracy_section(logits: Mapping[str, np.ndarray], labels: np.ndarray, n_classes: int) -> dict:
    """``accuracy``: top-1 and confusion of every path on the same images."""
    from ..quant import accuracy

    return {PATH_NAMES[p]: {"top1": accuracy(lg, labels),
                            "confusion": _confusion(lg, labels, n_classes), "n": int(len(labels))}
            for p, lg in logits.items()}


def agreement_section(logits: Mapping[str, np.ndarray]) -> dict:
    """``agreement``: the share of images on which two paths pick the same class."""
    from ..quant import agreement

    agree = agreement(dict(logits))
    return {"paths": [PATH_NAMES[p] for p in agree], "matrix": [[agree[a][b] for b in agree] for a in agree]}


def memory_section(ctx, searched, quantized, measured, emitted) -> dict:
    """``memory``: the board's budgets, the memory model's prediction, the host measurement,
    the 32-bit arena the firmware reserves (TFLM), the link (with a tree), the native plan."""
    from ..report import board_fields
    from .firmware import reserved_fields

    tflm = ctx.opts.backend == "tflm"
    p, k = measured.predicted, ctx.target.kernels
    out = {
        "board": board_fields(ctx.board, ctx.target.budget if tflm else None, None if tflm else ctx.target.budget),
        "predicted": {"sram_bytes": int(p["sram_bytes"]), "tflm_arena_bytes_host": int(p["tflm_arena_bytes_host"]),
                      "tflm_arena_bytes_target": int(p["tflm_arena_bytes_target"]),
                      "flash_bytes": int(p["tflite_bytes"]),
                      "source": f"calibrated TFLM memory model (the search's) for the {k} kernels: "
                                "sram_bytes is the 32-bit target arena"},
        "measured": {"tflm_arena_bytes": measured.host["tflm_arena_bytes"], "head": measured.host["head"],
                     "tail": measured.host["tail"], "tflite_bytes": len(quantized.tflite),
                     "note": "64-bit host TFLM interpreter (reference kernels)"},
    }
    if measured.reserve:
        out["target"] = measured.target
        out["reserved"] = reserved_fields(measured.reserve, measured.usage)
    if emitted.linked:
        out["linked"] = emitted.linked
    if emitted.native is not None:
        out["native"] = emitted.native
    return out


def build_results(ctx, searched, extracted, quantized, measured, emitted) -> dict:
    """The results of a build (schema 1)."""
    from .. import __version__
    from ..quant.tflite_inspect import inspect_tflite
    from ..report import collect_versions, model_fields

    logits = dict(quantized.logits)
    if emitted.native_logits is not None:
        logits["native"] = emitted.native_logits
    io = inspect_tflite(quantized.tflite)
    results = {
        "schema": 1,
        "title": f"ofa-mcu build: {ctx.cfg.name} subnet on {ctx.board.name}",
        "created_by": f"ofa-mcu {__version__}",
        "backend": ctx.opts.backend,
        "model": {"name": f"ofa_{ctx.cfg.name}", **model_fields(searched.arch, ctx.cfg),
                  "tflite_bytes": len(quantized.tflite), "ops": measured.host["ops"],
                  "input": io["input"], "output": io["output"]},
        "dataset": {"name": ctx.data.name, "split": ctx.eval_split_name, "images": int(len(quantized.labels)),
                    "class_names": list(ctx.data.class_names)},
        "accuracy": accuracy_section(logits, quantized.labels, ctx.cfg.n_classes),
        "agreement": agreement_section(logits),
        "memory": memory_section(ctx, searched, quantized, measured, emitted),
        "search": {**searched.found.summary(), "efficiency_model": searched.effmodel.name,
                   "constraints": dict(ctx.constraints.limits), "constraint_sources": dict(ctx.constraints.sources),
                   "plot_png": "search.png"},
        "versions": collect_versions(),
    }
    if extracted.finetune is not None:
        results["finetune"] = extracted.finetune
    return results


def summary_lines(out, r: Mapping) -> list[str]:
    """The end-of-build summary for the console (``out``: the output folder)."""
    acc = r["accuracy"]
    mem = r["memory"]
    b = mem["board"]
    lines = [
        f"chosen arch: {json.dumps(r['model']['arch'])}",
        f"  {r['model']['macs'] / 1e6:.2f} M MACs, {r['model']['params']:,} params, "
        f"predicted top-1 {r['search']['predicted_accuracy']:.2f} % (supernet weights)"
        + (f"; fine-tuned {r['finetune']['epochs']} epochs ({r['finetune']['seconds']:.0f} s)" if "finetune" in r else ""),
        "top-1 on " + f"{r['dataset']['images']} {r['dataset']['split']} images: " + ", ".join(
            f"{k} {100 * v['top1']:.2f} %" if "top1" in v else k for k, v in acc.items()),
    ]
    if "reserved" in mem:
        t = mem["target"]
        lines.append(f"SRAM for the TFLM arena: {t['arena_bytes'] / 1024:.1f} KB on the 32-bit target ({t['source']}, "
                     f"{t['kernels']} kernels; predicted {mem['predicted']['sram_bytes'] / 1024:.1f} KB), reserved "
                     f"{mem['reserved']['arena_bytes'] / 1024:.1f} KB of a {b['model_sram_budget'] / 1024:.1f} KB budget")
    lines.append(f"flash: predicted {mem['predicted']['flash_bytes'] / 1024:.1f} KB, measured "
                 f"{mem['measured']['tflite_bytes'] / 1024:.1f} KB (.tflite), budget {b['model_flash_budget'] / 1024:.1f} KB")
    if "linked" in mem and "flash_bytes" in mem["linked"]:
        lk = mem["linked"]
        lines.append(f"linked firmware: flash {lk['flash_bytes'] / 1024:.1f} of {lk['flash_total_bytes'] / 1024:.0f} KB, "
                     f"RAM {lk['ram_bytes'] / 1024:.1f} of {lk['ram_total_bytes'] / 1024:.0f} KB: fits")
    elif "reserved" in mem:
        lines.append("not linked (no TFLM tree: pass --tflm-dir or set TFLM_DIR): the fit above is predicted")
    if r["search"].get("selection"):
        sel = r["search"]["selection"]
        lines.append(f"selection: {sel['rule']} ({sel['candidates_within']} candidates; the most accurate was predicted "
                     f"{sel['most_accurate']['predicted_accuracy']:.2f} %)")
    if "native" in mem:
        n = mem["native"]
        lines.append(f"native C: static buffer {n['peak_bytes'] / 1024:.1f} KB (native SRAM budget "
                     f"{b['native_model_sram_budget'] / 1024:.1f} KB)" + (
                         f", firmware {n['flash_bytes'] / 1024:.1f} KB of flash" if n.get("flash_bytes") else ""))
    lines.append(f"project: {out / 'project'}   report: {out / 'report' / 'report.md'}")
    return lines
