"""``ofa-mcu collect``: measure random subnets of a trained supernet -> (arch, accuracy) pairs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..space.arch import SAMPLERS
from ..train.collect import ENGINES
from ..validate import BN_IMAGES, IMAGES, THREADS, Number, shard
from .common import add_dataset_args, add_seed_arg, add_space_arg, checkpoint_arg, dataset_name


def cmd_collect(args: argparse.Namespace) -> int:
    """Measure and append pairs; print how many the file holds."""
    from ..errors import UserError
    from ..io import check_not_an_input, check_writable

    if Path(args.out).is_dir() or args.out.endswith("/"):
        raise UserError(f"--out {args.out!r} is a folder; give the path of a pair file (.json or .json.gz)")
    check_not_an_input(args.out, [args.supernet, args.data], "pair file")
    check_writable(args.out, "pair file")

    import torch

    from ..config import get_space
    from ..data import get_dataset
    from ..pipeline.build import load_default_supernet
    from ..train.collect import collect_pairs

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = get_space(args.space)
    data = get_dataset(dataset_name(args), root=args.data)
    if data.num_classes != cfg.n_classes or data.channels != cfg.in_channels:
        raise UserError(f"dataset {dataset_name(args)!r} does not match space {cfg.name!r}; choose a matching --space")
    net = load_default_supernet(cfg, args.supernet)
    pairs = collect_pairs(net, cfg, data, args.out, args.n, seed=args.seed, calib_images=args.calib_images,
                          eval_images=args.eval_images, shard=args.shard, progress=not args.quiet,
                          engine=args.engine, sampler=args.sampler)
    print(f"{args.out}: {len(pairs)} pairs")
    return 0


def register(sub) -> None:
    """Add ``collect``."""
    p = sub.add_parser("collect", help="measure random subnets (BN re-calibrated) -> (arch, accuracy) pairs")
    p.add_argument("--out", required=True, help="pair file (.json or .json.gz); existing pairs are kept and skipped")
    p.add_argument("-n", type=Number(1, 1_000_000, integer=True), default=500,
                   help="subnets in the plan (the file's seed decides which)")
    p.add_argument("--supernet", type=checkpoint_arg(), metavar="CKPT",
                   help="trained supernet weights (default: the shipped ones of the space)")
    add_space_arg(p)
    add_dataset_args(p)
    p.add_argument("--calib-images", type=BN_IMAGES, default=500, help="BN re-calibration images per subnet")
    p.add_argument("--eval-images", type=IMAGES, default=5000, help="holdout images per subnet (evenly spaced)")
    add_seed_arg(p)
    p.add_argument("--sampler", choices=list(SAMPLERS), default="uniform",
                   help="how the plan draws subnets: uniform (every choice uniform; sizes bunch near the middle) "
                        "or spread (one random size per subnet, choices drawn around it; covers the small and "
                        "large subnets too)")
    p.add_argument("--shard", type=shard, default=(0, 1),
                   help="I/K: measure every K-th planned subnet starting at I (parallel processes)")
    p.add_argument("--engine", choices=ENGINES, default="onnx",
                   help="what scores each calibrated subnet: onnx (ONNX Runtime, about 3x faster) or torch; same top-1")
    p.add_argument("--threads", type=THREADS)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_collect)
