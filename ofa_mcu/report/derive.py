"""Figures the report shows that follow from the normalised results (pure arithmetic).

Both renderers (Markdown, HTML) and the plots read these, so every number appears once,
computed one way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .schema import REFERENCE_PATH, path_label


@dataclass(frozen=True)
class AccuracyRow:
    """One accuracy path: its top-1 and the change from the float model (fractions)."""

    key: str
    label: str
    top1: float
    drop: float | None  # top1 - float top1 (negative = worse); None without a float run
    n: int | None
    predicted: bool = False  # the search's predicted accuracy, not a measurement


def accuracy_rows(r: Mapping) -> list[AccuracyRow]:
    """The summary's accuracy rows: every measured path, then the search's prediction."""
    acc = r.get("accuracy") or {}
    ref = acc.get(REFERENCE_PATH, {}).get("top1")
    rows = [AccuracyRow(k, path_label(k, rec), rec["top1"], None if ref is None or k == REFERENCE_PATH
                        else rec["top1"] - ref, rec.get("n")) for k, rec in acc.items()]
    search = r.get("search") or {}
    if search.get("predicted_accuracy") is not None:
        p = search["predicted_accuracy"] / 100.0
        rows.append(AccuracyRow("search", "search prediction (accuracy predictor)", p,
                                None if ref is None else p - ref, None, predicted=True))
    return rows


def class_names(r: Mapping) -> list[str] | None:
    """Class names from the dataset, else ``class_0..`` from the first per-class list."""
    names = (r.get("dataset") or {}).get("class_names")
    if names:
        return list(names)
    for rec in (r.get("accuracy") or {}).values():
        if rec.get("per_class") is not None:
            return [f"class_{i}" for i in range(len(rec["per_class"]))]
    return None


def class_counts(r: Mapping) -> list[int] | None:
    """Images per true class (row sums of the first confusion matrix given)."""
    for rec in (r.get("accuracy") or {}).values():
        if rec.get("confusion") is not None:
            return [sum(row) for row in rec["confusion"]]
    return None


@dataclass(frozen=True)
class MemoryRow:
    """One memory figure against the board's model budget."""

    memory: str  # "SRAM" or "flash"
    source: str  # "predicted", "measured", "native"
    label: str
    used: int
    budget: int | None
    runtime: int | None
    total: int | None

    @property
    def fits(self) -> bool | None:
        """``used <= budget`` (None without a board)."""
        return None if self.budget is None else self.used <= self.budget


def memory_rows(r: Mapping) -> list[MemoryRow]:
    """SRAM and flash, predicted / measured / native, each against its budget."""
    mem = r.get("memory") or {}
    board = mem.get("board") or {}
    pred, meas, nat = mem.get("predicted") or {}, mem.get("measured") or {}, mem.get("native") or {}
    rows: list[MemoryRow] = []

    def add(memory: str, source: str, label: str, used, prefix: str = "") -> None:
        if used is None:
            return
        kind = "sram" if memory == "SRAM" else "flash"
        rows.append(MemoryRow(memory, source, label, used, board.get(f"{prefix}model_{kind}_budget"),
                              board.get(f"{prefix}runtime_{kind}_bytes"), board.get(f"{kind}_bytes")))

    res = mem.get("reserved") or {}
    target = mem.get("target") or {}
    if res.get("arena_bytes") is not None:  # the 32-bit target figure + its margin
        add("SRAM", "predicted", "SRAM, 32-bit arena predicted (calibrated model)", pred.get("sram_bytes"))
        how = {"measured-qemu": "measured in QEMU"}.get(target.get("source"), target.get("source") or "")
        add("SRAM", "measured" if target.get("source") == "measured-qemu" else "predicted",
            f"SRAM, arena reserved (32-bit target{', ' + how if how else ''} + margin)", res["arena_bytes"])
    elif meas.get("arena_bytes") is not None:  # results written before the 32-bit target was measured
        add("SRAM", "predicted", "SRAM, arena reserved (predicted host arena + margin)", pred.get("sram_bytes"))
        add("SRAM", "measured", "SRAM, arena reserved (measured host arena + margin)", meas["arena_bytes"])
    else:
        add("SRAM", "predicted", "SRAM, predicted", pred.get("sram_bytes"))
        add("SRAM", "measured", "SRAM, measured TFLM arena", meas.get("tflm_arena_bytes"))
    add("SRAM", "native", "SRAM, native C peak", nat.get("peak_bytes"), "native_")
    add("flash", "predicted", "flash, predicted", pred.get("flash_bytes"))
    if meas.get("flash_bytes") is not None:
        add("flash", "measured", "flash, model data (.tflite + tables)", meas["flash_bytes"])
    else:
        add("flash", "measured", "flash, measured .tflite", meas.get("tflite_bytes"))
    if nat.get("flash_bytes") is not None:
        # the firmware image holds the runtime too, so it is held against the whole flash
        rows.append(MemoryRow("flash", "native", "flash, native firmware image (code + weights)",
                              nat["flash_bytes"], board.get("flash_bytes"), None, board.get("flash_bytes")))
    return rows


