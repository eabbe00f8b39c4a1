"""Render a TFLite-Micro firmware project for a board and build system, and write it atomically.

Python computes every number (ops, arena, quantization, lookup tables, expectations); the
Jinja2 templates under ``templates/`` hold all the C, build-file and README text. Rendering is
deterministic: the same inputs give byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ofa_mcu.boards import Board, load_board
from ofa_mcu.errors import UserError
from ofa_mcu.io import check_output_folder, safe_relpath, write_tree_atomically

from . import cident
from .bsp_config import board_config_context
from .build_spec import tflm_flag_context, with_framework
from .flash import MANIFEST, QEMU_FLAGS, Options, plan, project_manifest
from .model_settings import (
    NP_DTYPES,
    SELF_TEST_TOLERANCE_LSB,
    default_preprocess,
    image_dims,
    pixel_lut,
    preprocess_rule,
    tensor_context,
)
from .op_registry import resolver_methods
from .paths import firmware_dir, templates_dir
from .tflite_model import ModelInfo, check_int8_classifier, read_model
from .tflm_arrays import c_hex_rows, c_int_rows
from .tflm_tree import build_flags


def tool_version() -> str:
    """The ofa-mcu version recorded in every generated file."""
    from ofa_mcu import __version__

    return __version__


def _toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def build_spec(name: str) -> dict:
    """A build system's ``templates/<name>/build.toml``."""
    path = templates_dir() / name / "build.toml"
    if not path.is_file():
        raise UserError(f"no templates for build system {name!r} (expected {path})")
    return _toml(path)


def choose_build_system(board: Board, requested: str | None) -> str:
    """The requested build system if the board supports it, else the board's default."""
    if requested is None:
        return board.default_build_system
    if requested not in board.build_systems:
        raise UserError(
            f"board {board.name} does not support build system {requested!r}; choose one of {', '.join(board.build_systems)}"
        )
    return requested


def tflm_target_arch(board: Board) -> str:
    """TFLM's ``TARGET_ARCH`` for cortex_m_generic (``cortex-m7+fp`` ...)."""
    return board.core + ("+fp" if board.fpu != "none" and board.is_cortex_m else "")


@dataclass(frozen=True)
class TestVector:
    """The self-test input and what the host TFLM run gave for it."""

    input: np.ndarray  # flat, model input dtype
    expected_class: int
    expected_scores: np.ndarray  # flat, model output dtype
    description: str


def make_test_vector(
    tflite: bytes, info: ModelInfo, lut: np.ndarray, test_image, description: str | None = None, arena: int | None = None
) -> TestVector:
    """Turn ``test_image`` into the model input and run it through the host TFLM interpreter.

    ``test_image`` is an array in the model's input dtype (used as is), a uint8 image
    ``[H, W]`` or ``[H, W, C]`` for an int8 model (mapped through the pixel table, grayscale
    repeated to C channels), a dict with ``input`` and optional ``expected_class`` /
    ``expected_scores`` (checked against the host run), or None (a deterministic gradient).
    """
    from ofa_mcu.quant.tflm_runner import run_reference

    t = info.input
    h, w, c = image_dims(t)
    expected = None
    if isinstance(test_image, dict):
        expected = test_image
        description = description or test_image.get("description")
        test_image = test_image.get("input")
    if test_image is None:
        yy, xx = np.mgrid[0:h, 0:w]
        pixels = ((yy * 7 + xx * 3) % 256).astype(np.uint8)
        test_image = np.repeat(pixels[:, :, None], c, axis=2)
        description = description or "synthetic gradient (no test image given)"
    arr = np.asarray(test_image)
    dtype = NP_DTYPES[t.dtype]
    if arr.dtype == np.uint8 and dtype == np.int8:
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[:2] != (h, w):
            raise UserError(f"test image is {list(np.asarray(test_image).shape)}; the model wants {h}x{w} pixels: resize it first")
        if arr.shape[2] == 1 and c > 1:
            arr = np.repeat(arr, c, axis=2)
        if arr.shape[2] != c:
            raise UserError(f"test image has {arr.shape[2]} channels; the model wants {c}")
        arr = lut[np.arange(c)[None, None, :], arr]
    elif arr.dtype != dtype:
        raise UserError(f"test image dtype {arr.dtype} does not match the model input ({t.dtype}) or uint8 pixels")
    if arr.size != t.size:
        raise UserError(f"test image has {arr.size} values; the model input has {t.size}")
    flat = np.ascontiguousarray(arr.reshape(-1).astype(dtype))
    out = run_reference(tflite, flat.reshape(t.shape), arena).reshape(-1)
    got_class = int(np.argmax(out))
    if expected is not None:
        if "expected_class" in expected and int(expected["expected_class"]) != got_class:
            raise UserError(
                f"the host TFLM run gives class {got_class} for the test image, the caller expected {expected['expected_class']}"
            )
        if "expected_scores" in expected and not np.array_equal(np.asarray(expected["expected_scores"]).reshape(-1), out):
            raise UserError("the host TFLM run's scores differ from the expected scores given with the test image")
    return TestVector(flat, got_class, out, description or "test input")


