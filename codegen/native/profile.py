"""Per-layer instruction counts of a native firmware run in QEMU -> the board's latency
estimate (instructions x cycles_per_instruction / clock), in the report's ``latency`` shape."""
from __future__ import annotations

from typing import Sequence


def measured_latency(per_layer: Sequence[int], layers: Sequence[dict], board) -> dict:
    """The report's ``latency`` section from counted ``per_layer`` instructions and the layers
    of the project's ``plan.json`` (``name``, ``macs``); ``board`` is an ``ofa_mcu.boards.Board``."""
    if len(per_layer) != len(layers):
        raise ValueError(f"{len(per_layer)} layer counts for {len(layers)} layers")
    cpi, clock = float(board.cycles_per_instruction), int(board.clock_hz)
    rows = []
    for n, layer in zip(per_layer, layers):
        cycles = round(int(n) * cpi)
        rows.append({"name": f"{layer.get('index', len(rows))}: {layer['name']}", "instructions": int(n),
                     "macs": int(layer.get("macs", 0)), "cycles": cycles, "ms": 1e3 * cycles / clock})
    total = sum(int(n) for n in per_layer)
    return {"board": board.name, "cycles_per_instruction": cpi, "clock_hz": clock, "total_instructions": total,
            "estimated_ms": 1e3 * total * cpi / clock, "per_layer": rows,
            "source": f"QEMU {board.qemu_machine} instruction count (TCG plugin) x {cpi:g} cycles/instruction "
                      f"at {clock / 1e6:g} MHz"}


def latency_lines(lat: dict) -> list[str]:
    """A fixed-width table of :func:`measured_latency` for the console."""
    lines = [f"{'layer':<44} {'MACs':>12} {'instructions':>14} {'ms':>10}"]
    for r in lat["per_layer"]:
        lines.append(f"{r['name'][:44]:<44} {r['macs']:>12,} {r['instructions']:>14,} {r['ms']:>10.3f}")
    macs = sum(r["macs"] for r in lat["per_layer"])
    lines.append(f"{'total':<44} {macs:>12,} {lat['total_instructions']:>14,} {lat['estimated_ms']:>10.3f}")
    lines.append(f"latency estimate on {lat['board']}: {lat['estimated_ms']:.3f} ms "
                 f"({lat['total_instructions']:,} instructions x {lat['cycles_per_instruction']:g} cycles/instruction "
                 f"/ {lat['clock_hz'] / 1e6:g} MHz)")
    return lines


def op_macs(model, op) -> int:
    """Multiply-accumulates of one TFLite operator (convolutions and fully connected layers;
    0 for the others) of a :class:`codegen.tflite_model.TfliteModel`."""
    if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") or len(op.inputs) < 2:
        return 0
    w = model.tensors[op.inputs[1]].shape
    out = model.tensors[op.outputs[0]]
    if op.opcode == "CONV_2D":
        return out.size * int(w[1]) * int(w[2]) * int(w[3])
    if op.opcode == "DEPTHWISE_CONV_2D":
        return out.size * int(w[1]) * int(w[2])
    return out.size * int(w[-1])


def tflm_layers(tflite: bytes) -> list[dict]:
    """The per-op rows of a TFLite-Micro run (``index``, ``name``, ``macs``), in the order the
    interpreter invokes them."""
    from ..tflite_model import read_tflite

    m = read_tflite(tflite)
    return [{"index": op.index, "name": op.opcode, "macs": op_macs(m, op)} for op in m.ops]


def project_tflite(project) -> bytes:
    """The model a generated TFLite-Micro project embeds (the C array of its ``model_data``
    source)."""
    import re
    from pathlib import Path

    from ofa_mcu.errors import UserError

    from ..tflm_arrays import parse_c_array

    for src in sorted(Path(project).rglob("model_data.c*")):
        text = src.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"unsigned char\s+(\w+)\s*\[\s*\]\s*=", text)
        if m:
            return parse_c_array(text, m.group(1))
    raise UserError(f"{project} holds no model_data source with the model array; regenerate the project")
