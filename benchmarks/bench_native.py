"""Native backend vs TFLite-Micro + CMSIS-NN on the same int8 models, side by side, measured on
the same QEMU board (default mps2-an500, Cortex-M7):

- instructions of one inference: the native firmware and the TFLM firmware linked against the
  pinned CMSIS-NN tree (``../shared/third_party/tflm-cmsis-nn.tar.gz``), both counted by the
  TCG plugin between their markers (``-icount shift=0``), and the ratio;
- SRAM: the native static buffer (activations + scratch) vs the arena the TFLM firmware
  reports it used on that core (``arena_used_bytes``), and the ratio;
- bit-exactness: native host build vs the TFLM host interpreter on random inputs, and the
  native firmware's self-test (TFLM's outputs embedded) in QEMU.

Models (``--models``): ``vww`` (the MLPerf Tiny VWW model in ``../shared/reference``),
``resnet8``, ``ds_cnn``, ``fc_autoencoder`` (the MLPerf Tiny reference architectures rebuilt
with random weights, ``codegen.native.testmodels``), ``subnets`` (the smallest and largest
subnet of ``--space`` and ``--n`` random ones, random weights) and any ``.tflite`` path
(e.g. the default build's ``model/model.tflite``).

``--fit-latency`` refits ``ofa_mcu/efficiency/latency_coeffs.json`` from the native per-layer counts
(``--refit A.json B.json`` from several saved runs).

    python benchmarks/bench_native.py --models vww resnet8 ds_cnn fc_autoencoder /tmp/i12-default/model/model.tflite
    python benchmarks/bench_native.py --models subnets --space fashion_mnist --n 12 --fit-latency --no-tflm
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
NAMED = ("vww", "resnet8", "ds_cnn", "fc_autoencoder")


def subnet_models(cfg, n: int, seed: int):
    """(label, tflite) of the smallest, the largest and ``n`` random subnets (random weights)."""
    from ofa_mcu.quant import convert_int8
    from ofa_mcu.space.arch import largest_arch, sample_arch, smallest_arch
    from ofa_mcu.space.folded import random_folded
    from ofa_mcu.space.table import build_table

    archs = [("smallest", smallest_arch(cfg)), ("largest", largest_arch(cfg))]
    rr = random.Random(seed)
    archs += [(f"random{i}", sample_arch(rr, cfg, wids=tuple(range(len(cfg.width_mult_list))))) for i in range(n)]
    for i, (label, arch) in enumerate(archs):
        rng = np.random.default_rng(seed + i)
        net = random_folded(build_table(arch, cfg), rng)
        r = arch["image_size"]
        calib = rng.standard_normal((8, cfg.in_channels, r, r)).astype(np.float32)
        yield label, convert_int8(net, calib)


def named_model(name: str) -> bytes:
    """The .tflite of a named model (or a path)."""
    if name == "vww":
        from shared_trees import SHARED

        path = SHARED / "reference" / "external_models" / "vww_96_int8.tflite"
        if not path.is_file():
            raise SystemExit(f"{path} not found (the MLPerf VWW model lives in ../shared/reference)")
        return path.read_bytes()
    if name in NAMED:
        from codegen.native.testmodels import mlperf_tiny_tflite

        return mlperf_tiny_tflite(name)
    return Path(name).read_bytes()


def models(args):
    """(label, tflite) for every requested model."""
    for m in args.models:
        if m == "subnets":
            from ofa_mcu.config import get_space

            yield from subnet_models(get_space(args.space), args.n, args.seed)
        else:
            yield (Path(m).parent.parent.name + "/" + Path(m).name if m.endswith(".tflite") else m), named_model(m)


def measure(label: str, tflite: bytes, args, tree) -> dict:
    from codegen.native.compare import compare
    from codegen.native.latency import layer_features

    try:
        rec = {"label": label, "board": args.board, **compare(tflite, args.board, tree, args.inputs)}
    except RuntimeError as exc:  # e.g. more weights than the board's flash: say by how much
        lines = str(exc).strip().splitlines()
        why = next((ln.split(": ", 1)[-1] for ln in lines if "overflowed" in ln), lines[-1])
        return {"label": label, "board": args.board, "error": f"{why[-200:]} ({len(tflite):,} B model)"}
    if args.fit_latency:
        from codegen.native.graph import lower_tflite

        rec["features"] = layer_features(lower_tflite(tflite)).tolist()
    return rec


def table(recs: list[dict]) -> list[str]:
    """The side-by-side table."""
    hdr = (f"{'model':>22} {'MMACs':>7} | {'native insn':>12} {'TFLM+CMSIS':>12} {'ratio':>6} | {'native SRAM':>11} "
           f"{'TFLM arena':>11} {'ratio':>6} | exact (host, QEMU)")
    lines = [hdr, "-" * len(hdr)]
    for r in recs:
        if "error" in r:
            lines.append(f"{r['label'][:22]:>22} not measured: {r['error']}")
            continue
        n, t = r["native"], r.get("tflm_cmsis_nn")
        ti = f"{t['instructions']:>12,} {r['instruction_ratio']:6.3f}" if t else f"{'-':>12} {'-':>6}"
        ta = f"{t['arena_used_bytes']:>11,} {r['sram_ratio']:6.3f}" if t and r.get("sram_ratio") else f"{'-':>11} {'-':>6}"
        lines.append(f"{r['label'][:22]:>22} {n['macs'] / 1e6:7.2f} | {n['instructions']:>12,} {ti} | "
                     f"{n['static_buffer_bytes']:>11,} {ta} | {n['host_bit_exact']}/{n['host_inputs']}, "
                     f"{'yes' if n['firmware_bit_exact'] else 'NO'}")
    return lines


def refit(recs: list[dict], note: str) -> None:
    """Fit the latency coefficients on the native per-layer counts."""
    from codegen.native.latency import COEFFS_PATH, fit
    from ofa_mcu.io import write_json

    coeffs = fit((np.array(r["features"]), np.array(r["native"]["per_layer"])) for r in recs
                 if "features" in r and "native" in r)
    coeffs["fitted_on"] = note
    write_json(COEFFS_PATH, coeffs)
    print(f"latency model: max rel. error {coeffs['max_rel_error']:.3f}, median {coeffs['median_rel_error']:.3f} "
          f"-> {COEFFS_PATH}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["vww", "resnet8", "ds_cnn", "fc_autoencoder"])
    ap.add_argument("--space", default="fashion_mnist", choices=("vww", "fashion_mnist"))
    ap.add_argument("--n", type=int, default=4, help="random subnets besides the smallest and largest")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--board", default="qemu-mps2-an500")
    ap.add_argument("--inputs", type=int, default=20, help="random inputs for the host bit-exactness check")
    ap.add_argument("--no-tflm", action="store_true", help="skip the TFLite-Micro + CMSIS-NN column")
    ap.add_argument("--fit-latency", action="store_true", help="refit ofa_mcu/efficiency/latency_coeffs.json")
    ap.add_argument("--out", default=None, help="write all records as JSON here")
    ap.add_argument("--refit", nargs="+", metavar="JSON", default=None,
                    help="only refit the latency model from records saved with --fit-latency --out (no measuring)")
    args = ap.parse_args(argv)
    if args.refit:
        from ofa_mcu.io import read_json

        recs = [r for p in args.refit for r in read_json(p, "benchmark records")["records"]]
        refit(recs, f"{len(recs)} models from {', '.join(Path(p).name for p in args.refit)}")
        return 0

    from tqdm import tqdm

    tree = None
    if not args.no_tflm:
        from shared_trees import unpacked

        tree = unpacked("cmsis-nn")
        if tree is None:
            print("no pinned TFLM + CMSIS-NN tree (../shared/third_party): the TFLM column is left out",
                  file=sys.stderr)
    recs = [measure(label, tfl, args, tree) for label, tfl in tqdm(list(models(args)), desc="models", unit="model")]
    for line in table(recs):
        print(line)
    ratios = [r["instruction_ratio"] for r in recs if r.get("instruction_ratio")]
    if ratios:
        print(f"\ninstructions native / TFLM+CMSIS-NN: max {max(ratios):.3f}, median {np.median(ratios):.3f}")
    sram = [r["sram_ratio"] for r in recs if r.get("sram_ratio")]
    if sram:
        print(f"SRAM native static buffer / TFLM arena (firmware-reported): max {max(sram):.3f}, "
              f"median {np.median(sram):.3f}")
    recs_ok = [r for r in recs if "error" not in r]
    exact = all(r["native"]["host_bit_exact"] == r["native"]["host_inputs"] and r["native"]["firmware_bit_exact"]
                for r in recs_ok)
    print(f"bit-exact with TFLM on every input (host) and in QEMU: {exact}")
    if args.fit_latency:
        refit(recs, f"{len(recs)} models ({', '.join(args.models)}; {args.space}) on {args.board}")
    if args.out:
        from ofa_mcu.io import write_json

        write_json(args.out, {"board": args.board, "records": recs})
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
