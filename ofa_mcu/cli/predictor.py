"""``ofa-mcu predictor``: fit an accuracy predictor on (arch, accuracy) pairs, evaluate one."""
from __future__ import annotations

import argparse
import json
import sys

from ..predictor.recipes import DISTILL_ARCHS, MEMBERS, MIN_STEPS, MLP_EPOCHS
from ..validate import FRACTION, OPEN_FRACTION, THREADS, existing_file
from .common import add_seed_arg, add_space_arg


def _recipe_names() -> list[str]:
    from ..predictor.recipes import RECIPES

    return sorted(RECIPES)


def _recipe_from_args(args: argparse.Namespace):
    from ..predictor.recipes import get_recipe

    recipe = get_recipe(args.recipe)
    changes = {}
    if args.epochs is not None:
        changes["model_epochs"] = args.epochs
    if args.members is not None:
        changes["members"] = args.members
    if args.distill_archs is not None:
        changes["distill_n_random"] = args.distill_archs
    if args.distill_spread is not None:
        changes["distill_spread_fraction"] = args.distill_spread
    if args.min_steps is not None:
        changes["model_min_steps"] = args.min_steps
        if recipe.distill is not None:
            changes["student_min_steps"] = args.min_steps
    return recipe.with_(**changes) if changes else recipe


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_fit(args: argparse.Namespace) -> int:
    """Train a predictor on a held-out split and write DIR (model, report.json/md, scatter.png)."""
    from ..config import get_space
    from ..predictor.fit import fit
    from ..predictor.recipes import get_recipe

    cfg = get_space(args.space)
    recipe = _recipe_from_args(args)
    baselines = [get_recipe(n) for n in args.compare]
    _set_threads(args.threads)
    report = fit(args.pairs, args.out, recipe, cfg, val_fraction=args.val_fraction, seed=args.seed,
                 baselines=baselines, force=args.force, progress=not args.quiet)
    for name, m in report["models"].items():
        f = lambda key: "n/a" if m[key] is None else f"{m[key]:.4f}"  # noqa: E731
        print(f"{name}: MAE {f('mae')}  RMSE {f('rmse')}  tau {f('kendall_tau')}  "
              f"within-res tau {f('mean_kendall_tau_within_resolution')}  spearman {f('spearman')}  "
              f"({report['data']['n_val']} held-out pairs)", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Print one JSON object with the predictor's metrics on the given pairs."""
    from ..predictor.fit import evaluate, held_out, split_record
    from ..predictor.model import load_predictor
    from ..predictor.pairs import load_pairs

    pred = load_predictor(args.model)
    if args.held_out:
        split_record(pred)  # a missing or damaged record fails before the pairs load
    pairs = load_pairs(args.pairs, pred.space)
    if args.held_out:
        pairs = held_out(pred, pairs)
    out = evaluate(pred, pairs.batch, pairs.acc)
    print(json.dumps(out))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Print the predicted accuracy of each arch in a JSON list (one JSON list of floats)."""
    from ..errors import UserError
    from ..io import read_json
    from ..predictor.model import load_predictor
    from ..space.arch import validate_arch
    from ..space.batch import ArchBatch

    pred = load_predictor(args.model)
    data = read_json(args.archs, "arch file")
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise UserError(f"{args.archs}: expected a JSON list of arch dicts (or one arch dict)")
    archs = []
    for i, a in enumerate(data):
        try:
            archs.append(validate_arch(a, pred.space))
        except UserError as exc:
            raise UserError(f"{args.archs}: arch #{i}: {exc}") from None
    y = pred.predict_batch(ArchBatch.from_dicts(archs, pred.space, validate=False))
    print(json.dumps([round(float(v), 4) for v in y]))
    return 0


def register(sub) -> None:
    """Add ``predictor fit|eval|predict``."""
    p = sub.add_parser("predictor", help="accuracy predictor: fit on (arch, accuracy) pairs, evaluate, predict")
    s = p.add_subparsers(dest="predictor_command", metavar="SUBCOMMAND", required=True)

    f = s.add_parser("fit", help="train a predictor on pair files, holding out a validation split")
    pair_file = existing_file("pair file")
    f.add_argument("--pairs", nargs="+", required=True, metavar="FILE", type=pair_file,
                   help="pair files: JSON lists of [arch_dict, top1_percent] (.json or .json.gz)")
    f.add_argument("--out", required=True, metavar="DIR", help="output directory (model + report)")
    f.add_argument("--val-fraction", type=OPEN_FRACTION, default=0.2, help="held-out fraction, in (0, 1) (default 0.2)")
    add_seed_arg(f, "split and training seed (default 0)")
    f.add_argument("--recipe", default="default", choices=_recipe_names(), help="training recipe (default: default)")
    add_space_arg(f, "search space of the archs")
    f.add_argument("--epochs", type=MLP_EPOCHS, default=None,
                   help=f"override the recipe's epochs (of each member): {MLP_EPOCHS.describe()}")
    f.add_argument("--members", type=MEMBERS, default=None,
                   help=f"override the recipe's ensemble size: {MEMBERS.describe()}")
    f.add_argument("--min-steps", type=MIN_STEPS, default=None,
                   help="override the recipe's minimum optimiser steps per MLP (epochs rise to reach it): "
                        f"{MIN_STEPS.describe()}")
    f.add_argument("--distill-archs", type=DISTILL_ARCHS, default=None,
                   help="override how many random archs the teachers label for distillation: "
                        f"{DISTILL_ARCHS.describe()} (all are held in memory, about 3 KB each)")
    f.add_argument("--distill-spread", type=FRACTION, default=None, metavar="FRACTION",
                   help="override the fraction of those archs drawn spread over the space's sizes "
                        f"(collect --sampler spread), the rest uniform: {FRACTION.describe()}")
    f.add_argument("--compare", nargs="*", default=[], metavar="RECIPE", choices=_recipe_names(),
                   help="also train these recipes on the same split and report them (e.g. --compare lab)")
    f.add_argument("--threads", type=THREADS, default=1,
                   help="torch threads for training (default 1: these small MLPs gain little from more "
                        "threads and slow down badly on a busy machine)")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.add_argument("--force", action="store_true", help="replace what an earlier fit wrote in --out")
    f.set_defaults(func=cmd_fit)

    e = s.add_parser("eval", help="metrics of a predictor on pair files (one JSON object)")
    e.add_argument("model", metavar="DIR", help="predictor directory, or a shipped predictor's space name (vww)")
    e.add_argument("--pairs", nargs="+", required=True, metavar="FILE", type=pair_file)
    e.add_argument("--held-out", action="store_true",
                   help="evaluate only on the validation split recorded at fit time (same pair files, same order)")
    e.set_defaults(func=cmd_eval)

    pr = s.add_parser("predict", help="predicted accuracy of each arch in a JSON list")
    pr.add_argument("model", metavar="DIR", help="predictor directory, or a shipped predictor's space name")
    pr.add_argument("archs", type=existing_file("arch file"), help="JSON file: a list of arch dicts (or one arch dict)")
    pr.set_defaults(func=cmd_predict)