def _c_float(x: float) -> str:
    s = format(float(x), ".9g")
    if "e" not in s and "." not in s and "inf" not in s and "nan" not in s:
        s += ".0"
    return s + "f"


def baremetal_config(backend: str = "tflm") -> dict:
    """Stack and heap bytes of the bare-metal firmware of ``backend`` (``templates/common/baremetal.toml``)."""
    cfg = _toml(templates_dir() / "common" / "baremetal.toml")
    table = cfg if backend == "tflm" else cfg[backend]
    return {"stack_bytes": int(table["stack_bytes"]), "heap_bytes": int(table["heap_bytes"])}


def linker_script(board, banner: str, backend: str = "tflm") -> str:
    """The one Cortex-M linker script (``templates/common/linker.ld.j2``) for ``board``'s flash and
    RAM regions, with ``backend``'s stack and heap. ``board`` is a ``Board`` or a mapping with
    ``name``, ``mcu`` and ``memory`` (``flash_origin``, ``flash_length``, ``ram_origin``, ``ram_length``)."""
    return template_environment().get_template("common/linker.ld.j2").render(
        banner=banner, board=board, baremetal=baremetal_config(backend))


def template_environment():
    """The Jinja2 environment over ``templates/`` (strict undefined, C filters)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_string"] = cident.c_string
    env.filters["c_comment"] = cident.c_comment
    env.filters["c_float"] = _c_float
    return env


def render_project(
    tflite: bytes,
    board: Board,
    *,
    build_system: str,
    labels: list[str],
    test: TestVector,
    arena: dict,
    preprocess: dict,
    model_name: str,
    project_name: str,
    info: ModelInfo,
    kernels: str | None = None,
    budget=None,
) -> dict[str, bytes]:
    """All files of the project as ``{relative path: bytes}`` (deterministic, pure). ``arena`` is
    :func:`ofa_mcu.boards.budget.arena_reserve`'s dict; ``kernels`` the TFLM kernel set the
    arena and the budget were sized for; ``budget`` the board's model budget (default: its own)."""
    spec = with_framework(build_spec(build_system), board)
    common = _toml(templates_dir() / "common" / "files.toml")
    if spec.get("needs_memory_regions") and board.memory is None:
        raise UserError(f"board {board.name} has no [memory] regions for a {build_system} project")
    project_ident = cident.c_identifier(project_name, "project")
    sketch = project_ident
    src = spec["src_dir"].format(sketch=sketch)
    cc = spec["cc_ext"]
    main = spec["main"].format(sketch=sketch)
    subst = {"src": src, "cc": cc, "main": main, "sketch": sketch}
    renders = {k.format(**subst): v for k, v in common["render"].items()}
    renders.update({k.format(**subst): v for k, v in spec.get("render", {}).items()})
    copies = {}
    for f in list(common["copy"]["files"]) + list(spec.get("copy", {}).get("files", [])):
        copies[f"{src}/{PurePosixPath(f).name}"] = firmware_dir() / f
    src_files = sorted(
        PurePosixPath(p).name for p in list(renders) + list(copies)
        if PurePosixPath(p).parent == PurePosixPath(src) and PurePosixPath(p).suffix in (".c", ".cc", ".cpp")
    )
    manifest = project_manifest(
        backend="tflm", board=board, build_system=build_system, project=project_name,
        artifacts=spec.get("artifacts", {}), model_name=model_name, tflite=tflite,
        sketch=sketch if build_system == "arduino" else None, ops=list(info.ops), kernels=kernels,
        console=board_config_context(board, build_system)["console"],
    )
    doc_plan = plan(manifest, Options(placeholders=True))
    sha = manifest["model"]["sha256"]
    ctx = {
        "banner": f"Generated by ofa-mcu {tool_version()} for {board.name} ({build_system}); do not edit, regenerate.",
        "project_name": project_name,
        "project_ident": project_ident,
        "guard_prefix": "OFA_" + cident.c_macro(project_name, "P"),
        "model_name": model_name,
        "model_len": len(tflite),
        "model_sha256": sha,
        "model_rows": c_hex_rows(tflite),
        "array_name": "g_" + cident.c_identifier(model_name, "model") + "_tflite",
        "board": board,
        "qemu_flags": " ".join(QEMU_FLAGS),
        "build": {**spec, "preamble_includes": list(spec.get("preamble_includes", []))},
        "ops": list(info.ops),
        "resolver_ops": list(zip(info.ops, resolver_methods(info.ops))),
        "resolver_methods": resolver_methods(info.ops),
        "input": tensor_context(info.input),
        "output": tensor_context(info.output),
        "labels": list(labels),
        "arena": arena,
        "lut_rows": [c_int_rows(row) for row in pixel_lut(preprocess, info.input)],
        "preprocess_rule": preprocess_rule(preprocess),
        "test": {
            "rows": c_int_rows(test.input),
            "expected_class": test.expected_class,
            "expected_scores": [int(v) for v in test.expected_scores],
            "tolerance_lsb": SELF_TEST_TOLERANCE_LSB,
            "description": test.description,
        },
        "flags": {
            "has_dwt": int(board.has_dwt_cycle_counter),
            "cortex_m7": int(board.core == "cortex-m7"),
            "input_serial": int(board.input_source == "serial"),
            "input_camera": int(board.input_source == "camera"),
        },
        "baremetal": baremetal_config("tflm"),
        "bsp": board_config_context(board, build_system),
        # The same figures as emit_project's budget check: a project forced over budget says so.
        "budget_problems": check_budget(board, arena["total"],
                                        len(tflite) + test.input.nbytes + pixel_lut(preprocess, info.input).nbytes,
                                        budget=budget),
        "kernels": kernels,
        **tflm_flag_context(),
        "entry_template": f"common/entry/{spec['entry']}.j2",
        "app_sources": [f"{src}/{f}" for f in src_files],
        "src_sources": src_files,
        "main_path": main,
        "src_prefix": f"{src}/",
        "cc_ext": cc,
        "tflm_target_arch": tflm_target_arch(board),
        "tflm_build": build_flags(),
        "tflm_tree_hint": "/path/to/tflm-tree",
        "build_commands": [s.shell() for s in doc_plan.build],
        "flash_commands": [s.shell() for s in doc_plan.flash],
    }
    env = template_environment()
    files: dict[str, bytes] = {}
    for out, tpl in sorted(renders.items()):
        files[safe_relpath(out)] = env.get_template(tpl).render(ctx).encode("utf-8")
    for out, path in sorted(copies.items()):
        files[safe_relpath(out)] = path.read_bytes()
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return files


