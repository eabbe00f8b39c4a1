"""``ofa-mcu train``: progressive-shrinking training of the supernet."""
from __future__ import annotations

import argparse

from ..validate import (
    BN_IMAGES, EPOCHS, IMAGES, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, THREADS, Number, NumberList, existing_file,
)
from .common import add_dataset_args, add_seed_arg, add_space_arg, checkpoint_arg, dataset_name


def _phases(text: str) -> list[str]:
    """``--phases``: a comma list of known phase names."""
    from ..train.phases import PHASES

    names = [p.strip() for p in str(text).split(",")]
    bad = [n for n in names if n not in PHASES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown phase {bad[0]!r} in {text!r}; choose from {', '.join(PHASES)}")
    return names


def _check_out(args: argparse.Namespace) -> None:
    """The run folder can be written (and is new, or --force/--resume), before any work. Under
    torchrun only the first process checks: the others start while it fills the folder."""
    import os

    from ..io import check_not_an_input, check_writable, refuse_clobber

    from ..errors import UserError

    if os.environ.get("RANK", "0") != "0":
        return
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"--out {args.out!r} is a file; the run folder must be a folder path")
    check_not_an_input(args.out, [args.data, args.init, args.scratch], "run folder")
    if args.resume:
        check_writable(args.out, "run folder")
    else:
        refuse_clobber(args.out, args.force, "training run folder")


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or resume) a run in --out."""
    _check_out(args)
    if args.scratch:
        return _scratch(args)
    from ..train.phases import PHASE_ORDER
    from ..train.trainer import Trainer, TrainConfig

    phases = tuple(args.phases) if args.phases else PHASE_ORDER
    default = TrainConfig()
    n = len(phases)

    def per_phase(values, fallback):
        if values is None:
            return tuple(fallback[:n]) if n <= len(fallback) else tuple(fallback) + (fallback[-1],) * (n - len(fallback))
        return tuple(values) if len(values) > 1 else tuple(values) * n

    cfg = TrainConfig(
        space=args.space, dataset=dataset_name(args), data_root=args.data, phases=phases,
        epochs=per_phase(args.epochs, default.epochs),
        lrs=per_phase(args.lr, default.lrs),
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
    epochs = args.epochs[0] if args.epochs else 13
    lr = args.lr[0] if args.lr else 0.1
    res = train_scratch(arch, space, get_dataset(dataset_name(args), root=args.data), args.out, epochs=epochs, lr=lr,
                        batch_size=args.batch_size, eval_images=args.eval_images, seed=args.seed, resume=args.resume,
                        force=args.force, steps_per_epoch=args.steps_per_epoch, progress=not args.quiet)
    print(f"from scratch, {epochs} epochs: holdout top-1 {res['top1']:.2f} % ({res['n']} images)")
    return 0


def register(sub) -> None:
    """Add ``train``."""
    p = sub.add_parser("train", help="train a supernet by progressive shrinking (torchrun for several processes)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, train.png, supernet.pt")
    add_space_arg(p)
    add_dataset_args(p)
    p.add_argument("--phases", type=_phases,
                   help="comma list of phases: progressive shrinking largest,kernel,depth,expand,width "
                   "(the default), or sandwich (every dimension at once, in-place distillation)")
    p.add_argument("--epochs", type=NumberList(EPOCHS), help="epochs per phase, comma list or one value for all")
    p.add_argument("--lr", type=NumberList(POSITIVE), help="base learning rate per phase, comma list or one value (the loss "
                   "is the mean over each step's subnets: a sandwich phase with 2 random subnets wants about "
                   "4x a single network's lr)")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    p.add_argument("--weight-decay", type=NON_NEGATIVE)
    p.add_argument("--batch-size", type=Number(2, 65_536, integer=True), default=128)
    p.add_argument("--subnets-per-step", type=Number(1, 1_000, integer=True), default=2)
    p.add_argument("--kd-ratio", type=NON_NEGATIVE, default=1.0, help="weight of the distillation loss")
    p.add_argument("--child-label-weight", type=NON_NEGATIVE, default=0.0,
                   help="sandwich: weight of the labels' loss on the non-largest subnets (default 0: soft labels only)")
    p.add_argument("--label-smoothing", type=Number(0, 1, hi_open=True), default=0.1)
    p.add_argument("--budget-minutes", type=POSITIVE,
                   help="stop with a checkpoint after this many minutes (continue later with --resume)")
    p.add_argument("--steps-per-epoch", type=POSITIVE_INT, help="cap the steps of each epoch (short runs)")
    p.add_argument("--eval-images", type=IMAGES, default=5000)
    p.add_argument("--calib-images", type=BN_IMAGES, default=1000)
    p.add_argument("--phase-eval-subnets", type=NON_NEGATIVE_INT, default=10)
    add_seed_arg(p)
    p.add_argument("--threads", type=THREADS, help="torch threads per process (1 is fastest on a busy machine)")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory layout")
    p.add_argument("--init", metavar="WEIGHTS", type=checkpoint_arg(),
                   help="start from these supernet weights (fine-tune a trained one)")
    p.add_argument("--scratch", metavar="ARCH.json", type=existing_file("arch file"),
                   help="instead: train this one subnet from scratch (baseline)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out after its last epoch")
    p.add_argument("--force", action="store_true", help="start over in an existing --out")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
