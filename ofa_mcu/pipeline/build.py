"""``ofa-mcu build``: the most accurate subnet that fits a board, as a firmware project.

Stages (:mod:`.build_stages`, typed steps): search (the board's budget through the calibrated
TFLM predictor) -> extract (the subnet from the trained supernet, BN re-calibrated) -> quantize
and verify (float, ONNX Runtime int8, TFLite int8 and TFLM on the evaluation images) ->
measure (the real arena; in QEMU with a TFLM tree) -> emit (the firmware project, linked with a
tree) -> report. Everything is written into a temporary sibling folder that replaces ``out``
only when the build succeeded, so a failure leaves nothing half-written (``ofa_mcu.io``'s
output rule: ``--force`` replaces only what an earlier build wrote; temporary folders of
builds that died are removed by the next one). Every input (board, build system, space,
dataset, checkpoint, numbers) is checked before the search starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..io import staged_output, write_json
from ..space import DEFAULT_SPACE
from ..validate import IMAGES, NON_NEGATIVE, POSITIVE, SAMPLES

BACKENDS = ("tflm", "native")


@dataclass
class BuildOptions:
    """What ``ofa-mcu build`` was asked to do (defaults: the embedded Fashion-MNIST supernet)."""

    board: str
    out: str | None = None
    space: str = DEFAULT_SPACE
    dataset: str | None = None  # None: the dataset the space was made for
    data_root: str | None = None
    supernet: str | None = None
    predictor: str | None = None
    backend: str = "tflm"
    build_system: str | None = None
    strategy: str = "evolution"
    population: int = 100
    generations: int = 500
    samples: int = 1000
    seed: int = 0
    limits: dict = field(default_factory=dict)  # budget_limits keyword arguments
    calib_images: int = 500
    bn_calib_images: int = 1000
    finetune_epochs: float = 0.0  # 0: ship the supernet's weights as they are
    finetune_lr: float = 0.02
    eval_images: int = 2000
    force: bool = False
    quiet: bool = False
    kernels: str | None = None  # TFLM kernel set (None: the core's default, or the tree's)
    tflm_dir: str | None = None  # TFLM tree to link (and measure in QEMU) with; None: $TFLM_DIR or none
    reserve_flash_kb: float | None = None  # application reserve (None: the board's)
    reserve_sram_kb: float | None = None
    tolerance: float | None = None  # points: the cheapest within this of the best (None: the predictor's MAE)


@dataclass
class BuildResult:
    """Where the project is and what it holds."""

    out: Path
    results: dict
    seconds: dict[str, float]


def load_default_supernet(cfg, path: str | None = None):
    """The supernet with its trained weights (the shipped default for ``cfg`` unless ``path``),
    read by the one checkpoint reader (``ofa_mcu.nn.read_checkpoint``: any format)."""
    from ..assets import default_supernet
    from ..nn import OFAMCUNet, load_supernet_state

    net = OFAMCUNet(cfg)
    load_supernet_state(net, path or default_supernet(cfg.name))
    return net.eval()


def check_build_system(backend: str, board, build_system: str | None) -> None:
    """A UserError unless ``build_system`` fits ``backend`` and ``board`` (None: the default)."""
    from codegen.native.emit import BUILD_SYSTEM
    from codegen.project import choose_build_system

    if backend == "tflm":
        choose_build_system(board, build_system)
    elif build_system not in (None, BUILD_SYSTEM):
        raise UserError(f"--build-system {build_system} is for --backend tflm; native projects build with their "
                        f"own Makefile ({BUILD_SYSTEM}): drop --build-system")


def _check_numbers(opts: BuildOptions) -> None:
    for flag, value, rng in (("--calib-images", opts.calib_images, IMAGES),
                             ("--bn-calib-images", opts.bn_calib_images, IMAGES),
                             ("--eval-images", opts.eval_images, IMAGES),
                             ("--finetune-epochs", opts.finetune_epochs, NON_NEGATIVE),
                             ("--finetune-lr", opts.finetune_lr, POSITIVE)):
        rng.check(flag, value)


def check_inputs(opts: BuildOptions) -> dict:
    """Every input checked before any work (a one-line UserError for the first bad one): the
    :class:`~.build_stages.BuildContext` fields known before the output is staged."""
    from ..boards import load_board
    from ..config import get_space
    from ..efficiency import get_efficiency_model
    from ..predictor import load_predictor
    from ..search import EvolutionParams
    from ..search.budget import budget_limits
    from ..search.constraints import check_satisfiable
    from .firmware import firmware_target, plan_kernels

    if opts.backend not in BACKENDS:
        raise UserError(f"unknown backend {opts.backend!r}; choose one of {', '.join(BACKENDS)}")
    _check_numbers(opts)
    board = load_board(opts.board)
    cfg = get_space(opts.space)
    check_build_system(opts.backend, board, opts.build_system)
    if opts.strategy == "evolution":
        EvolutionParams(population=opts.population, generations=opts.generations)
    else:
        SAMPLES.check("--samples", opts.samples)
    target = firmware_target(board, opts.backend, opts.kernels, opts.tflm_dir, opts.build_system,
                             opts.reserve_flash_kb, opts.reserve_sram_kb)
    kernels = plan_kernels(target, board)
    constraints = budget_limits(board=board, cfg=cfg, backend=opts.backend, budget=target.budget, **opts.limits)
    check_satisfiable(get_efficiency_model("tflm", cfg, plan="peak", kernels=kernels), constraints)
    predictor = load_predictor(opts.predictor or cfg.name)
    if predictor.space != cfg:
        raise UserError(f"the predictor was trained for space {predictor.space.name!r}, not {cfg.name!r}; "
                        f"pass --space {predictor.space.name} or a predictor for {cfg.name}")
    return {"board": board, "cfg": cfg, "target": target, "plan_kernels": kernels, "constraints": constraints,
            "predictor": predictor}


def run_build(opts: BuildOptions) -> BuildResult:
    """Check every input, then run every stage (:data:`~.build_stages.BUILD_STAGES`) into a
    staged output folder; returns the project folder and the results behind the report."""
    from .build_stages import BUILD_STAGES, BuildContext
    from .stages import Stages, run_stages

    checked = check_inputs(opts)
    out = Path(opts.out or f"out/{checked['board'].name}")
    inputs = [x for x in (opts.supernet, opts.predictor, opts.data_root) if x]
    progress = Stages(len(BUILD_STAGES), quiet=opts.quiet)
    with staged_output(out, opts.force, inputs=inputs, kind="build") as tmp:
        cfg = checked["cfg"]
        ctx = BuildContext(opts=opts, data=_dataset(opts, cfg), supernet=load_default_supernet(cfg, opts.supernet),
                           out=tmp, progress=progress, **checked)
        done = run_stages(BUILD_STAGES, ctx, progress)
        results = {**done["results"], "timings": dict(progress.seconds)}
        write_json(ctx.model_dir / "results.json", results)
    if done["emitted"].link_error:  # the output is written (report and project, for inspection); the build failed
        raise UserError(done["emitted"].link_error)
    return BuildResult(out, results, progress.seconds)


def _dataset(opts: BuildOptions, cfg):
    """The dataset of the build, checked against the space."""
    from ..data import dataset_for_space, get_dataset

    dataset = opts.dataset or dataset_for_space(cfg.name)
    data = get_dataset(dataset, root=opts.data_root)
    if data.num_classes != cfg.n_classes or data.channels != cfg.in_channels:
        raise UserError(f"dataset {dataset!r} has {data.num_classes} classes and {data.channels} channel(s); "
                        f"space {cfg.name!r} needs {cfg.n_classes} and {cfg.in_channels}: pass a matching "
                        f"--space or --data")
    return data


def summary_lines(res: BuildResult) -> list[str]:
    """The end-of-build summary for the console."""
    from .results import summary_lines as lines

    return lines(res.out, res.results)