# backend -> (what uses SRAM, what uses flash)
BUDGET_WORDS = {"tflm": ("arena", "model data"), "native": ("static buffer", "weights and tables")}


def budgets(board: Board, backend: str = "tflm", budget=None) -> tuple[int, int]:
    """``(SRAM, flash)`` bytes ``budget`` (default: the board's own for ``backend``) leaves for the model."""
    b = budget or board.budget(backend)
    return b.sram_bytes, b.flash_bytes


def check_budget(board: Board, sram_needed: int, flash_needed: int, backend: str = "tflm", budget=None) -> list[str]:
    """Reasons the model does not fit the board's budgets for ``backend`` (empty when it fits)."""
    sram_budget, flash_budget = budgets(board, backend, budget)
    sram_what, flash_what = BUDGET_WORDS[backend]
    problems = []
    if sram_needed > sram_budget:
        problems.append(f"{sram_what} {sram_needed} B > SRAM budget {sram_budget} B")
    if flash_needed > flash_budget:
        problems.append(f"{flash_what} {flash_needed} B > flash budget {flash_budget} B")
    return problems


def budget_error(board: Board, problems: list[str]) -> UserError:
    """The one-line error for a model over the board's budgets."""
    return UserError(f"the model does not fit {board.name}: {'; '.join(problems)}; pick a smaller model or another "
                     "board (or pass --allow-over-budget)")


