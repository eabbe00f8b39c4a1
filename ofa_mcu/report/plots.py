"""The report's PNG plots, each a pure function of the normalised results -> PNG bytes.

``PLOTS`` is the registry (file name -> (caption, function)); a function returns ``None``
when the results hold nothing to draw. PNGs are byte-identical for the same input: the
default style, a fixed dpi and no ``Software`` metadata.
"""
from __future__ import annotations

import functools
import io
import math
from typing import Callable, Mapping

from . import derive, fmt
from .schema import path_label

DPI = 100
KERNEL_COLOURS = {1: "#b8b8b8", 3: "#4c8fd6", 5: "#f0a030", 7: "#d64545"}
SOURCE_COLOURS = {"predicted": "#9cc3ea", "measured": "#2f6db5", "native": "#7d4fb0"}
RUNTIME_COLOUR, FREE_COLOUR, OVER_COLOUR = "#9a9a9a", "#d9eed9", "#e03030"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _short(name: str, n: int = 14) -> str:
    return name if len(name) <= n else name[: n - 1] + "~"


def _figure(*args, **kwargs):
    return _pyplot().subplots(*args, **kwargs)


def _styled(func: Callable[[Mapping], bytes | None]) -> Callable[[Mapping], bytes | None]:
    """Draw with matplotlib's built-in style, whatever the user's matplotlibrc says."""

    @functools.wraps(func)
    def wrapper(r: Mapping) -> bytes | None:
        with _pyplot().style.context("default"):
            return func(r)

    return wrapper


@_styled
def plot_confusion(r: Mapping) -> bytes | None:
    """One panel per accuracy path with a confusion matrix: row-normalised colour, counts."""
    acc = {k: v for k, v in (r.get("accuracy") or {}).items() if v.get("confusion") is not None}
    if not acc:
        return None
    names = derive.class_names(r) or []
    k = len(acc)
    cols = min(k, 3)
    rows = math.ceil(k / cols)
    c = len(next(iter(acc.values()))["confusion"])
    size = min(9.0, max(3.4, 0.42 * c + 1.6))
    fig, axes = _figure(rows, cols, figsize=(size * cols, (size + 0.5) * rows), squeeze=False)
    for ax in axes.flat[k:]:
        ax.axis("off")
    for ax, (key, rec) in zip(axes.flat, acc.items()):
        conf = rec["confusion"]
        norm = [[v / sum(row) if sum(row) else 0.0 for v in row] for row in conf]
        ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
        if c <= 16:
            for i, row in enumerate(conf):
                for j, v in enumerate(row):
                    ax.text(j, i, f"{v:,}", ha="center", va="center", fontsize=8 if c <= 10 else 6,
                            color="white" if norm[i][j] > 0.6 else "black")
        if c <= 30:
            labels = [_short(n) for n in names[:c]]
            ax.set_xticks(range(c), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(c), labels, fontsize=7)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{path_label(key, rec)}\ntop-1 {fmt.pct(rec['top1'])} of {rec['n']:,}", fontsize=9)
    fig.tight_layout()
    return _png(fig)


@_styled
def plot_per_class(r: Mapping) -> bytes | None:
    """Grouped bars: per-class top-1 of every accuracy path."""
    acc = {k: v for k, v in (r.get("accuracy") or {}).items() if v.get("per_class") is not None}
    if not acc:
        return None
    names = derive.class_names(r) or []
    c = len(next(iter(acc.values()))["per_class"])
    k = len(acc)
    fig, ax = _figure(figsize=(min(28.0, max(6.0, 0.22 * c * (k + 1) + 2)), 3.8))
    width = 0.8 / k
    for i, (key, rec) in enumerate(acc.items()):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(c)]
        ys = [100.0 * v if v is not None else 0.0 for v in rec["per_class"]]
        ax.bar(xs, ys, width=width, label=path_label(key, rec))
    ax.set_xticks(range(c), [_short(n) for n in names[:c]], rotation=90 if c > 6 else 0, fontsize=7)
    ax.set_ylim(0, 120)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("top-1 of the class (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", ncol=min(k, 4), frameon=False)
    ax.set_title("per-class accuracy", fontsize=10)
    fig.tight_layout()
    return _png(fig)


