"""The stages of ``ofa-mcu build``, each a function from the checked inputs (:class:`BuildContext`)
and earlier stages' outputs to its own (a frozen dataclass): search -> extract -> quantize ->
measure -> emit -> report (:data:`BUILD_STAGES`)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .stages import Stage, Stages


@dataclass(frozen=True)
class BuildContext:
    """What every stage may read, checked before the first one: the options, the one
    :class:`~ofa_mcu.boards.Board`, the space, the firmware target (kernel set, TFLM tree,
    budget), the search limits, the predictor, the data, the supernet, and the staged output
    folder."""

    opts: Any  # BuildOptions
    board: Any
    cfg: Any
    target: Any  # pipeline.firmware.FirmwareTarget
    plan_kernels: str  # the kernel set the memory model plans with
    constraints: Any
    predictor: Any
    data: Any
    supernet: Any
    out: Path
    progress: Stages

    @property
    def model_dir(self) -> Path:
        """``model/`` of the output: arch, models, search plot, results.json."""
        return self.out / "model"

    @property
    def eval_split(self):
        """The images the int8 paths are verified on (the test split, else the holdout)."""
        return self.data.test if self.data.test is not None else self.data.holdout

    @property
    def eval_split_name(self) -> str:
        """Which split :attr:`eval_split` is."""
        return "test" if self.data.test is not None else "holdout"


@dataclass(frozen=True)
class Searched:
    """The search's result and the exact memory model it was confirmed with."""

    found: Any  # search.result.SearchResult
    effmodel: Any
    tolerance: float

    @property
    def arch(self) -> dict:
        """The chosen arch."""
        return self.found.best_arch


@dataclass(frozen=True)
class Extracted:
    """The chosen subnet (torch, eval mode) and its BN-folded weights."""

    subnet: Any
    folded: Any  # space.folded.FoldedNet
    finetune: dict | None


@dataclass(frozen=True)
class Quantized:
    """The verified int8 model and every path's logits on the evaluation images."""

    tflite: bytes
    images: np.ndarray  # normalised NCHW float
    labels: np.ndarray
    logits: dict[str, np.ndarray]
    top1: dict[str, float]


@dataclass(frozen=True)
class Measured:
    """Host TFLM figures, the memory model's prediction, and for the TFLM backend the arena the
    firmware reserves and where its 32-bit figure comes from."""

    host: dict
    predicted: dict
    reserve: dict | None = None
    target: dict | None = None
    usage: dict | None = None


@dataclass(frozen=True)
class Emitted:
    """The project written, its link (TFLM with a tree), and for the native backend its figures
    and its logits (bit-exact with TFLM)."""

    project: Path
    linked: dict = field(default_factory=dict)
    link_error: str | None = None
    native: dict | None = None
    native_logits: np.ndarray | None = None


# ---- helpers ----------------------------------------------------------------------------------


def int8_inputs(tflite: bytes, images: np.ndarray) -> np.ndarray:
    """Normalised NCHW float images as the int8 NHWC input of ``tflite``."""
    from ..quant import input_quant
    from ..quant.tflite_convert import nchw_to_nhwc
    from ..quant.tflite_inspect import quantize_input

    return quantize_input(nchw_to_nhwc(images), *input_quant(tflite))


# ---- the stages -------------------------------------------------------------------------------


def search(ctx: BuildContext) -> Searched:
    """The most accurate subnet within the limits (the fast peak-of-live-bytes model, then the
    exact one on the best), and the cheapest within the predictor's error of it."""
    from ..efficiency import get_efficiency_model
    from ..efficiency.latency import WithLatency
    from ..io import write_json
    from ..search import EvolutionParams, get_strategy
    from ..search.plot import plot_search
    from ..search.select import select_cheapest
    from ..search.strategies import confirm_best

    o = ctx.opts
    fast = WithLatency(get_efficiency_model("tflm", ctx.cfg, plan="peak", kernels=ctx.plan_kernels), ctx.board)
    exact = WithLatency(get_efficiency_model("tflm", ctx.cfg, kernels=ctx.plan_kernels), ctx.board)
    strategy = get_strategy(o.strategy)
    if o.strategy == "random":
        found = strategy(ctx.predictor, fast, ctx.constraints, samples=o.samples, seed=o.seed)
    else:
        found = strategy(ctx.predictor, fast, ctx.constraints, seed=o.seed,
                         params=EvolutionParams(population=o.population, generations=o.generations))
    found = confirm_best(found, exact, ctx.constraints)
    tolerance = o.tolerance if o.tolerance is not None else ctx.predictor.mae
    found = select_cheapest(found, exact, ctx.constraints, tolerance)
    plot_search(found, ctx.constraints, ctx.model_dir / "search.png", title=f"search for {ctx.board.name}")
    write_json(ctx.model_dir / "arch.json", found.best_arch)
    m, best = found.best_metrics, found.selection["most_accurate"]["predicted_accuracy"]
    ctx.progress.note(f"predicted top-1 {found.best_accuracy:.2f} % (the cheapest within {tolerance:.2f} points of "
                      f"the best, {best:.2f} %), {m['macs'] / 1e6:.2f} M MACs, arena {m['sram_bytes'] / 1024:.1f} KB "
                      f"(32-bit, {ctx.target.kernels} kernels), flatbuffer {m['tflite_bytes'] / 1024:.1f} KB, "
                      f"{found.best_arch['image_size']} px")
    return Searched(found, exact, tolerance)