def deploy_summary(info: ModelInfo, board: Board, build_system: str, arena: dict, host_arena: int, tflite: bytes,
                   flash_needed: int, test: TestVector, kernels: str | None, budget) -> dict:
    """Sizes, arena, ops and budgets of a generated project (JSON-ready)."""
    return {
        "board": board.name,
        "build_system": build_system,
        "kernels": kernels,
        "model_bytes": len(tflite),
        "model_sha256": hashlib.sha256(tflite).hexdigest(),
        "model_data_flash_bytes": flash_needed,
        "arena_measured_bytes": host_arena,
        "arena_target_bytes": arena["target_bytes"],
        "arena_target_source": arena["source"],
        "arena_bytes": arena["total"],
        "arena_margin_rule": arena["rule"],
        "ops": list(info.ops),
        "n_operators": info.n_operators,
        "input": tensor_context(info.input),
        "output": tensor_context(info.output),
        "budget": budget.to_dict(),
        "sram_budget_bytes": budget.sram_bytes,
        "flash_budget_bytes": budget.flash_bytes,
        "sram_headroom_bytes": budget.sram_bytes - arena["total"],
        "flash_headroom_bytes": budget.flash_bytes - flash_needed,
        "fits": not check_budget(board, arena["total"], flash_needed, budget=budget),
        "fits_source": "predicted (the model's arena and data against the budget; the firmware was not linked)",
        "self_test": {"expected_class": test.expected_class, "expected_scores": [int(v) for v in test.expected_scores], "input": test.description},
    }


def derived_arena(tflite: bytes, host_arena: int, kernels: str, core: str) -> dict:
    """The arena a firmware reserves without a 32-bit measurement or calibration: the 64-bit
    host arena (larger than the 32-bit one) plus the kernel set's largest scratch buffer."""
    from ofa_mcu.boards.budget import arena_reserve
    from ofa_mcu.efficiency.tflm_model import scratch_kernels

    from .tflite_model import read_tflite
    from .tflm_scratch import largest_scratch

    scratch = largest_scratch(read_tflite(tflite), scratch_kernels(kernels, core))
    return arena_reserve(int(host_arena) + scratch, "derived")


@dataclass(frozen=True)
class VerifiedModel:
    """A model that passed the TFLite-Micro checks, with what both backends embed."""

    info: ModelInfo
    labels: list[str]
    preprocess: dict
    host_arena: int  # the arena the 64-bit host interpreter needs (reference kernels)
    lut: np.ndarray  # pixel -> input lookup table (channels x 256)
    test: TestVector


def verify_model(
    tflite_bytes: bytes,
    *,
    labels: list[str] | None = None,
    test_image=None,
    arena_bytes: int | None = None,
    preprocess: dict | None = None,
    model_name: str = "model",
    test_description: str | None = None,
) -> VerifiedModel:
    """Check an int8 classifier .tflite in TFLite-Micro: the flatbuffer, that TFLM has a kernel
    for every op, labels and preprocessing against the model, the arena the host interpreter
    needs (measured when ``arena_bytes`` is None), and the test input run through it (see
    :func:`make_test_vector`). Every problem is a UserError."""
    from ofa_mcu.quant.tflm_runner import measure_arena

    info = read_model(tflite_bytes, f"model {model_name!r}")
    check_int8_classifier(info, f"model {model_name!r}")
    resolver_methods(info.ops)
    n_classes = info.output.size
    labels = [str(x) for x in labels] if labels is not None else [f"class_{i}" for i in range(n_classes)]
    if len(labels) != n_classes:
        raise UserError(f"{len(labels)} labels given; the model has {n_classes} outputs")
    pre = dict(preprocess) if preprocess is not None else default_preprocess(info)
    h, w, c = image_dims(info.input)
    if int(pre.get("channels", c)) != c or int(pre.get("resolution", h)) not in (h, w):
        raise UserError(
            f"preprocess says {pre.get('channels')} channels at {pre.get('resolution')} px; the model input is {h}x{w}x{c}"
        )
    measured = int(arena_bytes) if arena_bytes is not None else measure_arena(tflite_bytes)
    lut = pixel_lut(pre, info.input)
    test = make_test_vector(tflite_bytes, info, lut, test_image, test_description, arena=None)
    return VerifiedModel(info, labels, pre, measured, lut, test)


