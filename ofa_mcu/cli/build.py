"""``ofa-mcu build``: board name in, verified firmware project and report out."""
from __future__ import annotations

import argparse

from ..validate import BN_IMAGES, EPOCHS, IMAGES, POSITIVE, Number
from .common import add_dataset_args, add_seed_arg, add_space_arg, checkpoint_arg, dataset_name
from .search import add_budget_args, add_strategy_args


def cmd_build(args: argparse.Namespace) -> int:
    """Run the whole pipeline and print the summary."""
    from ..errors import UserError
    from ..pipeline.build import BuildOptions, run_build, summary_lines

    if not args.board:
        raise UserError("ofa-mcu build needs --board NAME (ofa-mcu boards lists them)")
    limits = {k: getattr(args, k) for k in ("max_macs", "max_params", "max_sram_kb", "max_flash_kb", "max_latency_ms")
              if getattr(args, k) is not None}
    opts = BuildOptions(
        board=args.board, out=args.out, space=args.space, dataset=dataset_name(args), data_root=args.data,
        supernet=args.supernet, predictor=args.predictor, backend=args.backend, build_system=args.build_system,
        strategy=args.strategy, population=args.population, generations=args.generations, samples=args.samples,
        seed=args.seed, limits=limits, calib_images=args.calib_images, bn_calib_images=args.bn_calib_images,
        finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr, eval_images=args.eval_images,
        force=args.force, quiet=args.quiet, kernels=args.kernels, tflm_dir=args.tflm_dir,
        reserve_flash_kb=args.reserve_flash_kb, reserve_sram_kb=args.reserve_sram_kb, tolerance=args.tolerance)
    res = run_build(opts)
    for line in summary_lines(res):
        print(line)
    return 0


def register(sub) -> None:
    """Add ``build``."""
    p = sub.add_parser("build", help="search, quantize, verify and emit a firmware project for a board")
    add_budget_args(p)
    p.add_argument("--out", help="output folder (default: out/<board>)")
    p.add_argument("--backend", default="tflm", choices=["tflm", "native"],
                   help="TFLite-Micro interpreter project (default) or generated native C kernels")
    p.add_argument("--build-system", help="make, cmake, platformio, arduino, pico-sdk or esp-idf "
                                          "(default: the board's)")
    p.add_argument("--tflm-dir", metavar="DIR",
                   help="a TFLite-Micro tree made by create_tflm_tree.py (default: $TFLM_DIR): the build then measures "
                        "the 32-bit arena in QEMU on the board's core, reserves exactly that, and links the firmware "
                        "for the board as its last step (real section sizes in the report); without one the arena is "
                        "the calibrated prediction and the fit is predicted")
    add_space_arg(p, "search space of the supernet")
    add_dataset_args(p)
    p.add_argument("--supernet", type=checkpoint_arg(), metavar="CKPT",
                   help="trained supernet weights: .pth/.pt, a state_dict or {'state_dict': ...}, fp16 or fp32 "
                        "(default: the shipped ones of the space)")
    p.add_argument("--predictor", help="accuracy predictor folder (default: the space's shipped one)")
    g = p.add_argument_group("search")
    add_strategy_args(g)
    add_seed_arg(g)
    q = p.add_argument_group("quantize and verify")
    q.add_argument("--calib-images", type=IMAGES, default=500, help="int8 calibration images (default 500)")
    q.add_argument("--bn-calib-images", type=BN_IMAGES, default=1000, help="BN re-calibration images (default 1000)")
    q.add_argument("--finetune-epochs", type=Number(0, EPOCHS.hi), default=0.0,
                   help="fine-tune the chosen subnet alone for this many epochs before quantizing "
                        "(default 0: off; on the shipped weights' 5.76 M-MAC stm32f746g-disco model 3 epochs moved float top-1 from 92.75 to 92.80 %%, "
                        "within noise: the supernet's subnet is already trained)")
    q.add_argument("--finetune-lr", type=POSITIVE, default=0.02, help="fine-tuning learning rate (cosine to 0)")
    q.add_argument("--eval-images", type=IMAGES, default=2000, help="verification images (evenly spaced; default 2000)")
    p.add_argument("--force", action="store_true",
                   help="replace what an earlier build wrote in --out (after a successful build; other files are kept)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_build)

