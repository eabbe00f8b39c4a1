"""The fit report: metrics as JSON and Markdown, and a predicted-vs-measured scatter plot (PNG)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes, atomic_write_text, write_json
from .pairs import SPLITS

SCATTER_PNG = "scatter.png"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"

_ROWS = (("MAE (points)", "mae", "{:.4f}"), ("RMSE (points)", "rmse", "{:.4f}"),
         ("bias (points)", "bias", "{:+.4f}"), ("Kendall tau, overall", "kendall_tau", "{:.4f}"),
         ("Kendall tau, mean within resolution", "mean_kendall_tau_within_resolution", "{:.4f}"),
         ("Spearman, overall", "spearman", "{:.4f}"),
         ("Spearman, mean within resolution", "mean_spearman_within_resolution", "{:.4f}"))


def _predicted_vs_measured(ax, pred: np.ndarray, true: np.ndarray, resolution: np.ndarray, xlabel: str,
                           title: str, size: float, alpha: float) -> None:
    """Predicted against measured on ``ax``, coloured by resolution, with the y = x line."""
    for r in np.unique(resolution):
        m = resolution == r
        ax.scatter(true[m], pred[m], s=size, alpha=alpha, label=f"{int(r)} px", rasterized=True)
    lo = float(min(true.min(), pred.min()))
    hi = float(max(true.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("predicted top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(markerscale=max(1.0, 12.0 / size), fontsize=8, loc="upper left")


def _png(fig) -> bytes:
    """The figure as PNG bytes (tight layout), then closed."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def scatter_png(pred: np.ndarray, true: np.ndarray, resolution: np.ndarray, title: str) -> bytes:
    """A predicted-vs-measured scatter, coloured by resolution, with the y = x line (PNG bytes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0), dpi=110)
    _predicted_vs_measured(ax, pred, true, resolution, "measured top-1 (%)", title, size=3, alpha=0.35)
    return _png(fig)


def reference_png(summary: dict, pred: np.ndarray, reference: np.ndarray, resolution: np.ndarray,
                  bar: float = 0.80) -> bytes:
    """Two panels from a reference-label summary (:func:`ofa_mcu.predictor.reference.reference_summary`):
    per kind of label and resolution, the predictor's Kendall tau beside the ceiling a perfect
    predictor would reach, with the ``bar`` line; and predicted against reference top-1 (PNG bytes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [(k, name) for k, name in (("shipped", "shipped labels"), ("reference", "reference labels"),
                                      ("test", "test images only")) if f"{k}_tau_ceiling" in summary]
    res = sorted(summary[f"{kinds[0][0]}_tau_ceiling"], key=lambda r: (r == "mean", r))
    fig, (ax, sc) = plt.subplots(1, 2, figsize=(11.0, 4.6), dpi=110, gridspec_kw={"width_ratios": [1.4, 1]})
    width = 0.8 / len(kinds)
    for i, (kind, name) in enumerate(kinds):
        metrics = summary[f"predictor_vs_{kind}_labels"]
        taus = [metrics["mean_kendall_tau_within_resolution"] if r == "mean" else metrics["kendall_tau_by_resolution"][r]
                for r in res]
        ceiling = [summary[f"{kind}_tau_ceiling"][r] for r in res]
        x = np.arange(len(res)) + (i - (len(kinds) - 1) / 2) * width
        bars = ax.bar(x, taus, width * 0.9, label=f"predictor vs {name}")
        ax.bar(x, ceiling, width * 0.9, fill=False, edgecolor=bars.patches[0].get_facecolor(), linestyle="--",
               label=f"ceiling of {name}")
    ax.axhline(bar, color="black", linewidth=0.8)
    ax.text(len(res) - 0.5, bar + 0.005, f"bar {bar:.2f}", ha="right", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(res)), [f"{r} px" if r != "mean" else "mean" for r in res])
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("Kendall tau within resolution")
    ax.set_title("ranking of the held-out subnets: measured (solid) and ceiling (dashed)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    _predicted_vs_measured(sc, pred, reference, resolution, "reference top-1 (%)", "predicted vs reference labels",
                           size=10, alpha=0.7)
    return _png(fig)


def _fmt(fmt: str, value) -> str:
    return "n/a" if value is None else fmt.format(value)


def _metrics_table(models: dict[str, dict]) -> list[str]:
    names = list(models)
    lines = ["| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, key, fmt in _ROWS:
        lines.append(f"| {label} | " + " | ".join(_fmt(fmt, models[n][key]) for n in names) + " |")
    res = list(models[names[0]]["kendall_tau_by_resolution"])
    for r in res:
        lines.append(f"| Kendall tau at {r} px | "
                     + " | ".join(_fmt("{:.4f}", models[n]["kendall_tau_by_resolution"].get(r)) for n in names)
                     + " |")
    extra = [n for n in names if "ms_per_10k" in models[n]]
    if extra:
        lines.append("| predict 10k archs, 1 thread (ms) | "
                     + " | ".join(_fmt("{:.1f}", models[n].get("ms_per_10k")) for n in names) + " |")
    return lines


def render_markdown(report: dict) -> str:
    """The report as Markdown: data, split, recipe and a metrics table per compared model."""
    d = report["data"]
    lines = [f"# Accuracy predictor: {report['recipe']['name']} recipe on space {report['space']}", "",
             f"- data: {d['n_pairs']} pairs from {', '.join(d['files'])} (digest {d['pairs_digest']})",
             f"- split: {d['n_train']} train / {d['n_val']} validation, {SPLITS[d.get('split', 'random')].words}, "
             f"val fraction "
             f"{d['val_fraction']}, seed {d['seed']} (validation digest {d['val_digest']})",
             f"- recipe: {report['recipe']['description']}",
             f"- training time: {report['train_seconds']:.0f} s", "",
             "## Validation metrics (accuracy in points)", ""]
    lines += _metrics_table(report["models"])
    lines += ["", "Prediction time: best of 7 calls on 10,000 random archs, encoding included, one BLAS "
              "thread, on the machine that fitted (shared machines make it noisy; "
              "`benchmarks/bench_predictor.py` measures it again).", "",
              f"![predicted vs measured]({SCATTER_PNG})", ""]
    return "\n".join(lines)


def write_report(directory: str | Path, report: dict, pred: np.ndarray, true: np.ndarray,
                 resolution: np.ndarray) -> None:
    """Write ``report.json``, ``report.md`` and ``scatter.png`` into ``directory``."""
    directory = Path(directory)
    m = report["models"][report["recipe"]["name"]]
    title = (f"{report['recipe']['name']} on {report['data']['n_val']} held-out pairs: MAE {m['mae']:.3f}, "
             f"within-res tau {_fmt('{:.3f}', m['mean_kendall_tau_within_resolution'])}")
    atomic_write_bytes(directory / SCATTER_PNG, scatter_png(pred, true, resolution, title))
    write_json(directory / REPORT_JSON, report)
    atomic_write_text(directory / REPORT_MD, render_markdown(report))
