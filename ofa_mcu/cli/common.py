"""Options several commands share, each defined once (name, type with its allowed range,
default, help), and the output-path checks every command runs before its work."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..validate import KILOBYTES, SEED, existing_file


def add_space_arg(p: argparse.ArgumentParser, what: str = "search space") -> None:
    """``--space`` with the one default space of every command."""
    from ..config import SPACES
    from ..space import DEFAULT_SPACE

    p.add_argument("--space", default=DEFAULT_SPACE, choices=sorted(SPACES),
                   help=f"{what}: {' or '.join(sorted(SPACES))} (default: {DEFAULT_SPACE}, the space whose "
                        "supernet, pairs and predictor ship with ofa-mcu)")


def add_dataset_args(p: argparse.ArgumentParser) -> None:
    """``--dataset`` (default: the space's own) and ``--data DIR``."""
    from ..data.registry import DATASETS, SPACE_DATASETS

    p.add_argument("--dataset", choices=sorted(DATASETS),
                   help="dataset (default: the space's own: "
                        + ", ".join(f"{d} for --space {s}" for s, d in sorted(SPACE_DATASETS.items())) + ")")
    p.add_argument("--data", metavar="DIR",
                   help="dataset folder: class folders, or train/ and val/ of class folders (fashion_mnist: "
                        "default $OFA_MCU_FASHION_MNIST or the Debian package's folder)")


def dataset_name(args: argparse.Namespace) -> str:
    """``--dataset``, or the dataset the chosen ``--space`` was made for."""
    from ..data.registry import dataset_for_space

    return args.dataset or dataset_for_space(args.space)


# What ``ofa_mcu.boards.budget.default_kernels`` picks, in words for --kernels' help.
KERNELS_DEFAULT = ("cmsis-nn on cores with DSP instructions (M4, M7) and in Pico SDK projects "
                   "(pico-tflmicro compiles it), else reference")


def add_reserve_args(p) -> None:
    """``--reserve-flash-kb`` / ``--reserve-sram-kb``: room kept for the user's application."""
    p.add_argument("--reserve-flash-kb", type=KILOBYTES,
                   help="flash kept free for your application beside the model (default: the board's, see ofa-mcu boards)")
    p.add_argument("--reserve-sram-kb", type=KILOBYTES,
                   help="SRAM kept free for your application beside the model (default: the board's)")


def add_seed_arg(p, help: str = "random seed (default 0)") -> None:
    """``--seed`` (0 .. 2**32 - 1, what every random generator here accepts)."""
    p.add_argument("--seed", type=SEED, default=0, help=help)


def checkpoint_arg(what: str = "supernet checkpoint"):
    """argparse type of a checkpoint path (an existing file; its content is read later)."""
    return existing_file(what)


def project_folder(path: str) -> Path:
    """A firmware project folder: ``DIR`` itself when it holds ``ofa-mcu.json``, else the
    ``project/`` inside a build's output folder ``DIR``."""
    from codegen.flash import MANIFEST

    p = Path(path)
    if not (p / MANIFEST).is_file() and (p / "project" / MANIFEST).is_file():
        return p / "project"
    return p
