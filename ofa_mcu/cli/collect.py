"""``ofa-mcu collect``: measure random subnets of a trained supernet -> (arch, accuracy) pairs."""
from __future__ import annotations

import argparse


def cmd_collect(args: argparse.Namespace) -> int:
    """Measure and append pairs; print how many the file holds."""
    import torch

    from ..config import get_space
    from ..data import get_dataset
    from ..errors import UserError
    from ..pipeline.build import load_default_supernet
    from ..train.collect import collect_pairs

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = get_space(args.space)
    data = get_dataset(args.dataset, root=args.data)
    if data.num_classes != cfg.n_classes or data.channels != cfg.in_channels:
        raise UserError(f"dataset {args.dataset!r} does not match space {cfg.name!r}; choose a matching --space")
    shard = tuple(int(v) for v in args.shard.split("/")) if args.shard else (0, 1)
    net = load_default_supernet(cfg, args.supernet)
    pairs = collect_pairs(net, cfg, data, args.out, args.n, seed=args.seed, calib_images=args.calib_images,
                          eval_images=args.eval_images, shard=shard, progress=not args.quiet)
    print(f"{args.out}: {len(pairs)} pairs")
    return 0


def register(sub) -> None:
    """Add ``collect``."""
    p = sub.add_parser("collect", help="measure random subnets (BN re-calibrated) -> (arch, accuracy) pairs")
    p.add_argument("--out", required=True, help="pair file (.json or .json.gz); existing pairs are kept and skipped")
    p.add_argument("-n", type=int, default=500, help="subnets in the plan (the file's seed decides which)")
    p.add_argument("--supernet", help="trained supernet weights (default: the shipped ones)")
    p.add_argument("--space", default="fashion_mnist")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--data")
    p.add_argument("--calib-images", type=int, default=500, help="BN re-calibration images per subnet")
    p.add_argument("--eval-images", type=int, default=5000, help="holdout images per subnet (evenly spaced)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", help="I/K: measure every K-th planned subnet starting at I (parallel processes)")
    p.add_argument("--threads", type=int)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_collect)
