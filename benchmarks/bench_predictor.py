"""Accuracy predictor benchmark: the shipped VWW predictor vs the lab's MLP recipe.

Prints (1) the time to predict 10,000 random archs (encoding included) on ONE thread for both
models and their ratio, and (2) both models' metrics on the held-out part of the split the
shipped predictor recorded (the lab MLP is retrained on the same training part, seeded).

    /work/venv/bin/python benchmarks/bench_predictor.py            # speed + metrics (trains the lab MLP)
    /work/venv/bin/python benchmarks/bench_predictor.py --speed-only
"""
from __future__ import annotations

import os

# One BLAS thread for the inference timings: must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ofa_mcu.predictor import get_recipe, load_predictor  # noqa: E402
from ofa_mcu.predictor.fit import held_out, split_pairs, split_record, time_predict_ms  # noqa: E402
from ofa_mcu.predictor.metrics import regression_metrics  # noqa: E402
from ofa_mcu.predictor.model import AccuracyPredictor  # noqa: E402
from ofa_mcu.predictor.pairs import load_pairs  # noqa: E402
from ofa_mcu.space.encoding import onehot_dim  # noqa: E402


def lab_shaped_random(space) -> AccuracyPredictor:
    """A lab-architecture MLP (one-hot -> 400x3 -> 1) with random weights: same inference cost."""
    rng = np.random.default_rng(0)
    sizes = [onehot_dim(space), 400, 400, 400, 1]
    layers = [(rng.standard_normal((a, b)).astype(np.float32) * 0.05,
               None if b == 1 else np.zeros(b, np.float32)) for a, b in zip(sizes[:-1], sizes[1:])]
    return AccuracyPredictor(layers, "onehot", space, 100.0, 0.0)


def main() -> int:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vww", help="predictor directory or shipped name (default vww)")
    ap.add_argument("--pairs-dir", default=str(REPO.parent / "shared" / "reference" / "lab_vww_acc"))
    ap.add_argument("--speed-only", action="store_true", help="skip retraining the lab MLP (no metrics)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    shipped = load_predictor(args.model)
    rows: dict[str, dict] = {}
    lab = lab_shaped_random(shipped.space)
    if not args.speed_only:
        import torch

        torch.set_num_threads(1)  # as `predictor fit` does by default: the same lab MLP it recorded
        from ofa_mcu.predictor.train import fit_recipe

        data = split_record(shipped)
        pairs = load_pairs([Path(args.pairs_dir) / f for f in data["files"]], shipped.space)
        val = held_out(shipped, pairs)
        tr, _ = split_pairs(pairs, data["val_fraction"], data["seed"], data.get("split", "random"))
        train = pairs.take(tr)
        t0 = time.perf_counter()
        lab = fit_recipe(train.batch, train.acc, get_recipe("lab"), shipped.space, seed=data["seed"])
        print(f"trained the lab MLP in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for name, p in (("shipped", shipped), ("lab", lab)):
            rows[name] = regression_metrics(p.predict_batch(val.batch), val.acc, val.batch.image_size)
    speed = {name: time_predict_ms(p, repeats=args.repeats) for name, p in (("shipped", shipped), ("lab", lab))}

    print(f"predict 10,000 archs, encoding included, 1 thread (best of {args.repeats}):")
    for name, ms in speed.items():
        print(f"  {name:8s} {ms:8.1f} ms")
    print(f"  shipped / lab time ratio: {speed['shipped'] / speed['lab']:.2f}")
    if rows:
        keys = (("MAE", "mae"), ("RMSE", "rmse"), ("tau", "kendall_tau"),
                ("within-res tau", "mean_kendall_tau_within_resolution"), ("spearman", "spearman"))
        print(f"metrics on the {rows['shipped']['n']} held-out pairs of the recorded split:")
        print("  " + "model".ljust(10) + "".join(k.rjust(16) for k, _ in keys))
        for name, m in rows.items():
            print("  " + name.ljust(10) + "".join(f"{m[key]:16.4f}" for _, key in keys))
        print(json.dumps({"speed_ms_per_10k": speed, "metrics": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
