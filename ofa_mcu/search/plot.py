"""The search's picture: every candidate, the Pareto front, the budget lines, the winner."""
from __future__ import annotations

import io
from pathlib import Path


from ..io import atomic_write_bytes
from .constraints import Constraints
from .result import SearchResult, pareto_front

# Panels drawn when the metric exists: (metric, axis label, divisor).
PANELS = (("macs", "MACs (M)", 1e6), ("sram_bytes", "SRAM (KB)", 1024.0), ("flash_bytes", "flash (KB)", 1024.0))


def plot_search(result: SearchResult, constraints: Constraints, path: str | Path, title: str = "") -> Path:
    """Write a PNG with one panel per efficiency metric: predicted accuracy of every evaluated
    candidate, the Pareto front, the constraint line and the chosen arch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in PANELS if p[0] in result.candidate_metrics]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    acc = result.candidate_accuracy
    for ax, (metric, label, div) in zip(axes[0], panels):
        x = result.candidate_metrics[metric] / div
        ax.scatter(x, acc, s=4, alpha=0.25, color="tab:blue", label=f"candidates ({len(acc):,})", rasterized=True)
        front = pareto_front(acc, x)
        ax.step(x[front], acc[front], where="post", color="tab:orange", lw=1.6, label="Pareto front")
        if metric in constraints.limits:
            source = constraints.sources.get(metric)
            ax.axvline(constraints.limits[metric] / div, color="tab:red", ls="--", lw=1.2,
                       label=f"limit ({source})" if source else "limit")
        ax.scatter([result.best_metrics[metric] / div], [result.best_accuracy], marker="*", s=180,
                   color="tab:green", edgecolor="black", zorder=5, label="chosen")
        ax.set_xlabel(label)
        ax.set_ylabel("predicted top-1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or f"{result.strategy} search: {result.evaluated:,} candidates evaluated")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)

