"""Native C against TFLite-Micro on the same QEMU board, measured the same way: instructions of
one inference (the TCG plugin between the firmware's markers, ``-icount shift=0``) and the
memory each really uses (the native static buffer; the TFLM arena the firmware reports). What
``benchmarks/bench_native.py`` tabulates."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def native_counts(tflite: bytes, board: str, work: Path, n_check: int = 20, seed: int = 0) -> dict:
    """Emit the native project, check it bit-exact against the TFLM host interpreter on
    ``n_check`` random inputs (host build) and on two in the firmware, build it for ``board`` and
    count one inference under QEMU."""
    from ofa_mcu.boards import load_board

    from .emit import emit_native
    from .host import build_host, run_host
    from .qemu import build_firmware, count_instructions, firmware_sizes
    from .reference import random_inputs, tflm_outputs

    b = load_board(board)
    from .graph import lower_tflite

    shape = lower_tflite(tflite).input_shape[1:]
    x = random_inputs(np.random.default_rng(seed), max(n_check, 2), shape)
    ref = tflm_outputs(tflite, x)
    res = emit_native(tflite, work / "native", board=board, test_input_int8=x[:2], expected_output_int8=ref[:2],
                      plot=False, force=True)
    got = run_host(build_host(res.out_dir), x, ref.shape[1])
    elf = build_firmware(res.out_dir, board)
    c = count_instructions(elf, b.qemu_machine)
    sizes = firmware_sizes(elf, b.memory.flash_origin, b.memory.flash_length)
    return {"instructions": int(c["total"]), "per_layer": [int(v) for v in c["per_layer"]],
            "layers": [{"index": l.index, "kernel": l.kernel, "name": l.name, "macs": int(l.macs)}
                       for l in res.graph.layers],
            "static_buffer_bytes": int(res.peak_bytes), "const_bytes": int(res.const_bytes), "macs": int(res.macs),
            "host_bit_exact": int((ref == got).all(axis=1).sum()), "host_inputs": int(len(x)),
            "firmware_bit_exact": c["exit_code"] == 0, "flash_bytes": int(sizes["flash_bytes"]),
            "graph": res.graph}


def tflm_counts(tflite: bytes, board: str, tree: Path, kernels: str, work: Path) -> dict:
    """Generate the TFLite-Micro project (make) for ``board``, link it against the cached TFLM
    library of ``tree`` (``kernels``: "cmsis-nn" or "reference"), and count one inference per
    op under QEMU; the firmware's own report gives the arena it used."""
    from ofa_mcu.boards import load_board

    from ..firmware_output import parse_usage
    from ..flash import Options, plan, read_manifest, run_plan
    from ..project import emit_project
    from .profile import tflm_layers
    from .qemu import count_instructions

    b = load_board(board)
    project = emit_project(tflite, board, work / f"tflm-{kernels}", build_system="make", force=True)
    manifest = read_manifest(project)
    run_plan(project, plan(manifest, Options(tflm_dir=str(tree), kernels=kernels)), echo=lambda _: None, flash=False,
             quiet=True)
    layers = tflm_layers(tflite)
    c = count_instructions(project / manifest["artifacts"]["elf"], b.qemu_machine, n_layers=len(layers),
                           layout="tflm")
    usage = parse_usage(c["stdout"])
    return {"instructions": int(c["total"]), "per_layer": [int(v) for v in c["per_layer"]], "layers": layers,
            "arena_used_bytes": int(usage.get("arena_used_bytes", 0)), "self_test_pass": c["exit_code"] == 0}


def compare(tflite: bytes, board: str, tree: Path | None, n_check: int = 20) -> dict:
    """Both backends on one model: native figures, TFLM + ``tree``'s kernels figures (None
    without a tree) and the ratios."""
    with tempfile.TemporaryDirectory(prefix="ofa-compare-") as tmp:
        nat = native_counts(tflite, board, Path(tmp), n_check)
        tf = tflm_counts(tflite, board, tree, "cmsis-nn", Path(tmp)) if tree is not None else None
    nat.pop("graph")
    out = {"native": nat, "tflm_cmsis_nn": tf}
    if tf:
        out["instruction_ratio"] = nat["instructions"] / tf["instructions"]
        out["sram_ratio"] = nat["static_buffer_bytes"] / tf["arena_used_bytes"] if tf["arena_used_bytes"] else None
    return out
