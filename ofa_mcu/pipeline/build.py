"""``ofa-mcu build``: the most accurate subnet that fits a board, as a firmware project.

Stages: search (the board's budget through the calibrated TFLM predictor) -> extract (the
subnet from the trained supernet, BN re-calibrated) -> quantize and verify (float, ONNX
Runtime int8, TFLite int8 and TFLM on the evaluation images) -> emit (the firmware project)
-> report. Everything is written into a temporary sibling folder that replaces ``out``
only when the build succeeded, so a failure leaves nothing half-written (``ofa_mcu.io``'s
output rule: ``--force`` replaces only what an earlier build wrote; temporary folders of
builds that died are removed by the next one). Every input (board, build system, space,
dataset, checkpoint, numbers) is checked before the search starts.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..io import staged_output, write_json
from ..space import DEFAULT_SPACE
from ..validate import IMAGES, NON_NEGATIVE, POSITIVE, SAMPLES
from .stages import Stages

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


def _images(dataset, n: int, resolution: int, batch: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """``n`` evenly spaced images of ``dataset`` at ``resolution`` (normalised NCHW float32)."""
    from ..data import evenly_spaced, make_loader, resize_batch

    idx = evenly_spaced(len(dataset), min(n, len(dataset)))
    xs, ys = [], []
    for x, y in make_loader(dataset.subset(idx), batch_size=batch, shuffle=False):
        xs.append(resize_batch(x, resolution).numpy())
        ys.append(np.asarray(y))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def _confusion(logits: np.ndarray, labels: np.ndarray, k: int) -> list[list[int]]:
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (labels, np.asarray(logits).argmax(1)), 1)
    return m.tolist()


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


def run_build(opts: BuildOptions) -> BuildResult:
    """Check every input, then run every stage; returns the project folder and the results
    behind the report."""
    from ..boards import load_board
    from ..config import get_space
    from ..data import dataset_for_space, get_dataset
    from ..predictor import load_predictor
    from ..search import EvolutionParams
    from ..efficiency import get_efficiency_model
    from ..search.budget import budget_limits
    from ..search.constraints import check_satisfiable

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
    from .firmware import firmware_target

    target = firmware_target(board, opts.backend, opts.kernels, opts.tflm_dir, opts.build_system,
                             opts.reserve_flash_kb, opts.reserve_sram_kb)
    constraints = budget_limits(board=board, cfg=cfg, backend=opts.backend, budget=target.budget, **opts.limits)
    check_satisfiable(get_efficiency_model("tflm", cfg, plan="peak", kernels=_plan_kernels(target, board)), constraints)
    predictor = load_predictor(opts.predictor or cfg.name)
    if predictor.space != cfg:
        raise UserError(f"the predictor was trained for space {predictor.space.name!r}, not {cfg.name!r}; "
                        f"pass --space {predictor.space.name} or a predictor for {cfg.name}")
    out = Path(opts.out or f"out/{board.name}")
    inputs = [x for x in (opts.supernet, opts.predictor, opts.data_root) if x]
    with staged_output(out, opts.force, inputs=inputs, kind="build") as tmp:
        dataset = opts.dataset or dataset_for_space(cfg.name)
        data = get_dataset(dataset, root=opts.data_root)
        if data.num_classes != cfg.n_classes or data.channels != cfg.in_channels:
            raise UserError(f"dataset {dataset!r} has {data.num_classes} classes and {data.channels} channel(s); "
                            f"space {cfg.name!r} needs {cfg.n_classes} and {cfg.in_channels}: pass a matching "
                            f"--space or --data")
        supernet = load_default_supernet(cfg, opts.supernet)
        stages = Stages(6, quiet=opts.quiet)
        results, link_error = _run_stages(opts, board, cfg, data, supernet, predictor, constraints, target, tmp,
                                          stages)
        results["timings"] = dict(stages.seconds)
        write_json(tmp / "model" / "results.json", results)
    if link_error:  # the output is written (report and project, for inspection); the build failed
        raise UserError(link_error)
    return BuildResult(out, results, stages.seconds)


def _plan_kernels(target, board) -> str:
    """The kernel set the calibrated memory model plans with (the native backend's search bounds
    the lab estimate and the flatbuffer, where the kernels do not matter)."""
    from ..efficiency.tflm_model import scratch_kernels

    return scratch_kernels(target.kernels, board.core) if target.kernels != "reference" else "reference"


def _run_stages(opts: BuildOptions, board, cfg, data, supernet, predictor, constraints, target, tmp: Path,
                stages: Stages) -> tuple[dict, str | None]:
    from .. import __version__
    from ..efficiency import get_efficiency_model
    from ..report import collect_versions, model_fields, write_report
    from ..report import board_fields
    from ..search import EvolutionParams, get_strategy
    from ..search.plot import plot_search

    model_dir = tmp / "model"
    # ---- 1. search ------------------------------------------------------------------------
    with stages("search", f"{opts.strategy} search for {board.name} in space {cfg.name}"):
        from ..efficiency.latency import WithLatency
        from ..search.strategies import confirm_best

        from ..search.select import select_cheapest

        kk = _plan_kernels(target, board)
        fast = WithLatency(get_efficiency_model("tflm", cfg, plan="peak", kernels=kk), board)
        effmodel = WithLatency(get_efficiency_model("tflm", cfg, kernels=kk), board)
        strategy = get_strategy(opts.strategy)
        if opts.strategy == "random":
            found = strategy(predictor, fast, constraints, samples=opts.samples, seed=opts.seed)
        else:
            found = strategy(predictor, fast, constraints, seed=opts.seed,
                             params=EvolutionParams(population=opts.population, generations=opts.generations))
        found = confirm_best(found, effmodel, constraints)
        tolerance = opts.tolerance if opts.tolerance is not None else predictor.mae
        found = select_cheapest(found, effmodel, constraints, tolerance)
        arch = found.best_arch
        plot_search(found, constraints, model_dir / "search.png", title=f"search for {board.name}")
        write_json(model_dir / "arch.json", arch)
        best = found.selection["most_accurate"]["predicted_accuracy"]
        stages.note(f"predicted top-1 {found.best_accuracy:.2f} % (the cheapest within {tolerance:.2f} points of the "
                    f"best, {best:.2f} %), {found.best_metrics['macs'] / 1e6:.2f} M MACs, "
                    f"arena {found.best_metrics['sram_bytes'] / 1024:.1f} KB (32-bit, {target.kernels} kernels), "
                    f"flatbuffer {found.best_metrics['tflite_bytes'] / 1024:.1f} KB, {arch['image_size']} px")

    # ---- 2. extract -----------------------------------------------------------------------
    tuned = f", fine-tuned {opts.finetune_epochs:g} epochs" if opts.finetune_epochs > 0 else ""
    with stages("extract", f"subnet from the supernet, BN re-calibrated{tuned}"):
        import torch

        from ..train.subnet_eval import calibrated_subnet

        torch.manual_seed(opts.seed)
        finetune = None
        if opts.finetune_epochs > 0:
            from ..train.finetune import finetune_subnet

            sub = supernet.extract(arch)  # fine-tuning re-estimates BN itself at the end
            finetune = finetune_subnet(sub, data.train, arch["image_size"], epochs=opts.finetune_epochs,
                                       lr=opts.finetune_lr, seed=opts.seed, bn_calib_images=opts.bn_calib_images,
                                       progress=not opts.quiet)
            finetune["lr"] = opts.finetune_lr
        else:
            sub = calibrated_subnet(supernet, arch, data.calib, opts.bn_calib_images)
        folded = sub.fold()

    # ---- 3. quantize and verify -------------------------------------------------------------
    r = arch["image_size"]
    eval_split = data.test if data.test is not None else data.holdout
    with stages("quantize", f"ONNX + ORT int8, full-int8 TFLite, run float/ORT/TFLite/TFLM on "
                            f"{min(opts.eval_images, len(eval_split))} images"):
        from ..quant import evaluate_paths, input_quant, measure_tflm

        calib, _ = _images(data.calib, opts.calib_images, r)
        images, labels = _images(eval_split, opts.eval_images, r)
        paths = evaluate_paths(sub, folded, calib, images, labels, workdir=model_dir)
        tflite = paths["tflite"]
        (model_dir / "model.tflite").write_bytes(tflite)
        top1 = paths["top1"]
        stages.note("top-1 " + ", ".join(f"{k} {v:.2f} %" for k, v in top1.items()))

    # ---- 4. measure ----------------------------------------------------------------------------
    how = "and the 32-bit arena in QEMU" if target.tree is not None else "(host)"
    with stages("measure", f"TFLM arena and flatbuffer of the int8 model {how}"):
        from .firmware import reserved_fields, target_arena

        measured = measure_tflm(tflite)
        predicted = effmodel.evaluate(arch)
        reserve, target_info, usage = (None, None, None)
        if opts.backend == "tflm":
            reserve, target_info, usage = target_arena(tflite, board, target, measured["tflm_arena_bytes"],
                                                       calibrated=int(predicted["sram_bytes"]))
            stages.note(f"32-bit arena {target_info['arena_bytes']:,} B ({target_info['source']}, {target.kernels} "
                        f"kernels), reserved {reserve['total']:,} B")

    # ---- 5. emit ---------------------------------------------------------------------------------
    with stages("emit", f"{opts.backend} firmware project for {board.name}"):
        project = tmp / "project"
        s, zp = input_quant(tflite)
        q = quantize_input(images, s, zp)
        common = dict(labels=list(data.class_names), test_image=q[0], arena_bytes=measured["tflm_arena_bytes"],
                      preprocess=data.preprocess_for(r).to_dict(), model_name=f"ofa_{cfg.name}",
                      test_description=f"{eval_split_name(data)} image 0, label {data.class_names[labels[0]]}")
        native = None
        linked, link_error = {}, None
        if opts.backend == "tflm":
            from codegen.project import emit_project

            from .firmware import link_project

            emit_project(tflite, board, project, build_system=opts.build_system, kernels=target.kernels, arena=reserve,
                         budget=target.budget, **common)
            linked, link_error = link_project(project, board, target)
            if linked and not link_error:
                stages.note(f"linked: flash {linked['flash_bytes']:,} of {linked['flash_total_bytes']:,} B, RAM "
                            f"{linked['ram_bytes']:,} of {linked['ram_total_bytes']:,} B")
        else:
            from codegen.native.deploy import deploy_native, report_results

            _, summary = deploy_native(tflite, board, project, **common)
            native = report_results(summary, project)["memory"]["native"]
            if native.get("plan_png"):  # relative to results.json, as every path in it
                native["plan_png"] = os.path.relpath(native["plan_png"], model_dir.resolve())
            logits = _verify_native(project, board, q, paths["logits"]["tflm"], stages)
            paths["logits"]["native"] = logits
            top1["native"] = 100.0 * float((logits.argmax(1) == labels).mean())

    # ---- 6. report --------------------------------------------------------------------------------
    with stages("report", "Markdown, HTML and JSON"):
        k = cfg.n_classes
        names = {"float": "float", "onnx_int8": "onnx_int8", "tflite": "tflite_int8", "tflm": "tflm",
                 "native": "native"}
        accuracy = {names[p]: {"top1": top1[p] / 100.0, "confusion": _confusion(lg, labels, k),
                               "n": int(len(labels))} for p, lg in paths["logits"].items()}
        from ..quant import agreement as agreement_of
        from ..quant.tflite_inspect import inspect_tflite

        agree = agreement_of(paths["logits"])
        io = inspect_tflite(tflite)
        results = {
            "schema": 1,
            "title": f"ofa-mcu build: {cfg.name} subnet on {board.name}",
            "created_by": f"ofa-mcu {__version__}",
            "backend": opts.backend,
            "model": {"name": f"ofa_{cfg.name}", **model_fields(arch, cfg),
                      "tflite_bytes": len(tflite), "ops": measured["ops"],
                      "input": io["input"], "output": io["output"]},
            "dataset": {"name": data.name, "split": eval_split_name(data), "images": int(len(labels)),
                        "class_names": list(data.class_names)},
            "accuracy": accuracy,
            "agreement": {"paths": [names[p] for p in agree], "matrix": [[agree[a][b] for b in agree] for a in agree]},
            "memory": {
                "board": board_fields(board, target.budget if opts.backend == "tflm" else None,
                                      target.budget if opts.backend == "native" else None),
                "predicted": {"sram_bytes": int(predicted["sram_bytes"]),
                              "tflm_arena_bytes_host": int(predicted["tflm_arena_bytes_host"]),
                              "tflm_arena_bytes_target": int(predicted["tflm_arena_bytes_target"]),
                              "flash_bytes": int(predicted["tflite_bytes"]),
                              "source": f"calibrated TFLM memory model (the search's) for the {target.kernels} kernels: "
                                        "sram_bytes is the 32-bit target arena"},
                "measured": {"tflm_arena_bytes": measured["tflm_arena_bytes"], "head": measured["head"],
                             "tail": measured["tail"], "tflite_bytes": len(tflite),
                             "note": "64-bit host TFLM interpreter (reference kernels)"},
                **({"target": target_info, "reserved": reserved_fields(reserve, usage)} if reserve else {}),
                **({"linked": linked} if linked else {}),
            },
            "search": {**found.summary(), "efficiency_model": effmodel.name,
                       "constraints": dict(constraints.limits), "constraint_sources": dict(constraints.sources),
                       "plot_png": "search.png"},
            "versions": collect_versions(),
        }
        if native is not None:
            results["memory"]["native"] = native
        if finetune is not None:
            results["finetune"] = finetune
        results["timings"] = dict(stages.seconds)
        write_report(results, tmp / "report", base_dir=model_dir)  # paths in results are relative to model/
    return results, link_error


def eval_split_name(data) -> str:
    """Which split the verification images come from."""
    return "test" if data.test is not None else "holdout"


def quantize_input(images: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Normalised NCHW float images -> the int8 NHWC input of the .tflite."""
    return np.clip(np.round(images.transpose(0, 2, 3, 1) / scale) + zero_point, -128, 127).astype(np.int8)


