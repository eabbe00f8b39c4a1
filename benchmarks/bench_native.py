"""Native backend vs TFLite-Micro on the same int8 models, side by side.

For each model (the smallest and the largest VWW subnet plus N random subnets, random
weights, converted with the project's converter):

- SRAM: the native static arena (activations + scratch; weights and multipliers stay in
  flash) vs the smallest TFLM arena that allocates (host interpreter, bisection).
- flash: text + rodata + data of the native firmware (arm-none-eabi-size, whole image incl.
  kernels, main, startup, newlib; minus the embedded test vector) vs the flatbuffer + the board
  file's TFLM runtime estimate (interpreter, kernels, app, newlib).
- instructions per inference of the native firmware under QEMU (TCG plugin, per layer), and
  the same per MAC. TFLM's own instruction count cannot be measured here: no TFLM C++ sources
  for Cortex-M are installable (see shared/notes/toolchain.md).
- bit-exactness: native host build vs the TFLM host interpreter on random inputs.

``--fit-latency`` refits ``codegen/native/latency_coeffs.json`` from the per-layer counts.

    python benchmarks/bench_native.py --n 20 --out benchmarks/results/native_vww.json
    python benchmarks/bench_native.py --space fashion_mnist --n 12 --fit-latency
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def models(cfg, n: int, seed: int):
    """(label, arch) pairs: smallest, largest, then n random subnets."""
    from ofa_mcu.space.arch import largest_arch, sample_arch, smallest_arch

    out = [("smallest", smallest_arch(cfg)), ("largest", largest_arch(cfg))]
    rr = random.Random(seed)
    out += [(f"random{i}", sample_arch(rr, cfg, wids=tuple(range(len(cfg.width_mult_list))))) for i in range(n)]
    return out


def measure_one(label, arch, cfg, work: Path, board: str, n_inputs: int, seed: int, count: bool,
                plot: str | None = None) -> dict:
    from codegen.native import build_host, emit_native, run_host
    from codegen.native.latency import layer_features
    from codegen.native.qemu import build_firmware, count_instructions, elf_size
    from codegen.native.reference import random_inputs, tflm_outputs
    from ofa_mcu.boards import load_board
    from ofa_mcu.quant import convert_int8, measure_tflm
    from ofa_mcu.space.folded import random_folded
    from ofa_mcu.space.table import build_table

    rng = np.random.default_rng(seed)
    table = build_table(arch, cfg)
    net = random_folded(table, rng)
    calib = rng.standard_normal((8, cfg.in_channels, arch["image_size"], arch["image_size"])).astype(np.float32)
    t0 = time.perf_counter()
    tfl = convert_int8(net, calib)
    t1 = time.perf_counter()
    tflm = measure_tflm(tfl)
    x = random_inputs(rng, n_inputs, (arch["image_size"], arch["image_size"], cfg.in_channels))
    ref = tflm_outputs(tfl, x)
    res = emit_native(tfl, work / label, board=board, test_input_int8=x[:1], expected_output_int8=ref[:1],
                      model_name=label, plot=False, force=True)
    got = run_host(build_host(res.out_dir), x, ref.shape[1])
    if plot:
        res.plan.plot(plot, title=f"{label} ({arch['image_size']} px): native arena {res.peak_bytes:,} B vs TFLM "
                                  f"{tflm['tflm_arena_bytes']:,} B")
    b = load_board(board)
    rec = {
        "label": label, "arch": arch, "macs": int(res.macs), "image_size": arch["image_size"], "wid": arch["wid"],
        "native_arena": int(res.peak_bytes), "native_lower_bound": int(res.plan.lower_bound),
        "native_const_bytes": int(res.const_bytes),
        "tflm_arena": int(tflm["tflm_arena_bytes"]), "tflm_head": int(tflm["head"]), "tflm_tail": int(tflm["tail"]),
        "tflite_bytes": len(tfl), "tflm_flash_estimate": len(tfl) + b.runtime_flash_bytes,
        "bit_exact_inputs": int((ref == got).all(axis=1).sum()), "n_inputs": int(n_inputs),
        "convert_seconds": round(t1 - t0, 2),
    }
    if count:
        try:
            elf = build_firmware(res.out_dir, board)
        except RuntimeError as exc:  # e.g. more weights than the board's flash
            rec["firmware_error"] = str(exc).splitlines()[-2][-160:]
            return rec
        size = elf_size(elf)
        c = count_instructions(elf, b.qemu_machine)
        # the embedded test vector (one input + its expected output) is not part of the deployed image
        vec = x[0].size + ref.shape[1]
        rec.update(native_text=size["text"], native_data=size["data"], native_bss=size["bss"],
                   native_flash=size["text"] + size["data"] - vec, qemu_exit=c["exit_code"],
                   instructions=int(c["total"]), per_layer=c["per_layer"],
                   kernels=[l.kernel for l in res.graph.layers], features=layer_features(res.graph).tolist())
    return rec


def refit(paths: list[str]) -> int:
    """Fit the latency coefficients on the per-layer counts of saved benchmark records."""
    from codegen.native.latency import COEFFS_PATH, fit
    from ofa_mcu.io import read_json, write_json

    recs, names = [], []
    for p in paths:
        data = read_json(p, "benchmark records")
        recs += [r for r in data["records"] if "per_layer" in r]
        names.append(f"{data['space']} on {data['board']}")
    coeffs = fit((np.array(r["features"]), np.array(r["per_layer"])) for r in recs)
    coeffs["fitted_on"] = f"{len(recs)} subnets ({'; '.join(names)})"
    write_json(COEFFS_PATH, coeffs)
    print(f"latency model on {len(recs)} networks: max rel. error {coeffs['max_rel_error']:.3f}, median "
          f"{coeffs['median_rel_error']:.3f} -> {COEFFS_PATH}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="vww", choices=("vww", "fashion_mnist"))
    ap.add_argument("--n", type=int, default=20, help="random subnets besides the smallest and largest")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--board", default="qemu-mps2-an386")
    ap.add_argument("--inputs", type=int, default=20, help="random inputs for the bit-exactness check")
    ap.add_argument("--no-qemu", action="store_true", help="skip firmware builds and instruction counts")
    ap.add_argument("--fit-latency", action="store_true", help="refit codegen/native/latency_coeffs.json")
    ap.add_argument("--refit", nargs="+", metavar="JSON", default=None,
                    help="only refit the latency model from records saved with --out (no measuring)")
    ap.add_argument("--out", default=None, help="write all records as JSON here")
    ap.add_argument("--plot", default=None, help="draw the first model's memory plan to this PNG")
    args = ap.parse_args(argv)
    if args.refit:
        return refit(args.refit)

    from tqdm import tqdm

    from ofa_mcu.config import get_space

    cfg = get_space(args.space)
    recs = []
    with tempfile.TemporaryDirectory(prefix="bench-native-") as tmp:
        for i, (label, arch) in enumerate(tqdm(models(cfg, args.n, args.seed), desc="models", unit="model")):
            recs.append(measure_one(label, arch, cfg, Path(tmp), args.board, args.inputs, args.seed + i,
                                    not args.no_qemu, args.plot if i == 0 else None))
    hdr = (f"{'model':>10} {'px':>4} {'w':>2} {'MMACs':>7} | {'native SRAM':>11} {'TFLM arena':>11} {'ratio':>6} | "
           f"{'native flash':>12} {'TFLM flash':>11} {'ratio':>6} | {'native insn':>12} {'insn/MAC':>8} | exact")
    print(hdr)
    print("-" * len(hdr))
    for r in recs:
        fl = r.get("native_flash")
        if "firmware_error" in r:
            print(f"{r['label']:>10}: firmware does not build: {r['firmware_error']}")
        print(f"{r['label']:>10} {r['image_size']:>4} {r['wid']:>2} {r['macs'] / 1e6:7.2f} | "
              f"{r['native_arena']:>11,} {r['tflm_arena']:>11,} {r['native_arena'] / r['tflm_arena']:6.3f} | "
              + (f"{fl:>12,} {r['tflm_flash_estimate']:>11,} {fl / r['tflm_flash_estimate']:6.3f} | "
                 f"{r['instructions']:>12,} {r['instructions'] / r['macs']:8.2f} | " if fl else
                 f"{'-':>12} {r['tflm_flash_estimate']:>11,} {'-':>6} | {'-':>12} {'-':>8} | ")
              + f"{r['bit_exact_inputs']}/{r['n_inputs']}")
    ratios = np.array([r["native_arena"] / r["tflm_arena"] for r in recs])
    print(f"\nSRAM ratio native/TFLM: max {ratios.max():.3f}, median {np.median(ratios):.3f} "
          f"(goal: max <= 0.5, median <= 0.4) over {len(recs)} models")
    if not args.no_qemu:
        built = [r for r in recs if "instructions" in r]
        fr = np.array([r["native_flash"] / r["tflm_flash_estimate"] for r in built])
        ipm = np.array([r["instructions"] / r["macs"] for r in built])
        print(f"flash ratio native/TFLM-estimate: max {fr.max():.3f}, median {np.median(fr):.3f}; "
              f"instructions per MAC: median {np.median(ipm):.2f} (min {ipm.min():.2f}, max {ipm.max():.2f})")
    exact = all(r["bit_exact_inputs"] == r["n_inputs"] for r in recs)
    print(f"bit-exact with TFLM on every input: {exact}")
    if args.fit_latency:
        from codegen.native.latency import COEFFS_PATH, fit
        from ofa_mcu.io import write_json

        coeffs = fit((np.array(r["features"]), np.array(r["per_layer"])) for r in recs if "per_layer" in r)
        coeffs["fitted_on"] = f"{len(recs)} {args.space} subnets on {args.board} (seed {args.seed})"
        write_json(COEFFS_PATH, coeffs)
        print(f"latency model: max rel. error {coeffs['max_rel_error']:.3f}, median "
              f"{coeffs['median_rel_error']:.3f} -> {COEFFS_PATH}")
    if args.out:
        from ofa_mcu.io import write_json

        write_json(args.out, {"space": args.space, "board": args.board, "records": recs})
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