def extract(ctx: BuildContext, searched: Searched) -> Extracted:
    """The subnet from the supernet, BN re-calibrated (or fine-tuned), and its folded weights."""
    import torch

    from ..train.subnet_eval import calibrated_subnet

    o, arch = ctx.opts, searched.arch
    torch.manual_seed(o.seed)
    finetune = None
    if o.finetune_epochs > 0:
        from ..train.finetune import finetune_subnet

        sub = ctx.supernet.extract(arch)  # fine-tuning re-estimates BN itself at the end
        finetune = finetune_subnet(sub, ctx.data.train, arch["image_size"], epochs=o.finetune_epochs,
                                   lr=o.finetune_lr, seed=o.seed, bn_calib_images=o.bn_calib_images,
                                   progress=not o.quiet)
        finetune["lr"] = o.finetune_lr
    else:
        sub = calibrated_subnet(ctx.supernet, arch, ctx.data.calib, o.bn_calib_images)
    return Extracted(sub, sub.fold(), finetune)


def quantize(ctx: BuildContext, searched: Searched, extracted: Extracted) -> Quantized:
    """ONNX + ONNX Runtime int8, full-int8 TFLite; float, ORT, TFLite and TFLM on the
    evaluation images."""
    from ..data import load_images
    from ..quant import evaluate_paths

    r = searched.arch["image_size"]
    calib, _ = load_images(ctx.data.calib, ctx.opts.calib_images, r)
    images, labels = load_images(ctx.eval_split, ctx.opts.eval_images, r)
    paths = evaluate_paths(extracted.subnet, extracted.folded, calib, images, labels, workdir=ctx.model_dir)
    (ctx.model_dir / "model.tflite").write_bytes(paths["tflite"])
    ctx.progress.note("top-1 " + ", ".join(f"{k} {v:.2f} %" for k, v in paths["top1"].items()))
    return Quantized(paths["tflite"], images, labels, paths["logits"], paths["top1"])


def measure(ctx: BuildContext, searched: Searched, quantized: Quantized) -> Measured:
    """The host TFLM arena and flatbuffer, the memory model's figures, and for the TFLM
    backend the 32-bit arena the firmware reserves (measured in QEMU with a tree)."""
    from ..quant import measure_tflm
    from .firmware import target_arena

    host = measure_tflm(quantized.tflite)
    predicted = searched.effmodel.evaluate(searched.arch)
    if ctx.opts.backend != "tflm":
        return Measured(host, predicted)
    reserve, target, usage = target_arena(quantized.tflite, ctx.board, ctx.target, host["tflm_arena_bytes"],
                                          calibrated=int(predicted["sram_bytes"]))
    ctx.progress.note(f"32-bit arena {target['arena_bytes']:,} B ({target['source']}, {ctx.target.kernels} "
                      f"kernels), reserved {reserve['total']:,} B")
    return Measured(host, predicted, reserve, target, usage)


