"""Measure the runtime footprint the boards' budgets use (ofa_mcu/boards/measured/runtime_footprint.toml).

For every Cortex-M core with a QEMU machine and every TFLM kernel set, the TFLite-Micro
firmware of a model holding every op the OFA-MCUNet converter emits (the largest
Fashion-MNIST subnet at width 0.5 and 32 px, random weights) is linked against a pinned TFLM tree and run in
QEMU. From the linked image (arm-none-eabi-nm / readelf):

- flash = code + constants + .data initial values, minus the model's own arrays (flatbuffer,
  self-test input and expected scores, pixel table): what the firmware needs beside the model;
- SRAM = .data + .bss minus the tensor arena, plus the stack and heap the linker script
  reserves (templates/common/baremetal.toml), whose peaks the firmware measured in the run.

Usage (from the repo root, with the trees of ../shared/third_party unpacked by the tests or by
hand):  .venv/bin/python scripts/measure_runtime.py --tree reference=DIR --tree cmsis-nn=DIR
"""
from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Symbols of the generated files that belong to the model, not to the runtime.
MODEL_SYMBOLS = r"(_tflite$|^kTestImage$|^kPixelToInput$|^kSelfTestExpectedScores$|^kLabels$)"
ARENA_SYMBOL = r"tensor_arena$"


def measure(core: str, tree, tflite: bytes, cpu_flags) -> dict:
    """Link and run the firmware for the QEMU twin of ``core``; the runtime's footprint."""
    from codegen.elf import sized, symbol_sizes
    from codegen.flash import Options, plan, read_manifest, run_plan
    from codegen.firmware_output import parse_usage
    from codegen.native.qemu import firmware_sizes
    from codegen.project import baremetal_config, emit_project
    from codegen.tflm_target import qemu_twin
    import dataclasses

    twin = dataclasses.replace(qemu_twin(core), cpu_flags=tuple(cpu_flags))
    with tempfile.TemporaryDirectory(prefix="ofa-footprint-") as tmp:
        project = Path(tmp) / "p"
        emit_project(tflite, twin, project, model_name="footprint", allow_over_budget=True)
        res = run_plan(project, plan(read_manifest(project), Options(tflm_dir=str(tree.root), kernels=tree.kernels),
                                     board=twin), echo=lambda _: None, quiet=True)
        usage = parse_usage(res.run_output)
        if res.returncode != 0 or usage.get("self_test") != "PASS":
            raise SystemExit(f"{core}/{tree.kernels}: the firmware failed in QEMU:\n{res.run_output[-800:]}")
        elf = project / "build" / "app.elf"
        sz = firmware_sizes(elf, twin.memory.flash_origin, twin.memory.flash_length)
        syms = symbol_sizes(elf)
    model = sized(syms, MODEL_SYMBOLS)
    if model < len(tflite):
        raise SystemExit(f"the model arrays were not found in the image ({model} B of symbols for a {len(tflite)} B model)")
    arena = sized(syms, ARENA_SYMBOL)
    bm = baremetal_config("tflm")
    flash = sz["flash_bytes"] - model
    static_ram = sz["data_bytes"] + sz["bss_bytes"] - arena
    return {
        "flash_bytes": flash,
        "sram_bytes": static_ram + bm["stack_bytes"] + bm["heap_bytes"],
        "text_bytes": sz["text_bytes"],
        "rodata_bytes": sz["rodata_bytes"] - model,
        "data_bytes": sz["data_bytes"],
        "bss_bytes": sz["bss_bytes"] - arena,
        "stack_reserved_bytes": bm["stack_bytes"],
        "heap_reserved_bytes": bm["heap_bytes"],
        "stack_used_bytes": usage.get("stack_used_bytes", 0),
        "heap_used_bytes": usage.get("heap_used_bytes", 0),
    }


def main() -> int:
    """Measure every (core, kernel set) and write the TOML."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", action="append", required=True, metavar="KERNELS=DIR",
                    help="a TFLM tree per kernel set, e.g. reference=/path/tflm-reference")
    ap.add_argument("--out", default=str(REPO / "ofa_mcu" / "boards" / "measured" / "runtime_footprint.toml"))
    args = ap.parse_args()
    from codegen.tflm_lib import compiler_version
    from codegen.tflm_tree import open_tree
    from ofa_mcu.config import FASHION_MNIST
    from ofa_mcu.quant.measure import measure_arch
    from ofa_mcu.space.arch import largest_arch

    trees = {}
    for spec in args.tree:
        kernels, _, path = spec.partition("=")
        trees[kernels] = open_tree(path, kernels)
    _, tflite = measure_arch(largest_arch(FASHION_MNIST, 32, wid=0), FASHION_MNIST)
    from codegen.tflite_model import read_model

    ops = list(read_model(tflite).ops)
    # Flags of the cores: their QEMU boards' (the M7 with the double-precision FPU of the AN500 and
    # the H743; the STM32F746's single-precision flags change the integer firmware by a few bytes).
    from ofa_mcu.boards import load_board

    cores = {"cortex-m4": load_board("qemu-mps2-an386").cpu_flags, "cortex-m7": load_board("qemu-mps2-an500").cpu_flags}
    lines = ["# Flash and SRAM of the firmware beside the model, measured from linked images.",
             "# Generated by scripts/measure_runtime.py; do not edit by hand (see ofa_mcu/boards/budget.py).",
             "[meta]",
             f'date = "{datetime.date.today().isoformat()}"',
             f'compiler = "{compiler_version()}"',
             f"ops = {ops!r}".replace("'", '"'),
             'model = "the largest fashion_mnist subnet at width 0.5 and 32 px (every op the converter emits), random weights"',
             ""]
    for core, flags in cores.items():
        for kernels, tree in trees.items():
            m = measure(core, tree, tflite, flags)
            print(core, kernels, m, flush=True)
            lines.append(f'[tflm."{core}".{kernels}]')
            lines += [f"{k} = {v}" for k, v in m.items()]
            lines.append(f'tree_sha256 = "{tree.fingerprint[:16]}"')
            lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
