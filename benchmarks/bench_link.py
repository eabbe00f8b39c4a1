"""Benchmark: building a generated TFLite-Micro project against a real TFLM tree.

Measures, in one run, on one generated project (the MLPerf VWW model or --model, for
qemu-mps2-an500 unless --board):
- baseline: the project's own Makefile compiling the whole tree (`make TFLM_DIR=... -j2`, what a
  user's first build does);
- cold cache: ofa-mcu compiling the objects the model's op set needs into its library cache,
  then linking (`ofa-mcu flash`'s first build);
- warm cache: relinking against the cached library after `make clean` (every later build);
and prints the ratios, plus the linked image's sections.

Run: .venv/bin/python benchmarks/bench_link.py --tree cmsis-nn=/path/tflm-cmsis-nn [--cache DIR]
(--cache defaults to a fresh temporary folder, so the cold figure is cold).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _timed(argv, cwd) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", required=True, help="KERNELS=DIR of a TFLM tree")
    ap.add_argument("--model", default=str(REPO.parent / "shared/reference/external_models/vww_96_int8.tflite"))
    ap.add_argument("--board", default="qemu-mps2-an500")
    ap.add_argument("--cache", help="library cache folder (default: a new temporary one)")
    ap.add_argument("--skip-baseline", action="store_true", help="skip the whole-tree make (minutes)")
    args = ap.parse_args()
    kernels, _, path = args.tree.partition("=")
    cache = Path(args.cache or tempfile.mkdtemp(prefix="ofa-bench-cache-"))
    os.environ["OFA_MCU_CACHE"] = str(cache)

    from codegen.flash import Options, plan, read_manifest
    from codegen.project import emit_project
    from codegen.tflm_lib import build_library
    from codegen.tflm_tree import open_tree
    from ofa_mcu.boards import load_board

    tree = open_tree(path, kernels)
    board = load_board(args.board)
    work = Path(tempfile.mkdtemp(prefix="ofa-bench-link-"))
    proj = emit_project(Path(args.model).read_bytes(), board, work / "p", kernels=kernels, allow_over_budget=True,
                        model_name="bench")
    ops = read_manifest(proj)["model"]["ops"]
    rows = []
    if not args.skip_baseline:
        rows.append(("baseline: make compiles the whole tree (-j2)",
                     _timed(["make", f"TFLM_DIR={tree.root}", "-j2"], proj)))
        shutil.rmtree(proj / "build")
    t0 = time.perf_counter()
    build_library(tree, board.cpu_flags, ops, jobs=2, progress=False, echo=lambda _: None)
    compile_s = time.perf_counter() - t0
    step = plan(read_manifest(proj), Options(tflm_dir=str(tree.root), kernels=kernels)).build[0]
    link_s = _timed(list(step.argv), proj)
    rows.append(("cold cache: compile the op set's objects + link", compile_s + link_s))
    shutil.rmtree(proj / "build")
    rows.append(("warm cache: link against the cached library (after make clean)", _timed(list(step.argv), proj)))
    base = rows[0][1]
    print(f"{'build of ' + args.board + ' (' + kernels + ')':<66}{'seconds':>10}{'vs first':>10}")
    for name, sec in rows:
        print(f"{name:<66}{sec:>10.1f}{sec / base:>10.3f}")
    size = subprocess.run(["arm-none-eabi-size", str(proj / "build/app.elf")], capture_output=True, text=True).stdout
    print(size.strip())
    shutil.rmtree(work, ignore_errors=True)
    if not args.cache:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
