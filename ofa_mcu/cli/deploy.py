"""``ofa-mcu deploy`` (int8 .tflite -> firmware project, TFLite-Micro or native C) and
``ofa-mcu flash`` (build + flash, or run in QEMU)."""
from __future__ import annotations

import argparse
import contextlib
import json
import shlex
from pathlib import Path

from ..errors import UserError
from ..validate import POSITIVE, existing_dir, existing_file, non_empty
from .common import KERNELS_DEFAULT, add_reserve_args, project_folder

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".pgm", ".ppm")
# Tensor types of a graph that computes in float (an int8 model must have none).
FLOAT_TYPES = ("float32", "float16", "float64")


def _read_model(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model {path!r} does not exist; pass the path of an int8 .tflite file")
    return p.read_bytes()


def _looks_like_path(arg: str) -> bool:
    """A path, not a list: no comma (class names such as Fashion-MNIST's 'T-shirt/top' hold '/')."""
    return "," not in arg and ("/" in arg or "\\" in arg
                               or Path(arg).suffix.lower() in (".txt", ".csv", ".labels", ".names"))


def _labels_file(arg: str | None) -> str | None:
    """The file ``--labels`` names, or None when it is a comma-separated list."""
    if arg is None or Path(arg).is_file():
        return arg if arg is not None else None
    if Path(arg).is_dir():
        raise UserError(f"--labels {arg!r} is a folder; give a file with one label per line, or the names "
                        "separated by commas")
    if _looks_like_path(arg):
        raise UserError(f"--labels file {arg!r} does not exist; give the path of a file with one label per line, "
                        "or the names separated by commas")
    return None


def _labels(arg: str | None) -> list[str] | None:
    """``--labels``: a comma-separated list, or a text file with one label per line."""
    if arg is None:
        return None
    if _labels_file(arg):
        try:
            text = Path(arg).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UserError(f"--labels file {arg!r} is not UTF-8 text; give one label per line") from None
        labels = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not labels:
            raise UserError(f"--labels file {arg!r} holds no label; give one label per line")
    else:
        labels = [x.strip() for x in arg.split(",")]
    if not labels or any(not x for x in labels):
        raise UserError(f"--labels {arg!r} holds an empty label; give names separated by commas or a file, one per line")
    return labels


def check_integer_graph(tflite: bytes, what: str) -> None:
    """A UserError when an int8-in/int8-out model still computes in float inside (a
    DEQUANTIZE island, float math ops): TFLite-Micro deployment here needs a full-int8 graph."""
    from codegen.tflite_model import read_tflite

    m = read_tflite(tflite, what)
    floats = [t for t in m.tensors if t.type_name in FLOAT_TYPES]
    if floats:
        ops = sorted({op.opcode for op in m.ops if any(i in {t.index for t in floats} for i in op.inputs + op.outputs)})
        raise UserError(f"{what} computes in float inside ({len(floats)} float tensors, e.g. {floats[0].name!r}; "
                        f"ops {', '.join(ops) or '?'}); deploy needs a fully int8-quantized model: convert it with "
                        "a representative dataset and integer-only ops")


def load_test_image(path: str, height: int, width: int, channels: int):
    """A test image as uint8 ``[H, W, C]`` pixels (resized and converted to the model's input),
    or a ``.npy`` array used as given."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise UserError(f"test image {path!r} does not exist")
    if p.suffix.lower() == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise UserError(f"test image {path!r} is not a valid .npy array ({exc})") from None
    if p.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"test image {path!r}: use one of {', '.join(IMAGE_SUFFIXES)} or .npy")
    from PIL import Image, UnidentifiedImageError

    from ..data.user_data import open_image

    try:
        img = open_image(p, f"test image {path!r}")
        img = img.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"test image {path!r} cannot be read ({exc})") from None
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _write_report(summary: dict, project: Path, model_name: str, board, results: dict | None = None) -> None:
    """Hand the summary (and ``results`` merged over it) to ``ofa_mcu.report`` (Markdown/HTML/JSON
    in ``project/report/``)."""
    from ..report.deploy import write_deploy_report

    write_deploy_report(summary, project, results=results, model_name=model_name, board=board)


def _inputs(args: argparse.Namespace, tflite: bytes):
    """The model's summary and the test image and preprocessing the user gave (None: defaults)."""
    from codegen.model_settings import image_dims
    from codegen.tflite_model import check_int8_classifier, read_model
    from ..io import read_json

    info = read_model(tflite, f"model {args.model!r}")
    check_int8_classifier(info, f"model {args.model!r}")
    check_integer_graph(tflite, f"model {args.model!r}")
    test_image = None
    if args.test_image:
        h, w, c = image_dims(info.input)
        test_image = load_test_image(args.test_image, h, w, c)
    if args.preprocess:
        from codegen.model_settings import check_preprocess

        preprocess = check_preprocess(read_json(args.preprocess, "preprocess file"), f"preprocess file {args.preprocess}")
    else:
        preprocess = None
    return test_image, preprocess


def _evaluate_data(args, tflite: bytes, preprocess, native_project: Path | None = None) -> dict | None:
    """``--data``: the accuracy sections of the report (None without ``--data``); the native
    host build it compiles is removed afterwards (``ofa-mcu flash`` builds the firmware)."""
    if not args.data:
        return None
    import shutil

    from codegen.model_settings import default_preprocess
    from codegen.tflite_model import read_model

    from .deploy_data import evaluate, summary_line

    info = read_model(tflite)
    try:
        results = evaluate(args.user_data, args.data, tflite, info, preprocess or default_preprocess(info),
                           native_project, args.float_model)
    finally:
        if native_project is not None:
            shutil.rmtree(native_project / "build", ignore_errors=True)
    print(summary_line(results))
    return results


def _deploy_tflm(args, board, tflite: bytes, out: Path, name: str, test_image, preprocess) -> int:
    """Measure the 32-bit arena in QEMU and link the firmware when a TFLM tree is given (else the
    arena is derived and the fit predicted), write the project and its report."""
    from codegen.project import choose_build_system, emit_project
    from ..quant.tflm_runner import measure_arena

    from ..pipeline.firmware import firmware_target, link_project, reserved_fields, target_arena

    bs = choose_build_system(board, args.build_system)
    target = firmware_target(board, "tflm", args.kernels, args.tflm_dir, bs, args.reserve_flash_kb, args.reserve_sram_kb)
    host = measure_arena(tflite)
    reserve, target_info, usage = target_arena(tflite, board, target, host)
    link_error = None
    with _staged(args, out) as tmp:
        project = emit_project(
            tflite, board, tmp, build_system=bs, labels=_labels(args.labels),
            test_image=test_image, preprocess=preprocess, model_name=name, force=True,
            test_description=Path(args.test_image).name if args.test_image else None,
            allow_over_budget=args.allow_over_budget, arena_bytes=host, kernels=target.kernels, arena=reserve,
            budget=target.budget,
        )
        linked, link_error = link_project(project, board, target)
        summary = json.loads((project / "deploy_summary.json").read_text())
        extra = {"memory": {"target": target_info, "reserved": reserved_fields(reserve, usage),
                            **({"linked": linked} if linked else {})}}
        from ..report.deploy import merge

        _write_report(summary, project, name, board, merge(extra, _evaluate_data(args, tflite, preprocess) or {}))
    if link_error:
        raise UserError(link_error)
    project = out.absolute()
    report = project / "report" / "report.md"
    if linked:
        fit = (f"linked: flash {linked['flash_bytes']:,} of {linked['flash_total_bytes']:,} B, RAM {linked['ram_bytes']:,} "
               f"of {linked['ram_total_bytes']:,} B")
    else:
        fit = ("fits (predicted: not linked; pass --tflm-dir to link)" if summary["fits"]
               else "DOES NOT FIT (predicted)")
    print(
        f"ofa-mcu: wrote {project} ({summary['build_system']} project for {board.name}); model {summary['model_bytes']} B, "
        f"arena {summary['arena_bytes']} B reserved ({target_info['arena_bytes']} B on the 32-bit target, "
        f"{target_info['source']}, {target.kernels} kernels), ops {', '.join(summary['ops'])}; {fit}; SRAM headroom "
        f"{summary['sram_headroom_bytes']} B, flash headroom {summary['flash_headroom_bytes']} B; self-test class "
        f"{summary['self_test']['expected_class']}; report {report}"
    )
    return 0


def _deploy_native(args, board, tflite: bytes, out: Path, name: str, test_image, preprocess) -> int:
    from codegen.native.deploy import deploy_native, report_results

    with _staged(args, out) as tmp:
        staged, summary = deploy_native(
            tflite, board, tmp, labels=_labels(args.labels), test_image=test_image, preprocess=preprocess,
            model_name=name, force=True, test_description=Path(args.test_image).name if args.test_image else None,
            allow_over_budget=args.allow_over_budget,
        )
        from ..report.deploy import merge

        data = _evaluate_data(args, tflite, preprocess, native_project=staged)
        _write_report(summary, staged, name, board, merge(report_results(summary, staged), data or {}))
    project = out.absolute()
    report = project / "report" / "report.md"
    n = summary["native"]
    fit = "fits" if summary["fits"] else "DOES NOT FIT"
    image = f", firmware image {n['flash_bytes']} B" if "flash_bytes" in n else ""
    print(
        f"ofa-mcu: wrote {project} (native C project for {board.name}); static buffer {n['static_buffer_bytes']} B "
        f"(TFLM arena {summary['arena_measured_bytes']} B), weights and tables {n['const_bytes']} B{image}, "
        f"{n['n_layers']} layers, {n['macs']:,} MACs; {fit}: SRAM headroom {summary['sram_headroom_bytes']} B, "
        f"flash headroom {summary['flash_headroom_bytes']} B; self-test class {summary['self_test']['expected_class']}; "
        f"report {report}"
    )
    return 0


BACKENDS = {"tflm": _deploy_tflm, "native": _deploy_native}


def _with_console(board, args: argparse.Namespace):
    """``--console``: the board printing on the chosen console (bare-metal and Pico SDK projects;
    Arduino and ESP-IDF frameworks own their console)."""
    if args.console is None:
        return board
    from codegen.bsp_config import FRAMEWORK_CONSOLE, bsp_of

    bs = "native-make" if args.backend == "native" else (args.build_system or board.default_build_system)
    if bs in board.build_systems or bs == "native-make":
        kind = bsp_of(board, bs)
        if kind in FRAMEWORK_CONSOLE and args.console != FRAMEWORK_CONSOLE[kind]:
            raise UserError(f"--console {args.console}: a {bs} project for {board.name} prints where its framework does "
                            f"({FRAMEWORK_CONSOLE[kind]}); drop --console")
    return board.with_console(args.console)


def _inputs_of(args: argparse.Namespace) -> list[str]:
    """The files deploy reads (the output folder may not hold any of them)."""
    return [p for p in (args.model, _labels_file(args.labels), args.test_image, args.preprocess, args.data,
                        args.float_model) if p]


def _staged(args: argparse.Namespace, out: Path):
    """The project and its report are written into one staged folder (``ofa_mcu.io``)."""
    from ..io import staged_output

    return staged_output(out, args.force, inputs=_inputs_of(args), what="project folder", kind="deploy")


def cmd_deploy(args: argparse.Namespace) -> int:
    """Verify the model in TFLite-Micro and write the firmware project of the chosen backend."""
    from ..boards import load_board
    from ..io import check_output_folder
    from ..pipeline.build import check_build_system

    board = _with_console(load_board(args.board), args)
    out = Path(args.out) if args.out else Path(f"{Path(args.model).stem}-{board.name}")
    check_output_folder(out, args.force, inputs=_inputs_of(args), what="project folder")
    check_build_system(args.backend, board, args.build_system)
    _labels(args.labels)
    tflite = _read_model(args.model)
    test_image, preprocess = _inputs(args, tflite)
    from ..quant.tflm_runner import check_tflm_survives

    check_tflm_survives(tflite, f"model {args.model!r}")
    name = args.name or Path(args.model).stem
    if args.float_model and not args.data:
        raise UserError("--float-model is the reference of the --data evaluation; add --data DIR or drop --float-model")
    if args.data:
        from codegen.tflite_model import read_model

        from .deploy_data import load

        args.user_data = load(args.data, read_model(tflite), _labels(args.labels))
        if args.float_model:
            from .deploy_data import open_float_model

            open_float_model(args.float_model)
    return BACKENDS[args.backend](args, board, tflite, out, name, test_image, preprocess)


def _print_dry_run(project: Path, manifest: dict, steps) -> None:
    print(f"# {manifest['board']}: {manifest['build_system']} project in {project}")
    for step in steps:
        print(f"# {step.what}" if step.what else "#")
        print(f"(cd {shlex.quote(str(project / step.cwd))} && {step.command()})")


def _count_instructions(args: argparse.Namespace, project: Path, manifest: dict, p) -> int:
    """``flash --count-instructions``: build, run once under QEMU's instruction-counting
    plugin and print the per-layer counts and the latency estimate (native projects: one row
    per generated layer; TFLite-Micro projects: one row per op, the total adding the
    interpreter's work between ops). ``--json``: one JSON object instead."""
    import sys

    from codegen.flash import Step, artifact, qemu_argv, run_plan

    board = p.board
    backend = manifest.get("backend")
    elf = artifact(manifest, "elf")
    if args.dry_run:
        from codegen.native.qemu import plugin_args

        extra = plugin_args("<libofa_insn.so built from firmware/tools/insn_plugin.c>",
                            "<address of ofa_layer_marker>", "<counts file>", "<qemu log>")
        _print_dry_run(project, manifest, list(p.build) + [Step(qemu_argv(board.qemu_machine, elf, tuple(extra)),
                                                               what="count instructions per layer")])
        return 0
    from codegen.native.profile import latency_lines, measured_latency, project_tflite, tflm_layers
    from codegen.native.qemu import count_instructions

    from ..io import read_json

    def echo(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout)

    run_plan(project, p, echo=echo, build=not args.no_build, flash=False, quiet=args.json)
    echo(f"$ count instructions: {board.qemu_machine}, {elf}")
    if backend == "native":
        layers = read_json(project / "plan.json", "the project's plan.json")["layers"]
        counts = count_instructions(project / elf, board.qemu_machine)
    else:
        layers = tflm_layers(project_tflite(project))
        counts = count_instructions(project / elf, board.qemu_machine, n_layers=len(layers), layout="tflm")
    lat = measured_latency(counts["per_layer"], layers, board)
    if args.json:
        print(json.dumps({"board": board.name, "backend": backend, "instructions": counts["total"],
                          "per_layer": [{"index": layer.get("index", i), "name": layer["name"],
                                         "macs": int(layer.get("macs", 0)), "instructions": int(n)}
                                        for i, (layer, n) in enumerate(zip(layers, counts["per_layer"]))],
                          "estimated_ms": 1e3 * counts["total"] * lat["cycles_per_instruction"] / lat["clock_hz"],
                          "exit_code": counts["exit_code"]}))
        return int(counts["exit_code"])
    print(counts["stdout"], end="" if counts["stdout"].endswith("\n") else "\n")
    lat = {**lat, "total_instructions": counts["total"],
           "estimated_ms": 1e3 * counts["total"] * lat["cycles_per_instruction"] / lat["clock_hz"]}
    for line in latency_lines(lat):
        print(line)
    if backend == "tflm":
        print(f"(the total counts the whole Invoke: {counts['total'] - sum(counts['per_layer']):,} instructions of "
              "it are the interpreter's own, between the ops)")
    return int(counts["exit_code"])


def _monitor_target(args: argparse.Namespace, board, manifest: dict) -> bool:
    """Whether ``--monitor`` opens a serial port after flashing (QEMU and semihosting sessions
    already show the console in the flash step)."""
    if not args.monitor:
        return False
    if manifest.get("console", board.console) == "semihosting":
        raise UserError("this project prints through semihosting: the openocd session of the flash step shows it; "
                        "drop --monitor (or regenerate with --console uart)")
    return not board.is_qemu


def _open_monitor(args: argparse.Namespace, board):
    """The board's serial port, opened (found by its USB id unless ``--port`` names it), and the
    board reset through it where its console says so (``reset_on_open``)."""
    from codegen.monitor import find_port, open_port, reset_board

    name = find_port(board, args.port)
    print(f"$ monitor {name} at {board.console_spec.baud} Bd (Ctrl-C ends)")
    port = open_port(name, board.console_spec.baud)
    if line := board.console_spec.reset_on_open:
        print(f"$ reset the board through {line.upper()} (as idf.py monitor does)")
        if not reset_board(port, line):
            print(f"(the port has no {line.upper()} line: press the board's RESET button to see its run)")
    return port


def _check_countable(manifest: dict, board) -> None:
    """``--count-instructions`` runs a native or TFLite-Micro make/cmake project on a QEMU board."""
    if not board.is_qemu:
        raise UserError(f"--count-instructions runs the firmware in QEMU; {board.name} is not a QEMU board "
                        "(use qemu-mps2-an386 or qemu-mps2-an500)")
    backend = manifest.get("backend")
    if backend not in ("native", "tflm") or manifest["build_system"] not in ("native-make", "make", "cmake"):
        raise UserError(f"--count-instructions needs a native or a TFLite-Micro make/cmake project (this one: "
                        f"{backend}, {manifest['build_system']}); regenerate it with ofa-mcu deploy")


def _check_inputs(args: argparse.Namespace, project: Path, manifest: dict, p) -> None:
    """What a run refuses before any work, a dry run too: the project ``--count-instructions``
    needs, the TFLM tree the user named and its kernel set; with ``--no-build``, the build the
    flash step (or the instruction count) loads."""
    from codegen.flash import check_built

    if args.count_instructions:
        _check_countable(manifest, p.board)
    for check in p.dry_checks:
        check()
    if args.no_build and not args.dry_run:
        check_built(project, manifest, "elf" if args.count_instructions else p.flash_artifact)


def cmd_flash(args: argparse.Namespace) -> int:
    """Build and flash (or, for QEMU boards, build and run) a generated project; ``--monitor``
    then prints what the board says on its serial console."""
    from codegen.flash import Options, plan, read_manifest, run_plan

    project = project_folder(args.project)
    manifest = read_manifest(project)
    opts = Options(tflm_dir=args.tflm_dir, port=args.port, tool=args.tool, placeholders=args.dry_run,
                   kernels=args.kernels or manifest.get("kernels"), use_library_cache=not args.no_library_cache)
    p = plan(manifest, opts, build=not args.no_build)
    watch = _monitor_target(args, p.board, manifest)
    if args.json and not args.count_instructions:
        raise UserError("--json is the output of --count-instructions; add --count-instructions or drop --json")
    _check_inputs(args, project, manifest, p)
    if args.count_instructions:
        return _count_instructions(args, project, manifest, p)
    if args.dry_run:
        _print_dry_run(project, manifest, list(p.build) + list(p.flash))
        if watch:
            print(f"# then the serial console: python3 -m serial.tools.miniterm {args.port or '<PORT>'} "
                  f"{p.board.console_spec.baud}")
        return 0
    from codegen.monitor import monitor

    with contextlib.ExitStack() as ports:  # closes a port opened early if the flash fails
        # A probe's port (ST-LINK VCP) is opened before the flash's reset, else after it (USB CDC and
        # USB-UART ports come and go with the board, or are the flasher's own port).
        early = None
        if watch and p.board.console_spec.open_before_flash:
            early = ports.enter_context(_open_monitor(args, p.board))
        res = run_plan(project, p, build=not args.no_build)
        for line in _run_summary(project, manifest, p.board, res):
            print(line)
        if not watch or res.returncode != 0:
            return res.returncode
        port = early if early is not None else _open_monitor(args, p.board)
        return monitor(port, timeout=args.monitor_timeout)


def _run_summary(project: Path, manifest: dict, board, res) -> list[str]:
    """What the run measured (TFLM firmware on QEMU prints its memory use) and the image's sizes."""
    from codegen.firmware_output import parse_usage

    lines = []
    elf = project / manifest.get("artifacts", {}).get("elf", "build/app.elf")
    if res.build_output and elf.is_file() and board.memory is not None:
        from codegen.native.qemu import firmware_sizes

        sz = firmware_sizes(elf, board.memory.flash_origin, board.memory.flash_length)
        lines.append(f"ofa-mcu: linked {elf.relative_to(project)}: flash {sz['flash_bytes']:,} of "
                     f"{board.memory.flash_length:,} B (code {sz['text_bytes']:,}, constants {sz['rodata_bytes']:,}, "
                     f"data {sz['data_bytes']:,}), RAM .data+.bss {sz['data_bytes'] + sz['bss_bytes']:,} of "
                     f"{board.memory.ram_length:,} B")
    u = parse_usage(res.run_output)
    if "arena_used_bytes" in u:
        lines.append(f"ofa-mcu: measured on {board.name}: arena_used_bytes {u['arena_used_bytes']:,} of "
                     f"{u['arena_reserved_bytes']:,} reserved; stack {u.get('stack_used_bytes', 0):,} of "
                     f"{u.get('stack_reserved_bytes', 0):,} B; heap {u.get('heap_used_bytes', 0):,} of "
                     f"{u.get('heap_reserved_bytes', 0):,} B; self-test {u['self_test'] or 'not reported'}")
    return lines


def register(sub) -> None:
    """Add ``deploy`` and ``flash``."""
    d = sub.add_parser("deploy", help="int8 .tflite -> firmware project (TFLite-Micro or native C) for a board")
    d.add_argument("model", type=existing_file("model", "pass the path of an int8 .tflite file"),
                   help="fully int8-quantized .tflite file")
    d.add_argument("--board", required=True, help="board name (ofa-mcu boards lists them)")
    d.add_argument("--out", help="project folder to create (default: <model>-<board>)")
    from codegen.native.kernels import supported_ops

    d.add_argument("--backend", choices=sorted(BACKENDS), default="tflm",
                   help="tflm: TFLite-Micro interpreter project (default); native: generated C kernels with a "
                        f"static memory plan (ops: {', '.join(supported_ops())})")
    d.add_argument("--build-system", help="tflm backend: make, cmake, platformio, arduino, pico-sdk or esp-idf (default: the board's)")
    d.add_argument("--labels", help="class names: comma-separated, or a file with one per line")
    d.add_argument("--test-image", type=existing_file("test image"),
                   help="self-test input: an image (resized to the model input) or a .npy array")
    d.add_argument("--preprocess", type=existing_file("preprocess file"),
                   help="JSON file: {resolution, channels, mean, std} (default: pixel / 255)")
    d.add_argument("--data", type=existing_dir("--data folder"),
                   help="labelled data to measure accuracy on: class folders of images, or one .npy/.bin array with "
                        "labels.txt (or labels.npy); top-1 per path (TFLite, TFLite-Micro, native host build), "
                        "per-class accuracy, confusion matrices and agreement go into the report")
    d.add_argument("--float-model", type=existing_file("--float-model"),
                   help="with --data: the float model (.onnx or float .tflite) as the reference, for the "
                        "quantization drop")
    d.add_argument("--name", type=non_empty("--name"), help="model name used in the generated files (default: the file name)")
    d.add_argument("--force", action="store_true",
                   help="replace what an earlier deploy wrote in --out (other files are kept)")
    d.add_argument("--allow-over-budget", action="store_true", help="write the project even if the model exceeds the board's budgets")
    d.add_argument("--kernels", choices=["reference", "cmsis-nn"],
                   help="tflm backend: the TFLM kernel set the firmware is built with; sizes the arena and the budget "
                        f"(default: {KERNELS_DEFAULT}; or the tree's)")
    d.add_argument("--tflm-dir", metavar="DIR",
                   help="tflm backend: a TFLite-Micro tree (default: $TFLM_DIR): the arena is then measured in QEMU "
                        "on the board's core and the firmware linked for the board (real sizes in the report)")
    add_reserve_args(d)
    d.add_argument("--console", choices=["uart", "semihosting", "usb-cdc"],
                   help="where the firmware prints (default: the board's; bare-metal and Pico SDK projects): uart "
                        "(the board's UART, e.g. the ST-LINK virtual COM port), semihosting (through a debugger; "
                        "prints nothing without one), usb-cdc (Pico)")
    d.set_defaults(func=cmd_deploy)
    f = sub.add_parser("flash", help="build and flash a generated project (QEMU boards: build and run)")
    f.add_argument("project", type=existing_dir("project folder"),
                   help="folder made by ofa-mcu deploy (holds ofa-mcu.json), or the output folder of ofa-mcu build "
                        "(its project/ is used)")
    f.add_argument("--dry-run", action="store_true", help="print the exact commands without running them")
    f.add_argument("--tflm-dir", help="TFLite-Micro tree made by create_tflm_tree.py (make/cmake; compiled once into "
                   "a cached library under ~/.cache/ofa-mcu), or a pico-tflmicro checkout (pico-sdk); default $TFLM_DIR")
    f.add_argument("--kernels", choices=["reference", "cmsis-nn"],
                   help="the kernel set the tree must hold (default: the one the project's arena was sized for)")
    f.add_argument("--no-library-cache", action="store_true",
                   help="compile TFLite-Micro inside the project (as a user's own make would) instead of linking "
                        "the cached library")
    f.add_argument("--port", help="serial port for esptool / arduino-cli uploads and --monitor (a device or a "
                                  "pyserial URL; default for --monitor: the board's USB serial port)")
    f.add_argument("--tool", help="flash tool instead of the board's (e.g. pyocd)")
    f.add_argument("--no-build", action="store_true", help="flash the existing build without rebuilding")
    f.add_argument("--count-instructions", action="store_true",
                   help="QEMU boards (native and TFLite-Micro make/cmake projects): count the instructions of one "
                        "inference per layer with QEMU's plugin and print the latency estimate (instructions x "
                        "cycles per instruction / clock)")
    f.add_argument("--json", action="store_true",
                   help="with --count-instructions: print one JSON object (instructions, per_layer, board)")
    f.add_argument("--monitor", action="store_true",
                   help="after flashing, print the board's serial console until the firmware reports its status "
                        "(exit code = that status), --monitor-timeout or Ctrl-C")
    f.add_argument("--monitor-timeout", type=POSITIVE, metavar="SECONDS", help="stop --monitor after this long")
    f.set_defaults(func=cmd_flash)
