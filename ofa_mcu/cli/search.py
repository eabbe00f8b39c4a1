"""``ofa-mcu search``: the most accurate subnet within a budget."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError
from ..validate import EVOLUTION_RANGES, NON_NEGATIVE, POSITIVE, SAMPLES
from .common import KERNELS_DEFAULT, add_reserve_args, add_seed_arg, add_space_arg


def add_budget_args(p: argparse.ArgumentParser) -> None:
    """The budget flags shared by ``search`` and ``build``."""
    g = p.add_argument_group("budget")
    g.add_argument("--board", help="target board from the catalog (ofa-mcu boards): its SRAM and flash become limits")
    g.add_argument("--max-macs", type=POSITIVE, help="multiply-accumulates per inference")
    g.add_argument("--max-params", type=POSITIVE, help="parameters")
    g.add_argument("--max-sram-kb", type=POSITIVE, help="SRAM for activations (KB = 1024 B)")
    g.add_argument("--max-flash-kb", type=POSITIVE, help="flash for the model (KB = 1024 B)")
    g.add_argument("--max-latency-ms", type=POSITIVE, help="estimated latency on the board (needs --board)")
    g.add_argument("--kernels", choices=["reference", "cmsis-nn"],
                   help="TFLM kernel set the firmware is built with; sizes the arena (CMSIS-NN's scratch buffers) and "
                        f"the runtime's flash (default: {KERNELS_DEFAULT})")
    add_reserve_args(g)
    g.add_argument("--tolerance", type=NON_NEGATIVE, metavar="POINTS",
                   help="ship the cheapest candidate (latency, then flash, then SRAM) predicted within this many "
                        "points of the most accurate (default: the accuracy predictor's mean absolute error; 0: the "
                        "most accurate)")


def add_strategy_args(g) -> None:
    """The strategy flags ``search`` and ``build`` share (defaults: the lab's)."""
    g.add_argument("--strategy", default="evolution", choices=["random", "evolution"])
    r = EVOLUTION_RANGES
    g.add_argument("--population", type=r["population"], default=100, help="evolution: archs per generation (default 100)")
    g.add_argument("--generations", type=r["generations"], default=500, help="evolution: generations (default 500)")
    g.add_argument("--samples", type=SAMPLES, default=1000, help="random search: candidates drawn (default 1000)")


def add_search_args(p: argparse.ArgumentParser) -> None:
    """Strategy flags of ``search`` (defaults: the lab's)."""
    g = p.add_argument_group("search")
    add_strategy_args(g)
    r = EVOLUTION_RANGES
    g.add_argument("--parent-ratio", type=r["parent_ratio"], default=0.25,
                   help="evolution: share of the population kept as parents, in (0, 1] (default 0.25)")
    g.add_argument("--mutation-ratio", type=r["mutation_ratio"], default=0.5,
                   help="evolution: share of the children made by mutation (the rest by crossover), in [0, 1]")
    g.add_argument("--mutation-prob", type=r["mutation_prob"], default=0.1,
                   help="evolution: per-gene mutation probability, in [0, 1] (default 0.1)")
    g.add_argument("--resolution-mutation-prob", type=r["resolution_mutation_prob"], default=0.5,
                   help="evolution: probability to mutate the input resolution, in [0, 1] (default 0.5)")
    add_seed_arg(g)
    g.add_argument("--efficiency", choices=["analytic", "tflm"],
                   help="efficiency model: analytic (the lab's arithmetic) or tflm (calibrated TFLite-Micro "
                        "arena/flatbuffer; the default with --board)")
    g.add_argument("--predictor", help="accuracy predictor: a directory from 'predictor fit' (default: the space's)")


def run_search(args: argparse.Namespace, cfg, progress: bool = True):
    """Search as the flags say; returns (result, constraints, efficiency model, board)."""
    from ..efficiency import get_efficiency_model
    from ..predictor import load_predictor
    from ..search import EvolutionParams, get_strategy
    from ..search.budget import budget_limits

    board = None
    if args.board is not None:
        from ..boards import load_board

        board = load_board(args.board)
    if args.max_latency_ms is not None and board is None:
        raise UserError("--max-latency-ms needs --board (latency is estimated for a board's core and clock)")
    model_name = args.efficiency or ("tflm" if board is not None else "analytic")
    budget, kernels = None, "reference"
    if board is not None:
        from ..boards.budget import default_kernels
        from ..efficiency.tflm_model import scratch_kernels

        kernels = args.kernels or default_kernels(board.core, board.default_build_system)
        budget = board.budget("tflm", kernels=kernels,
                              reserve_flash_bytes=None if args.reserve_flash_kb is None else int(args.reserve_flash_kb * 1024),
                              reserve_sram_bytes=None if args.reserve_sram_kb is None else int(args.reserve_sram_kb * 1024))
        kernels = scratch_kernels(kernels, board.core)
    exact = None
    if model_name == "tflm":  # search with TFLM's live-tensor peak, confirm with its exact planner
        model = get_efficiency_model("tflm", cfg, plan="peak", kernels=kernels)
        exact = get_efficiency_model("tflm", cfg, kernels=kernels)
    else:
        model = get_efficiency_model(model_name, cfg)
    if board is not None:
        from ..efficiency.latency import WithLatency

        model = WithLatency(model, board)
        exact = WithLatency(exact, board) if exact is not None else None
    predictor = load_predictor(args.predictor or cfg.name)
    if predictor.space != cfg:
        raise UserError(f"the predictor was trained for space {predictor.space.name!r}, not {cfg.name!r}; "
                        f"pass --space {predictor.space.name} or a predictor for {cfg.name}")
    constraints = budget_limits(max_macs=args.max_macs, max_params=args.max_params, max_sram_kb=args.max_sram_kb,
                                max_flash_kb=args.max_flash_kb, max_latency_ms=args.max_latency_ms, board=board,
                                cfg=cfg, budget=budget)
    strategy = get_strategy(args.strategy)
    if args.strategy == "random":
        result = strategy(predictor, model, constraints, samples=args.samples, seed=args.seed, progress=progress)
    else:
        params = EvolutionParams(args.population, args.generations, args.parent_ratio, args.mutation_ratio,
                                 args.mutation_prob, args.resolution_mutation_prob)
        result = strategy(predictor, model, constraints, params=params, seed=args.seed, progress=progress)
    from ..search.select import select_cheapest

    if exact is not None:
        from ..search.strategies import confirm_best

        result = confirm_best(result, exact, constraints)
        model = exact
    tolerance = args.tolerance if args.tolerance is not None else predictor.mae
    result = select_cheapest(result, model, constraints, tolerance)
    return result, constraints, model, board


def cmd_search(args: argparse.Namespace) -> int:
    """Run the search; print the result (JSON with --json) and optionally write files."""
    from ..config import get_space
    from ..io import check_output_folder, staged_output, write_json
    from ..search.constraints import format_metric
    from ..search.plot import plot_search

    cfg = get_space(args.space)
    what = "search output folder"
    inputs = [args.predictor] if args.predictor else []
    if args.out:
        check_output_folder(args.out, args.force, inputs=inputs, what=what)
    result, constraints, model, board = run_search(args, cfg, progress=not args.json)
    summary = result.summary()
    summary.update(space=cfg.name, efficiency_model=model.name, constraints=dict(constraints.limits),
                   metric_meaning=model.describe(), board=board.name if board else None)
    if args.out:
        out = Path(args.out)
        summary["files"] = {k: str(out / k) for k in ("best_arch.json", "search.json", "search.png")}
        with staged_output(out, args.force, inputs=inputs, what=what, kind="search") as tmp:
            write_json(tmp / "best_arch.json", result.best_arch)
            write_json(tmp / "search.json", {k: v for k, v in summary.items() if k != "files"})
            plot_search(result, constraints, tmp / "search.png")
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"best arch ({result.strategy}, {result.evaluated:,} candidates, {result.seconds:.2f} s): "
          f"predicted top-1 {result.best_accuracy:.2f} %")
    for k, v in result.best_metrics.items():
        limit = constraints.limits.get(k)
        shown = format_metric(k, v)
        print(f"  {k:>22}: {shown}" + (f"  (limit {format_metric(k, limit)})" if limit is not None else ""))
    print(json.dumps(result.best_arch))
    if args.out:
        print(f"wrote {args.out}/best_arch.json, search.json, search.png")
    return 0


def register(sub) -> None:
    """Add ``search``."""
    p = sub.add_parser("search", help="find the most accurate subnet within a budget")
    add_space_arg(p)
    add_budget_args(p)
    add_search_args(p)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--out", help="folder for best_arch.json, search.json and the plot search.png")
    p.add_argument("--force", action="store_true", help="replace what an earlier search wrote in --out")
    p.set_defaults(func=cmd_search)