@_styled
def plot_agreement(r: Mapping) -> bytes | None:
    """Heatmap of the agreement matrix (same top-1 class), annotated in percent."""
    ag = r.get("agreement")
    if not ag or not ag["paths"]:
        return None
    paths, m = ag["paths"], ag["matrix"]
    acc = r.get("accuracy") or {}
    labels = [path_label(p, acc.get(p)) for p in paths]
    k = len(paths)
    lo = min(min(row) for row in m)
    fig, ax = _figure(figsize=(1.3 * k + 2.6, 1.0 * k + 1.8))
    ax.imshow(m, cmap="Greens", vmin=min(lo, 0.999) - 0.001, vmax=1.0)
    vmin = min(lo, 0.999) - 0.001
    for i in range(k):
        for j in range(k):
            dark = (m[i][j] - vmin) / (1.0 - vmin) > 0.6
            ax.text(j, i, f"{100 * m[i][j]:.2f} %", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(k), labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_title("agreement: images with the same top-1 class", fontsize=10)
    fig.tight_layout()
    return _png(fig)


@_styled
def plot_memory(r: Mapping) -> bytes | None:
    """SRAM and flash bars: runtime + model (+ free or overflow), against the board's total."""
    rows = derive.memory_rows(r)
    if not rows:
        return None
    board = (r.get("memory") or {}).get("board") or {}
    panels = [m for m in ("SRAM", "flash") if any(row.memory == m for row in rows)]
    fig, axes = _figure(1, len(panels), figsize=(5.0 * len(panels), 4.4), squeeze=False)
    for ax, memory in zip(axes[0], panels):
        chosen = [row for row in rows if row.memory == memory]
        for x, row in enumerate(chosen):
            runtime = row.runtime or 0
            used_top = runtime + row.used
            if row.runtime is not None:
                ax.bar(x, runtime / fmt.KB, color=RUNTIME_COLOUR, width=0.6, label="runtime" if x == 0 else None)
            ax.bar(x, row.used / fmt.KB, bottom=runtime / fmt.KB, color=SOURCE_COLOURS[row.source], width=0.6,
                   label="model" if x == 0 else None)
            if row.total is not None:
                if used_top <= row.total:
                    ax.bar(x, (row.total - used_top) / fmt.KB, bottom=used_top / fmt.KB, color=FREE_COLOUR,
                           width=0.6, edgecolor="#8fbf8f", label="free" if x == 0 else None)
                else:
                    ax.bar(x, (used_top - row.total) / fmt.KB, bottom=row.total / fmt.KB, color="none",
                           edgecolor=OVER_COLOUR, hatch="///", width=0.6, label="over budget")
            note = fmt.kb(row.used)
            if row.budget:
                note += f"\n{fmt.share(row.used, row.budget)} of budget"
            ax.text(x, (runtime + row.used / 2) / fmt.KB, note, ha="center", va="center", fontsize=7,
                    color="white" if row.source != "predicted" else "black")
        total = chosen[0].total
        top = max([total or 0] + [(row.runtime or 0) + row.used for row in chosen])
        ax.set_ylim(0, 1.16 * top / fmt.KB)
        if total is not None:
            ax.axhline(total / fmt.KB, color="black", ls="--", lw=1)
            ax.text(len(chosen) - 0.5, total / fmt.KB, f" {board.get('name', 'board')} {fmt.kb(total)}",
                    va="bottom", ha="right", fontsize=7,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
        ax.set_xticks(range(len(chosen)), [row.source for row in chosen])
        ax.set_xlim(-0.6, len(chosen) - 0.4)
        ax.set_ylabel(f"{memory} (KB)")
        ax.set_title(f"{memory}: model vs runtime vs free", fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=7, loc="upper left", ncol=len(handles), frameon=False)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


@_styled
def plot_architecture(r: Mapping) -> bytes | None:
    """The network block by block: a strip of blocks (height ~ output channels, colour =
    kernel size, SE and residual marked, stride and resolution below) over MACs per block."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

    bl = derive.blocks((r.get("model") or {}).get("layers"))
    if not bl:
        return None
    n = len(bl)
    fig, (top, bottom) = _figure(2, 1, figsize=(max(8.0, 0.62 * n + 1.6), 5.6), sharex=True,
                                 gridspec_kw={"height_ratios": [3, 2]})
    cmax = max(math.sqrt(b.out_ch) for b in bl)
    for i, b in enumerate(bl):
        h = 0.25 + 0.75 * math.sqrt(b.out_ch) / cmax
        colour = KERNEL_COLOURS.get(b.kernel, "#60b060")
        top.add_patch(Rectangle((i - 0.38, -h / 2), 0.76, h, facecolor=colour, edgecolor="black", lw=0.6,
                                hatch="//" if b.kind in ("stem", "head") else None))
        top.text(i, h / 2 + 0.04, f"{b.out_ch}", ha="center", va="bottom", fontsize=7)
        if b.se:
            top.plot([i], [-h / 2 + 0.09], marker="o", ms=7, color="#ffd400", mec="black", mew=0.6)
        if b.residual:
            top.add_patch(FancyArrowPatch((i - 0.36, h / 2 + 0.2), (i + 0.36, h / 2 + 0.2),
                                          connectionstyle="arc3,rad=-0.6", arrowstyle="->", mutation_scale=7,
                                          lw=0.9, color="#207020"))
        detail = [f"k{b.kernel}"]
        if b.expand is not None:
            detail.append(f"e{b.expand:.3g}")
        if b.stride > 1:
            detail.append(f"s{b.stride}")
        top.text(i, -0.62, "\n".join(detail), ha="center", va="top", fontsize=6.5)
        if i == 0 or b.in_hw != bl[i - 1].in_hw:
            top.text(i, 0.95, f"{b.in_hw}px", ha="center", va="bottom", fontsize=6.5, color="#555555")
    top.set_ylim(-1.0, 1.15)
    top.set_yticks([])
    for side in ("left", "right", "top"):
        top.spines[side].set_visible(False)
    legend = [Patch(facecolor=c, edgecolor="black", label=f"kernel {k}x{k}") for k, c in KERNEL_COLOURS.items()
              if any(b.kernel == k for b in bl)]
    legend += [Line2D([], [], marker="o", ls="", color="#ffd400", mec="black", label="squeeze-excite"),
               Line2D([], [], color="#207020", label="residual add")]
    top.legend(handles=legend, fontsize=6.5, loc="upper right", ncol=len(legend), frameon=False,
               bbox_to_anchor=(1.0, 1.18))
    name = (r.get("model") or {}).get("name", "")
    top.set_title(f"{name}: {n} blocks, height ~ output channels (number above), resolution at each change",
                  fontsize=9, loc="left")
    bottom.bar(range(n), [b.macs / 1e6 for b in bl], color=[KERNEL_COLOURS.get(b.kernel, "#60b060") for b in bl],
               edgecolor="black", lw=0.5)
    bottom.set_ylabel("MACs (M)")
    bottom.grid(axis="y", alpha=0.3)
    bottom.set_xticks(range(n), [b.label for b in bl], fontsize=7, rotation=90 if n > 30 else 0)
    bottom.set_xlim(-0.6, n - 0.4)
    fig.tight_layout()
    return _png(fig)


@_styled
def plot_latency(r: Mapping) -> bytes | None:
    """Per layer: MACs (top) and counted instructions (bottom) with instructions per MAC."""
    rows = derive.latency_rows(r)
    if not rows:
        return None
    n = len(rows)
    fig, (top, bottom) = _figure(2, 1, figsize=(min(30.0, max(8.0, 0.2 * n + 2)), 5.4), sharex=True)
    top.bar(range(n), [(row.macs or 0) / 1e6 for row in rows], color="#4c8fd6")
    top.set_ylabel("MACs (M)")
    top.grid(axis="y", alpha=0.3)
    bottom.bar(range(n), [row.instructions / 1e6 for row in rows], color="#f0a030")
    bottom.set_ylabel("instructions (M)")
    bottom.grid(axis="y", alpha=0.3)
    ratio = [row.per_mac for row in rows]
    if any(v is not None for v in ratio):
        twin = bottom.twinx()
        twin.plot([i for i, v in enumerate(ratio) if v is not None], [v for v in ratio if v is not None],
                  color="black", marker=".", lw=0.8, ms=3)
        twin.set_ylabel("instructions / MAC")
    step = max(1, math.ceil(n / 80))
    bottom.set_xticks(range(0, n, step), [_short(rows[i].name, 18) for i in range(0, n, step)], rotation=90,
                      fontsize=6)
    lat = r["latency"]
    title = f"{fmt.count(lat.get('total_instructions'))} instructions"
    if lat.get("estimated_ms") is not None:
        title += f", estimated {fmt.ms(lat['estimated_ms'])}"
    if lat.get("board"):
        title += f" on {lat['board']}"
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


# file name -> (caption, plot function); the order is the report's.
PLOTS: dict[str, tuple[str, Callable[[Mapping], bytes | None]]] = {
    "confusion.png": ("Confusion matrices (rows: true class, colour: share of the row)", plot_confusion),
    "per_class.png": ("Per-class top-1 of each path", plot_per_class),
    "agreement.png": ("Agreement matrix", plot_agreement),
    "memory.png": ("SRAM and flash against the board (runtime, model, free)", plot_memory),
    "architecture.png": ("Architecture, block by block", plot_architecture),
    "latency.png": ("Per-layer MACs and instruction counts", plot_latency),
}


def render_plots(r: Mapping) -> dict[str, bytes]:
    """Every plot the results allow, ``file name -> PNG bytes``."""
    out = {}
    for name, (_, func) in PLOTS.items():
        data = func(r)
        if data is not None:
            out[name] = data
    return out