@dataclass(frozen=True)
class SramLine:
    """One SRAM figure with one meaning, and how it relates to the others."""

    key: str  # predicted, predicted_target, host, target, reserved_arena, stack, heap, budget, native
    label: str
    used: int
    relation: str | None = None


TARGET_SOURCES = {"measured-qemu": "measured in QEMU", "calibrated": "predicted by the calibrated memory model",
                  "derived": "bounded from the host arena and the kernels' scratch"}


def _vs(a: int, b: int | None, what: str) -> str | None:
    if not b:
        return None
    return f"{a - b:+,} B ({100.0 * (a - b) / b:+.2f} %) vs {what}"


def sram_lines(r: Mapping) -> list[SramLine]:
    """Every SRAM figure of the results, one line per meaning: the predicted arena, the arena
    measured by the 64-bit host interpreter, the arena on the 32-bit target (measured in QEMU
    or derived), what the firmware reserves (arena, stack, heap), the board's budget and the
    native buffer; a line is there only when its figure is."""
    mem = r.get("memory") or {}
    pred, meas, nat = (mem.get(k) or {} for k in ("predicted", "measured", "native"))
    target, reserved, board = (mem.get(k) or {} for k in ("target", "reserved", "board"))
    host = meas.get("tflm_arena_bytes")
    tgt = target.get("arena_bytes")
    lines: list[SramLine] = []
    if pred.get("tflm_arena_bytes_host") is not None:
        ph = pred["tflm_arena_bytes_host"]
        lines.append(SramLine("predicted", "arena predicted for the 64-bit host (calibrated TFLM memory model)", ph,
                              _vs(ph, host, "the measured host arena")))
        if pred.get("tflm_arena_bytes_target") is not None and tgt is None:
            pt = pred["tflm_arena_bytes_target"]
            lines.append(SramLine("predicted_target", "arena predicted for the 32-bit target", pt,
                                  _vs(pt, ph, "the predicted host arena (pointers take 4 bytes, not 8)")))
    elif pred.get("sram_bytes") is not None:
        lines.append(SramLine("predicted", "arena reservation predicted (predicted host arena + margin)",
                              pred["sram_bytes"], _vs(pred["sram_bytes"], meas.get("arena_bytes"),
                                                      "the measured reservation")))
    if host is not None:
        parts = None
        if meas.get("head") is not None and meas.get("tail") is not None:
            parts = f"= {meas['head']:,} B activations (head) + {meas['tail']:,} B persistent (tail)"
        lines.append(SramLine("host", "arena measured by the 64-bit host TFLM interpreter", host, parts))
    if tgt is not None:
        how = TARGET_SOURCES.get(target.get("source"), target.get("source") or "")
        lines.append(SramLine("target", f"arena on the 32-bit target{f' ({how})' if how else ''}", tgt,
                              _vs(tgt, host, "the 64-bit host (pointers take 4 bytes, not 8)")))
    arena = reserved.get("arena_bytes", meas.get("arena_bytes"))
    if arena is not None:
        rel = []
        if tgt is not None:
            rel.append(f"= the 32-bit target figure + {arena - tgt:,} B" + (f" ({reserved['rule']})" if reserved.get("rule")
                                                                          else ""))
        elif host is not None:
            rel.append(f"= the measured host arena + {arena - host:,} B margin")
        lines.append(SramLine("reserved_arena", "arena buffer reserved in the firmware", arena, "; ".join(rel) or None))
    for key in ("stack", "heap"):
        if reserved.get(f"{key}_bytes") is not None:
            used = reserved.get(f"{key}_used_bytes")
            lines.append(SramLine(key, f"{key} reserved in the firmware", reserved[f"{key}_bytes"],
                                  None if used is None else f"{used:,} B used in the QEMU run"))
    if board.get("model_sram_budget") is not None and arena is not None:
        lines.append(SramLine("budget", "the board's SRAM budget for the model (TFLM)", board["model_sram_budget"],
                              f"the reserved arena uses {100.0 * arena / board['model_sram_budget']:.1f} % of it"))
    if nat.get("peak_bytes") is not None:
        lines.append(SramLine("native", "native C static buffer (the memory plan's peak)", nat["peak_bytes"],
                              _vs(nat["peak_bytes"], host, "the host TFLM arena")))
    return lines


