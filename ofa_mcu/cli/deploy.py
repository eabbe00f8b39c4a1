"""``ofa-mcu deploy`` (int8 .tflite -> firmware project) and ``ofa-mcu flash`` (build + flash)."""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from ..errors import UserError

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".pgm", ".ppm")


def _read_model(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model {path!r} does not exist; pass the path of an int8 .tflite file")
    return p.read_bytes()


def _labels(arg: str | None) -> list[str] | None:
    """``--labels``: a comma-separated list, or a text file with one label per line."""
    if arg is None:
        return None
    p = Path(arg)
    if p.is_file():
        labels = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    else:
        labels = [x.strip() for x in arg.split(",")]
    if not labels or any(not x for x in labels):
        raise UserError(f"--labels {arg!r} holds an empty label; give names separated by commas or a file, one per line")
    return labels


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

    try:
        img = Image.open(p)
        img = img.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"test image {path!r} cannot be read ({exc})") from None
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _write_report(summary: dict, project: Path, model_name: str, board) -> str:
    """Hand the summary to ``ofa_mcu.report`` (Markdown/HTML/JSON in ``project/report/``) when
    that module offers a deploy report; else the project's ``deploy_summary.json`` is the report."""
    try:
        from ..report.deploy import write_deploy_report
    except ImportError:
        return str(project / "deploy_summary.json")
    return str(write_deploy_report(summary, project, model_name=model_name, board=board))


def cmd_deploy(args: argparse.Namespace) -> int:
    """Verify the model in TFLite-Micro and write the firmware project."""
    from codegen.model_settings import image_dims
    from codegen.project import emit_project
    from codegen.tflite_model import check_int8_classifier, read_model
    from ..boards import load_board
    from ..io import read_json

    board = load_board(args.board)
    tflite = _read_model(args.model)
    info = read_model(tflite, f"model {args.model!r}")
    check_int8_classifier(info, f"model {args.model!r}")
    name = args.name or Path(args.model).stem
    out = Path(args.out) if args.out else Path(f"{Path(args.model).stem}-{board.name}")
    test_image = None
    if args.test_image:
        h, w, c = image_dims(info.input)
        test_image = load_test_image(args.test_image, h, w, c)
    preprocess = read_json(args.preprocess, "preprocess file") if args.preprocess else None
    project = emit_project(
        tflite, board, out, build_system=args.build_system, labels=_labels(args.labels),
        test_image=test_image, preprocess=preprocess, model_name=name, force=args.force,
        test_description=Path(args.test_image).name if args.test_image else None,
        allow_over_budget=args.allow_over_budget,
    )
    summary = json.loads((project / "deploy_summary.json").read_text())
    report = _write_report(summary, project, name, board)
    fit = "fits" if summary["fits"] else "DOES NOT FIT"
    print(
        f"ofa-mcu: wrote {project} ({summary['build_system']} project for {board.name}); model {summary['model_bytes']} B, "
        f"arena {summary['arena_bytes']} B ({summary['arena_measured_bytes']} B measured + margin), "
        f"ops {', '.join(summary['ops'])}; {fit}: SRAM headroom {summary['sram_headroom_bytes']} B, "
        f"flash headroom {summary['flash_headroom_bytes']} B; self-test class {summary['self_test']['expected_class']}; "
        f"report {report}"
    )
    return 0


def cmd_flash(args: argparse.Namespace) -> int:
    """Build and flash (or, for QEMU boards, build and run) a generated project."""
    from codegen.flash import Options, plan, read_manifest, run_plan

    project = Path(args.project)
    manifest = read_manifest(project)
    opts = Options(tflm_dir=args.tflm_dir, port=args.port, tool=args.tool, placeholders=args.dry_run)
    p = plan(manifest, opts, build=not args.no_build)
    if args.dry_run:
        print(f"# {p.board.name}: {manifest['build_system']} project in {project}")
        steps = list(p.build) + list(p.flash)
        for step in steps:
            print(f"# {step.what}" if step.what else "#")
            print(f"(cd {shlex.quote(str(project / step.cwd))} && {shlex.join(step.argv)})")
        return 0
    return run_plan(project, p, build=not args.no_build)


def register(sub) -> None:
    """Add ``deploy`` and ``flash``."""
    d = sub.add_parser("deploy", help="int8 .tflite -> TFLite-Micro firmware project for a board")
    d.add_argument("model", help="fully int8-quantized .tflite file")
    d.add_argument("--board", required=True, help="board name (ofa-mcu boards lists them)")
    d.add_argument("--out", help="project folder to create (default: <model>-<board>)")
    d.add_argument("--build-system", help="make, cmake, platformio, arduino, pico-sdk or esp-idf (default: the board's)")
    d.add_argument("--labels", help="class names: comma-separated, or a file with one per line")
    d.add_argument("--test-image", help="self-test input: an image (resized to the model input) or a .npy array")
    d.add_argument("--preprocess", help="JSON file: {resolution, channels, mean, std} (default: pixel / 255)")
    d.add_argument("--name", help="model name used in the generated files (default: the file name)")
    d.add_argument("--force", action="store_true", help="replace an existing output folder")
    d.add_argument("--allow-over-budget", action="store_true", help="write the project even if the model exceeds the board's budgets")
    d.set_defaults(func=cmd_deploy)
    f = sub.add_parser("flash", help="build and flash a generated project (QEMU boards: build and run)")
    f.add_argument("project", help="folder made by ofa-mcu deploy (holds ofa-mcu.json)")
    f.add_argument("--dry-run", action="store_true", help="print the exact commands without running them")
    f.add_argument("--tflm-dir", help="TFLite-Micro tree (make/cmake), or pico-tflmicro checkout (pico-sdk); default $TFLM_DIR")
    f.add_argument("--port", help="serial port for esptool / arduino-cli uploads")
    f.add_argument("--tool", help="flash tool instead of the board's (e.g. pyocd)")
    f.add_argument("--no-build", action="store_true", help="flash the existing build without rebuilding")
    f.set_defaults(func=cmd_flash)