def emit(ctx: BuildContext, searched: Searched, quantized: Quantized, measured: Measured) -> Emitted:
    """The firmware project for the board's build system (TFLM, linked when a tree is at hand)
    or the native C project (checked bit for bit against TFLM on every image, and in QEMU)."""
    q = int8_inputs(quantized.tflite, quantized.images)
    data, r = ctx.data, searched.arch["image_size"]
    common = dict(labels=list(data.class_names), test_image=q[0], arena_bytes=measured.host["tflm_arena_bytes"],
                  preprocess=data.preprocess_for(r).to_dict(), model_name=f"ofa_{ctx.cfg.name}",
                  test_description=f"{ctx.eval_split_name} image 0, label {data.class_names[quantized.labels[0]]}")
    project = ctx.out / "project"
    if ctx.opts.backend == "tflm":
        from codegen.project import emit_project

        from .firmware import link_project

        emit_project(quantized.tflite, ctx.board, project, build_system=ctx.opts.build_system,
                     kernels=ctx.target.kernels, arena=measured.reserve, budget=ctx.target.budget, **common)
        linked, link_error = link_project(project, ctx.board, ctx.target)
        if linked and not link_error:
            ctx.progress.note(f"linked: flash {linked['flash_bytes']:,} of {linked['flash_total_bytes']:,} B, RAM "
                              f"{linked['ram_bytes']:,} of {linked['ram_total_bytes']:,} B")
        return Emitted(project, linked, link_error)
    from codegen.native.deploy import deploy_native, report_results

    _, summary = deploy_native(quantized.tflite, ctx.board, project, keep_build=True, **common)
    native = report_results(summary, project)["memory"]["native"]
    if native.get("plan_png"):  # relative to results.json, as every path in it
        native["plan_png"] = os.path.relpath(native["plan_png"], ctx.model_dir.resolve())
    logits = _verify_native(project, ctx.board, q, quantized.logits["tflm"], ctx.progress)
    return Emitted(project, native=native, native_logits=logits)


def _verify_native(project: Path, board, q: np.ndarray, tflm: np.ndarray, progress: Stages) -> np.ndarray:
    """Run every verification input through the host build of the native C (it must equal
    TFLM bit for bit) and, on an emulated board, the firmware's self-test in QEMU (the image
    :func:`~codegen.native.deploy.deploy_native` built)."""
    from codegen.native import build_host, run_host
    from codegen.native.emit import artifacts

    try:
        exe = build_host(project)
        logits = run_host(exe, q.reshape(len(q), -1), int(tflm.shape[1])).reshape(tflm.shape)
        if not np.array_equal(logits, tflm):
            raise RuntimeError("internal error: the native C output differs from TFLM's; please report it")
        progress.note(f"native C equals TFLM bit for bit on {len(q)} images")
        elf = project / artifacts(board.name)["elf"]
        if board.is_qemu and elf.is_file() and shutil.which("qemu-system-arm"):
            from codegen.native.qemu import run_in_qemu

            code, out = run_in_qemu(elf, board.qemu_machine)
            if code != 0:
                raise RuntimeError(f"the firmware failed its self-test in QEMU (exit {code}): {out.strip()[-300:]}")
            progress.note(f"firmware passed its self-test in QEMU {board.qemu_machine}")
    finally:
        shutil.rmtree(project / "build", ignore_errors=True)  # the project holds sources; flash builds again
    return logits


def report(ctx: BuildContext, searched: Searched, extracted: Extracted, quantized: Quantized, measured: Measured,
           emitted: Emitted) -> dict:
    """The results behind the report (``results.json``) and the report rendered from them
    (Markdown, HTML, JSON)."""
    from ..report import write_report
    from .results import build_results

    results = build_results(ctx, searched, extracted, quantized, measured, emitted)
    results["timings"] = dict(ctx.progress.seconds)
    write_report(results, ctx.out / "report", base_dir=ctx.model_dir)  # paths in results are relative to model/
    return results


BUILD_STAGES = (
    Stage("search", "searched", search,
          describe=lambda c: f"{c.opts.strategy} search for {c.board.name} in space {c.cfg.name}"),
    Stage("extract", "extracted", extract,
          describe=lambda c: "subnet from the supernet, BN re-calibrated" + (
              f", fine-tuned {c.opts.finetune_epochs:g} epochs" if c.opts.finetune_epochs > 0 else "")),
    Stage("quantize", "quantized", quantize,
          describe=lambda c: f"ONNX + ORT int8, full-int8 TFLite, run float/ORT/TFLite/TFLM on "
                             f"{min(c.opts.eval_images, len(c.eval_split))} images"),
    Stage("measure", "measured", measure,
          describe=lambda c: "TFLM arena and flatbuffer of the int8 model " + (
              "and the 32-bit arena in QEMU" if c.target.tree is not None else "(host)")),
    Stage("emit", "emitted", emit, describe=lambda c: f"{c.opts.backend} firmware project for {c.board.name}"),
    Stage("report", "results", report, describe=lambda c: "Markdown, HTML and JSON"),
)
