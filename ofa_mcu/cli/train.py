"""``ofa-mcu train``: progressive-shrinking training of the supernet."""
from __future__ import annotations

import argparse


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or resume) a run in --out."""
    if args.scratch:
        return _scratch(args)
    from ..train.phases import PHASE_ORDER
    from ..train.trainer import Trainer, TrainConfig

    phases = tuple(p.strip() for p in args.phases.split(",")) if args.phases else PHASE_ORDER
    default = TrainConfig()
    n = len(phases)

    def per_phase(values, fallback):
        if values is None:
            return tuple(fallback[:n]) if n <= len(fallback) else tuple(fallback) + (fallback[-1],) * (n - len(fallback))
        return tuple(values) if len(values) > 1 else tuple(values) * n

    cfg = TrainConfig(
        space=args.space, dataset=args.dataset, data_root=args.data, phases=phases,
        epochs=per_phase(None if args.epochs is None else [int(v) for v in _floats(args.epochs)], default.epochs),
        lrs=per_phase(None if args.lr is None else _floats(args.lr), default.lrs),
        optimizer=args.optimizer,
        weight_decay=args.weight_decay if args.weight_decay is not None else (
            default.weight_decay if args.optimizer == "sgd" else 0.05),
        batch_size=args.batch_size, subnets_per_step=args.subnets_per_step, kd_ratio=args.kd_ratio,
        child_label_weight=args.child_label_weight, label_smoothing=args.label_smoothing,
        steps_per_epoch=args.steps_per_epoch, eval_images=args.eval_images, calib_images=args.calib_images,
        phase_eval_subnets=args.phase_eval_subnets, seed=args.seed, threads=args.threads,
        channels_last=not args.no_channels_last, init=args.init,
    )
    trainer = Trainer(cfg, args.out, resume=args.resume, force=args.force, progress=not args.quiet,
                      budget_minutes=args.budget_minutes)
    path = trainer.run()
    if path is None:
        print(f"stopped at step {trainer.global_step} with a checkpoint in {args.out}; continue with the same "
              "command plus --resume")
        return 0
    print(f"supernet weights: {path}")
    return 0


def _scratch(args: argparse.Namespace) -> int:
    """Train the one subnet in --scratch ARCH.json from scratch."""
    import torch

    from ..config import get_space
    from ..data import get_dataset
    from ..io import read_json
    from ..space.arch import validate_arch
    from ..train.scratch import train_scratch

    if args.threads:
        torch.set_num_threads(args.threads)
    space = get_space(args.space)
    arch = validate_arch(read_json(args.scratch, "arch file"), space)
    epochs = int(_floats(args.epochs)[0]) if args.epochs else 13
    lr = _floats(args.lr)[0] if args.lr else 0.1
    res = train_scratch(arch, space, get_dataset(args.dataset, root=args.data), args.out, epochs=epochs, lr=lr,
                        batch_size=args.batch_size, eval_images=args.eval_images, seed=args.seed, resume=args.resume,
                        force=args.force, steps_per_epoch=args.steps_per_epoch, progress=not args.quiet)
    print(f"from scratch, {epochs} epochs: holdout top-1 {res['top1']:.2f} % ({res['n']} images)")
    return 0


def register(sub) -> None:
    """Add ``train``."""
    p = sub.add_parser("train", help="train a supernet by progressive shrinking (torchrun for several processes)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, train.png, supernet.pt")
    p.add_argument("--space", default="fashion_mnist")
    p.add_argument("--dataset", default="fashion_mnist", help="fashion_mnist, vww or imagefolder")
    p.add_argument("--data", help="dataset root (default: where the dataset is installed)")
    p.add_argument("--phases", help="comma list of phases: progressive shrinking largest,kernel,depth,expand,width "
                   "(the default), or sandwich (every dimension at once, in-place distillation)")
    p.add_argument("--epochs", help="epochs per phase, comma list or one value for all")
    p.add_argument("--lr", help="base learning rate per phase, comma list or one value")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--subnets-per-step", type=int, default=2)
    p.add_argument("--kd-ratio", type=float, default=1.0, help="weight of the distillation loss")
    p.add_argument("--child-label-weight", type=float, default=0.0,
                   help="sandwich: weight of the labels' loss on the non-largest subnets (default 0: soft labels only)")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--budget-minutes", type=float,
                   help="stop with a checkpoint after this many minutes (continue later with --resume)")
    p.add_argument("--steps-per-epoch", type=int, help="cap the steps of each epoch (short runs)")
    p.add_argument("--eval-images", type=int, default=5000)
    p.add_argument("--calib-images", type=int, default=1000)
    p.add_argument("--phase-eval-subnets", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads per process (1 is fastest on a busy machine)")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory layout")
    p.add_argument("--init", metavar="WEIGHTS", help="start from these supernet weights (fine-tune a trained one)")
    p.add_argument("--scratch", metavar="ARCH.json", help="instead: train this one subnet from scratch (baseline)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    p.add_argument("--force", action="store_true", help="start over in an existing --out")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