def emit_project(
    tflite_bytes: bytes,
    board: Board | str,
    out_dir: str | os.PathLike,
    *,
    build_system: str | None = None,
    labels: list[str] | None = None,
    test_image=None,
    arena_bytes: int | None = None,
    preprocess: dict | None = None,
    model_name: str = "model",
    force: bool = False,
    extra_files: dict[str, bytes] | None = None,
    project_name: str | None = None,
    test_description: str | None = None,
    allow_over_budget: bool = False,
    kernels: str | None = None,
    arena: dict | None = None,
    budget=None,
) -> Path:
    """Verify an int8 .tflite in TFLite-Micro and write a firmware project for ``board``.

    ``arena_bytes`` is the host-measured arena (measured when None). ``kernels`` is the TFLM
    kernel set the firmware will be built with (default: the core's, see
    ``ofa_mcu.boards.budget.default_kernels``). ``arena`` is the arena to reserve
    (``ofa_mcu.boards.budget.arena_reserve``: measured in QEMU or calibrated); when None it is
    derived (:func:`derived_arena`). ``budget`` is the model budget to check against (default:
    the board's for these kernels and build system). ``preprocess`` is
    ``ofa_mcu.data.preprocess.Preprocess.to_dict()`` (pixel / 255 when None). ``test_image``:
    see :func:`make_test_vector`. The project also holds ``ofa-mcu.json`` (for ``ofa-mcu
    flash``), ``deploy_summary.json`` and ``extra_files``. A model over the budget is a
    UserError unless ``allow_over_budget``. Returns the project folder.
    """
    from ofa_mcu.boards.budget import check_kernels, default_kernels

    board = load_board(board) if isinstance(board, str) else board
    bs = choose_build_system(board, build_system)
    kernels = check_kernels(kernels or default_kernels(board.core, bs))
    budget = budget or board.budget("tflm", kernels=kernels, build_system=bs)
    check_output_folder(out_dir, force, what="project folder")
    v = verify_model(tflite_bytes, labels=labels, test_image=test_image, arena_bytes=arena_bytes,
                     preprocess=preprocess, model_name=model_name, test_description=test_description)
    info, test = v.info, v.test
    arena = arena or derived_arena(tflite_bytes, v.host_arena, kernels, board.core)
    flash_needed = len(tflite_bytes) + test.input.nbytes + v.lut.nbytes
    problems = check_budget(board, arena["total"], flash_needed, budget=budget)
    if problems and not allow_over_budget:
        raise budget_error(board, problems)
    files = render_project(
        tflite_bytes, board, build_system=bs, labels=v.labels, test=test, arena=arena, preprocess=v.preprocess,
        model_name=model_name, project_name=project_name or model_name, info=info, kernels=kernels, budget=budget,
    )
    summary = deploy_summary(info, board, bs, arena, v.host_arena, tflite_bytes, flash_needed, test, kernels, budget)
    files["deploy_summary.json"] = (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode("utf-8")
    for rel, data in sorted((extra_files or {}).items()):
        rel = safe_relpath(rel)
        if rel in files:
            raise UserError(f"extra file {rel!r} would replace a generated file; rename it")
        files[rel] = bytes(data)
    return write_tree_atomically(out_dir, files, force, what="project folder", kind="tflm project")