@dataclass(frozen=True)
class Block:
    """One block of the network, aggregated from its per-layer rows."""

    label: str
    kind: str  # "stem", "1x1 conv", "MBConv", "DWConv", "head"
    kernel: int
    in_ch: int
    mid: int  # expanded channels (0 without an expansion conv)
    out_ch: int
    stride: int
    in_hw: int
    out_hw: int
    se: bool
    residual: bool
    macs: int
    params: int

    @property
    def expand(self) -> float | None:
        """Expansion ratio ``mid / in_ch`` (None without an expansion conv)."""
        return self.mid / self.in_ch if self.mid else None


def _group(layers: list[Mapping]) -> list[tuple[str, list[Mapping]]]:
    """Consecutive rows by block id; block -1 before the first block is the stem, after it the head."""
    groups: list[tuple[str, list[Mapping]]] = []
    seen_block = False
    for row in layers:
        b = row["block"]
        if b < 0:
            key = "head" if seen_block else "stem"
        else:
            seen_block = True
            key = f"B{b}"
        if groups and groups[-1][0] == key:
            groups[-1][1].append(row)
        else:
            groups.append((key, [row]))
    return groups


def blocks(layers: list[Mapping] | None) -> list[Block]:
    """Block-by-block view of ``model.layers`` (stem, blocks, head) in forward order."""
    out = []
    for label, rows in _group(layers or []):
        roles = {row["role"]: row for row in rows}
        dw = roles.get("depthwise")
        expand = roles.get("expand")
        if label in ("stem", "head"):
            kind = label
        elif dw is not None:
            kind = "MBConv" if expand is not None else "DWConv"
        else:
            kind = "1x1 conv" if all(row["kernel"] == 1 for row in rows) else "conv"
        spatial = [row for row in rows if row["role"] not in ("se_reduce", "se_expand") and row["kind"] != "linear"]
        spatial = spatial or rows
        in_ch, out_ch = rows[0]["in_ch"], rows[-1]["out_ch"]
        stride = max(row["stride"] for row in rows)
        flags = [row["residual"] for row in rows if row.get("residual") is not None]
        # The space's rule (ofa_mcu.space.table): an MBConv adds its input when shapes match.
        residual = any(flags) if flags else (dw is not None and stride == 1 and in_ch == out_ch)
        out.append(Block(
            label=label, kind=kind,
            kernel=dw["kernel"] if dw is not None else max(row["kernel"] for row in rows),
            in_ch=in_ch, mid=expand["out_ch"] if expand is not None else 0, out_ch=out_ch, stride=stride,
            in_hw=spatial[0]["in_hw"], out_hw=spatial[-1]["out_hw"],
            se="se_reduce" in roles, residual=residual,
            macs=sum(row["macs"] for row in rows), params=sum(row["params"] for row in rows),
        ))
    return out


@dataclass(frozen=True)
class LatencyRow:
    """One layer's MACs, instructions and estimated time."""

    name: str
    macs: int | None
    instructions: int
    cycles: float | None
    ms: float | None
    share: float | None  # fraction of all instructions

    @property
    def per_mac(self) -> float | None:
        """Instructions per MAC."""
        return self.instructions / self.macs if self.macs else None


def latency_rows(r: Mapping) -> list[LatencyRow]:
    """Per-layer latency rows; cycles and ms from the board's CPI and clock when not given."""
    lat = r.get("latency") or {}
    cpi, clock, total = lat.get("cycles_per_instruction"), lat.get("clock_hz"), lat.get("total_instructions")
    rows = []
    for row in lat.get("per_layer") or []:
        cycles = row.get("cycles", row["instructions"] * cpi if cpi is not None else None)
        ms = row.get("ms", cycles / clock * 1e3 if cycles is not None and clock else None)
        rows.append(LatencyRow(row["name"], row.get("macs"), row["instructions"], cycles, ms,
                               row["instructions"] / total if total else None))
    return rows


def fits_overall(rows: list[MemoryRow], backend: str | None = None) -> bool | None:
    """Whether the deployed build fits: the measured rows of its backend decide (``native``
    when ``backend == "native"``, else TFLM), then the other backend's, then the prediction."""
    order = ("native", "measured", "predicted") if backend == "native" else ("measured", "native", "predicted")
    for source in order:
        chosen = [row.fits for row in rows if row.source == source and row.fits is not None]
        if chosen:
            return all(chosen)
    return None
