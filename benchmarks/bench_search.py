"""Benchmark: efficiency arithmetic and evolutionary search speed.

Measures, in one run on the same archs:
- the lab's method (build the subnet as a torch module, count MACs and the peak with forward
  hooks) on --hook-archs archs;
- the vectorized arithmetic (ofa_mcu.efficiency.analytic) on the same archs and on a large
  population, and the calibrated TFLM memory model (peak-of-live-bytes plan on the large
  population, the exact greedy planner on --greedy-archs of it);
- evolution with the lab's defaults (population 100 x 500 generations) under the lab's budget
  (50 M MACs, 256 KB peak) with the shipped VWW accuracy predictor.

Goals: >= 100,000 archs/s, >= 10,000x the hook method, evolution < 5 s on 2 cores.
Run: .venv/bin/python benchmarks/bench_search.py
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does (see ofa_mcu/cli/__init__.py)

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hook-archs", type=int, default=50)
    ap.add_argument("--population", type=int, default=100_000)
    ap.add_argument("--greedy-archs", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the hook method (the arithmetic "
                                                           "uses one core)")
    args = ap.parse_args()

    import torch

    from ofa_mcu.config import VWW
    from ofa_mcu.efficiency import get_efficiency_model
    from ofa_mcu.nn import StaticSubnet
    from ofa_mcu.nn.counting import count_macs_hooks, count_peak_hooks
    from ofa_mcu.predictor import load_predictor
    from ofa_mcu.search import Constraints, EvolutionParams, evolution_search
    from ofa_mcu.space import build_table
    from ofa_mcu.space.batch import sample_batch

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    model = get_efficiency_model("analytic", VWW)
    same = sample_batch(rng, args.hook_archs)
    archs = same.to_dicts()

    t0 = time.perf_counter()
    hook = []
    for a in archs:
        net = StaticSubnet(build_table(a))
        shape = (VWW.in_channels, a["image_size"], a["image_size"])
        hook.append((count_macs_hooks(net, shape), count_peak_hooks(net, shape)))
    t_hook = time.perf_counter() - t0
    hook_rate = len(archs) / t_hook

    out = model.evaluate_batch(same)
    assert [h[0] for h in hook] == out["macs"].tolist(), "hook MACs differ from the arithmetic"
    assert [h[1] for h in hook] == out["peak_lab_bytes"].tolist(), "hook peak differs from the arithmetic"
    reps = max(1, 20_000 // len(archs))
    t0 = time.perf_counter()
    for _ in range(reps):
        model.evaluate_batch(same)
    same_rate = reps * len(archs) / (time.perf_counter() - t0)

    big = sample_batch(rng, args.population)
    model.evaluate_batch(big.take(slice(0, 1000)))  # warm the lookup tables
    t0 = time.perf_counter()
    model.evaluate_batch(big)
    big_rate = len(big) / (time.perf_counter() - t0)

    rates = {}
    for plan, n in (("peak", len(big)), ("greedy", min(args.greedy_archs, len(big)))):
        tflm = get_efficiency_model("tflm", VWW, plan=plan)
        part = big.take(slice(0, n))
        tflm.evaluate_batch(part.take(slice(0, 100)))  # build the per-configuration tables
        t0 = time.perf_counter()
        tflm.evaluate_batch(part)
        rates[plan] = n / (time.perf_counter() - t0)

    predictor = load_predictor("vww")
    constraints = Constraints({"macs": 50e6, "sram_bytes": 256 * 1024})
    t0 = time.perf_counter()
    res = evolution_search(predictor, model, constraints, params=EvolutionParams(), seed=args.seed)
    t_evo = time.perf_counter() - t0

    print(f"{'method':<44}{'archs/s':>14}{'x hooks':>12}")
    print(f"{'lab: torch subnet + forward hooks':<44}{hook_rate:>14,.1f}{1.0:>12.1f}")
    print(f"{'vectorized, same ' + str(len(archs)) + ' archs (repeated)':<44}{same_rate:>14,.0f}"
          f"{same_rate / hook_rate:>12,.0f}")
    print(f"{'vectorized, ' + format(len(big), ',') + ' archs':<44}{big_rate:>14,.0f}{big_rate / hook_rate:>12,.0f}")
    for plan, n in (("peak", len(big)), ("greedy", min(args.greedy_archs, len(big)))):
        label = f"tflm memory model, plan={plan}, {n:,} archs"
        print(f"{label:<44}{rates[plan]:>14,.0f}{rates[plan] / hook_rate:>12,.0f}")
    print(f"hook and vectorized figures equal on all {len(archs)} archs: yes")
    print(f"evolution 100 x 500 (lab budget 50 M MACs, 256 KB): {t_evo:.2f} s, {res.evaluated:,} candidates, "
          f"best predicted {res.best_accuracy:.2f} %, {res.best_metrics['macs'] / 1e6:.1f} M MACs, "
          f"{res.best_metrics['sram_bytes'] / 1024:.0f} KB")
    print(f"goals: >= 100,000 archs/s: {'met' if big_rate >= 1e5 else 'MISSED'}; >= 10,000x hooks: "
          f"{'met' if big_rate / hook_rate >= 1e4 else 'MISSED'}; evolution < 5 s: {'met' if t_evo < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