def _verify_native(project: Path, board, q: np.ndarray, tflm: np.ndarray, stages: Stages) -> np.ndarray:
    """Run every verification input through the host build of the native C (it must equal
    TFLM bit for bit) and, on an emulated board, the firmware's self-test in QEMU."""
    from codegen.native import build_host, run_host

    exe = build_host(project)
    logits = run_host(exe, q.reshape(len(q), -1), int(tflm.shape[1])).reshape(tflm.shape)
    if not np.array_equal(logits, tflm):
        raise RuntimeError("internal error: the native C output differs from TFLM's; please report it")
    stages.note(f"native C equals TFLM bit for bit on {len(q)} images")
    if board.is_qemu and shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        from codegen.native.qemu import build_firmware, run_in_qemu

        code, out = run_in_qemu(build_firmware(project, board), board.qemu_machine)
        if code != 0:
            raise RuntimeError(f"the firmware failed its self-test in QEMU (exit {code}): {out.strip()[-300:]}")
        stages.note(f"firmware passed its self-test in QEMU {board.qemu_machine}")
    shutil.rmtree(project / "build", ignore_errors=True)  # the project holds sources; flash builds again
    return logits


def summary_lines(res: BuildResult) -> list[str]:
    """The end-of-build summary for the console."""
    r = res.results
    acc = r["accuracy"]
    mem = r["memory"]
    b = mem["board"]
    lines = [
        f"chosen arch: {json.dumps(r['model']['arch'])}",
        f"  {r['model']['macs'] / 1e6:.2f} M MACs, {r['model']['params']:,} params, "
        f"predicted top-1 {r['search']['predicted_accuracy']:.2f} % (supernet weights)"
        + (f"; fine-tuned {r['finetune']['epochs']} epochs ({r['finetune']['seconds']:.0f} s)" if "finetune" in r else ""),
        "top-1 on " + f"{r['dataset']['images']} {r['dataset']['split']} images: " + ", ".join(
            f"{k} {100 * v['top1']:.2f} %" if "top1" in v else k for k, v in acc.items()),
    ]
    if "reserved" in mem:
        t = mem["target"]
        lines.append(f"SRAM for the TFLM arena: {t['arena_bytes'] / 1024:.1f} KB on the 32-bit target ({t['source']}, "
                     f"{t['kernels']} kernels; predicted {mem['predicted']['sram_bytes'] / 1024:.1f} KB), reserved "
                     f"{mem['reserved']['arena_bytes'] / 1024:.1f} KB of a {b['model_sram_budget'] / 1024:.1f} KB budget")
    lines.append(f"flash: predicted {mem['predicted']['flash_bytes'] / 1024:.1f} KB, measured "
                 f"{mem['measured']['tflite_bytes'] / 1024:.1f} KB (.tflite), budget {b['model_flash_budget'] / 1024:.1f} KB")
    if "linked" in mem and "flash_bytes" in mem["linked"]:
        lk = mem["linked"]
        lines.append(f"linked firmware: flash {lk['flash_bytes'] / 1024:.1f} of {lk['flash_total_bytes'] / 1024:.0f} KB, "
                     f"RAM {lk['ram_bytes'] / 1024:.1f} of {lk['ram_total_bytes'] / 1024:.0f} KB: fits")
    elif "reserved" in mem:
        lines.append("not linked (no TFLM tree: pass --tflm-dir or set TFLM_DIR): the fit above is predicted")
    if r["search"].get("selection"):
        sel = r["search"]["selection"]
        lines.append(f"selection: {sel['rule']} ({sel['candidates_within']} candidates; the most accurate was predicted "
                     f"{sel['most_accurate']['predicted_accuracy']:.2f} %)")
    if "native" in mem:
        n = mem["native"]
        lines.append(f"native C: static buffer {n['peak_bytes'] / 1024:.1f} KB (native SRAM budget "
                     f"{b['native_model_sram_budget'] / 1024:.1f} KB)" + (
                         f", firmware {n['flash_bytes'] / 1024:.1f} KB of flash" if n.get("flash_bytes") else ""))
    lines.append(f"project: {res.out / 'project'}   report: {res.out / 'report' / 'report.md'}")
    return lines
