"""The training log (JSON lines, appended) and its plot."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

from ..io import atomic_write_bytes


def append_log(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON record as a line (flushed, so a kill loses at most this line)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def read_log(path: str | os.PathLike) -> list[dict]:
    """All complete records of a log (a truncated last line is ignored)."""
    out = []
    p = Path(path)
    if not p.is_file():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def truncate_log(path: str | os.PathLike, global_step: int) -> None:
    """Drop records written after ``global_step`` (when resuming from an earlier checkpoint)."""
    records = [r for r in read_log(path) if r.get("global_step", 0) <= global_step]
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in records).encode())


def plot_history(records: list[dict], path: str | os.PathLike) -> None:
    """Loss per step (coloured by phase) and top-1 of the largest/smallest subnets per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r.get("kind") == "step"]
    evals = [r for r in records if r.get("kind") == "epoch"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    phases = list(dict.fromkeys(r["phase"] for r in steps))
    for i, ph in enumerate(phases):
        rs = [r for r in steps if r["phase"] == ph]
        a1.plot([r["global_step"] for r in rs], [r["loss"] for r in rs], lw=0.8, color=f"C{i}", label=ph)
    a1.set_xlabel("step")
    a1.set_ylabel("training loss")
    a1.set_yscale("log")
    a1.grid(alpha=0.3)
    if phases:
        a1.legend(fontsize=8)
    x = list(range(1, len(evals) + 1))
    for key, style in (("largest", "-o"), ("smallest", "-s")):
        ys = [r["eval"].get(key, {}).get("top1") for r in evals]
        if any(y is not None for y in ys):
            a2.plot(x, ys, style, ms=3, label=key)
    for i, r in enumerate(evals):
        if i == 0 or r["phase"] != evals[i - 1]["phase"]:
            a2.axvline(i + 0.5, color="grey", lw=0.6, ls=":")
            a2.text(i + 0.6, a2.get_ylim()[0], r["phase"], fontsize=7, rotation=90, va="bottom")
    a2.set_xlabel("epoch")
    a2.set_ylabel("holdout top-1 (%)")
    a2.grid(alpha=0.3)
    a2.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
