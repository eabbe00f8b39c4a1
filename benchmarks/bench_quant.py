"""int8 paths vs float on one model: top-1, agreement, conversion time, and the memory model.

For one subnet (a trained supernet checkpoint + an arch, or random weights when no checkpoint
is given) and a dataset:

- top-1 of the float model (ONNX Runtime on the float ONNX export) and of each int8 path
  (ONNX Runtime QDQ int8, TFLite interpreter, TFLite-Micro host interpreter), the drop in
  points from float (goal: at most 0.5), and the top-1 agreement matrix;
- wall time of each conversion step (ONNX export, ORT static quantization, full-int8 TFLite);
- the calibrated TFLM predictor: this model's predicted vs measured arena and flatbuffer, and
  the stored calibration's error table (held-out subnets) beside the lab estimate.

    python benchmarks/bench_quant.py                                    # the shipped Fashion-MNIST supernet
    python benchmarks/bench_quant.py --arch out/stm32f746g-disco/model/arch.json   # the arch a build chose
    python benchmarks/bench_quant.py --checkpoint random                # random weights, briefly trained
    python benchmarks/bench_quant.py --checkpoint supernet.pth --arch arch.json --space vww \
        --dataset imagefolder --root /data/vww --n-eval 2000 --out benchmarks/results/quant_vww.json

A trained supernet's subnet should have its BN statistics re-calibrated before folding (pass
``--bn-calib N`` to do so on N training images; the shipped default gets 500 unless told).
With ``--checkpoint random`` the subnet is trained from scratch
for a couple of epochs on a few thousand training images (``--train-images``,
``--train-epochs``), so that it classifies well above chance and int8 errors show up in top-1.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_arrays(dataset: str, root, resolution: int, n_calib: int, n_eval: int, seed: int):
    """(calib images, eval images, eval labels) as normalised float32 NCHW numpy arrays."""
    import torch

    from ofa_mcu.data.preprocess import normalize, resize_batch
    from ofa_mcu.data.registry import get_dataset

    ds = get_dataset(dataset, root=root, augment=False, calib_images=n_calib)
    pre = ds.preprocess

    def take(split, n):
        idx = np.linspace(0, len(split) - 1, min(n, len(split))).astype(int)
        xs, ys = zip(*(split[int(i)] for i in idx))
        x = torch.stack([torch.as_tensor(v) for v in xs])
        if x.dtype == torch.uint8:
            x = normalize(x, pre.mean, pre.std)
        x = resize_batch(x.float(), resolution)
        return x.numpy().astype(np.float32), np.asarray([int(y) for y in ys])

    calib, calib_labels = take(ds.calib, n_calib)
    evals, labels = take(ds.test if ds.test is not None else ds.holdout, n_eval)
    return calib, calib_labels, evals, labels


def build_model(args, cfg):
    """The torch subnet (eval mode) of the requested arch."""
    import torch

    from ofa_mcu.io import read_json
    from ofa_mcu.nn import OFAMCUNet, StaticSubnet, load_supernet_state
    from ofa_mcu.space.arch import smallest_arch, validate_arch
    from ofa_mcu.space.table import build_table

    arch = validate_arch(read_json(args.arch, "arch file"), cfg) if args.arch else smallest_arch(cfg)
    if args.checkpoint:
        if args.checkpoint == "default":
            from ofa_mcu.assets import default_supernet
            args.checkpoint = str(default_supernet(cfg.name))
        supernet = OFAMCUNet(cfg)
        load_supernet_state(supernet, args.checkpoint)
        model = supernet.extract(arch)
    else:
        torch.manual_seed(args.seed)
        model = StaticSubnet(build_table(arch, cfg))
    return arch, model.eval()


def quick_train(model, images: np.ndarray, labels: np.ndarray, epochs: int, seed: int, batch: int = 64) -> None:
    """A few epochs of Adam on (images, labels): turns the random-weight subnet into a small
    trained model, so int8 errors show up as real accuracy drops."""
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x) - batch + 1, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


def bn_recalibrate(model, images: np.ndarray, batch: int = 100) -> None:
    """Reset and re-estimate BN running statistics on ``images`` (cumulative average)."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(images), batch):
            model(torch.from_numpy(images[i:i + batch]))
    model.eval()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", default="fashion_mnist")
    p.add_argument("--dataset", default="fashion_mnist", help="dataset name (ofa_mcu.data registry)")
    p.add_argument("--root", help="dataset folder (imagefolder/vww; optional for fashion_mnist)")
    p.add_argument("--checkpoint", default="default",
                   help="trained supernet checkpoint; 'default' (the space's shipped supernet) or 'random'")
    p.add_argument("--arch", help="JSON file with the arch dict (default: the space's smallest)")
    p.add_argument("--n-calib", type=int, default=200, help="calibration images for int8 (default 200)")
    p.add_argument("--n-eval", type=int, default=1000, help="evaluation images (default 1000)")
    p.add_argument("--bn-calib", type=int, default=0, help="re-calibrate BN on this many images first")
    p.add_argument("--train-images", type=int, default=6000,
                   help="no checkpoint: train the subnet briefly on this many training images (default 6000)")
    p.add_argument("--train-epochs", type=int, default=2, help="no checkpoint: epochs of that training (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the results as JSON here")
    args = p.parse_args(argv)
    if args.checkpoint == "random":
        args.checkpoint = None
    elif args.checkpoint == "default" and args.bn_calib == 0:
        args.bn_calib = 500

    from ofa_mcu.config import get_space
    from ofa_mcu.efficiency.tflm_model import TFLMEfficiency, format_error_table
    from ofa_mcu.quant import measure_tflm
    from ofa_mcu.quant.agreement import format_agreement
    from ofa_mcu.quant.evaluate import evaluate_paths

    cfg = get_space(args.space)
    arch, model = build_model(args, cfg)
    res = arch["image_size"]
    n_train = max(args.n_calib, args.bn_calib, 0 if args.checkpoint else args.train_images)
    calib, calib_labels, evals, labels = load_arrays(args.dataset, args.root, res, n_train, args.n_eval, args.seed)
    if not args.checkpoint and args.train_epochs:
        quick_train(model, calib[: args.train_images], calib_labels[: args.train_images], args.train_epochs, args.seed)
    if args.bn_calib:
        bn_recalibrate(model, calib[: args.bn_calib])
    calib = calib[: args.n_calib]
    net = model.fold()
    import tensorflow  # noqa: F401 - imported up front so the conversion time below excludes it

    ev = evaluate_paths(model, net, calib, evals, labels)
    top1, drops, agree, tflite = ev["top1"], ev["drop_points"], ev["agreement"], ev["tflite"]
    t_export, t_ortq, t_tflite = (ev["seconds"][k] for k in ("onnx_export", "ort_quantize", "tflite_convert"))

    real = measure_tflm(tflite)
    pred = TFLMEfficiency(cfg).evaluate(arch)

    kind = (f"checkpoint {args.checkpoint}" if args.checkpoint
            else f"briefly trained from scratch ({args.train_epochs} epochs x {args.train_images} images)")
    print(f"model: {kind}; arch at {res} px; "
          f"{len(evals)} {args.dataset} images, {len(calib)} calibration images")
    print(f"{'path':<12}{'top-1 %':>9}{'drop (pts)':>12}")
    for k, v in top1.items():
        print(f"{k:<12}{v:>9.2f}{drops.get(k, 0.0):>12.2f}")
    print(f"worst drop: {max(drops.values()):.2f} points (goal <= 0.5)")
    print("top-1 agreement (%):")
    print(format_agreement(agree))
    print(f"conversion time: ONNX export {t_export:.1f} s, ORT int8 quantize {t_ortq:.1f} s, "
          f"full-int8 TFLite {t_tflite:.1f} s")
    print(f"this model: TFLM arena host {real['tflm_arena_bytes']} B (predicted {pred['tflm_arena_bytes_host']}), "
          f"target {pred['tflm_arena_bytes_target']} B (derived), flatbuffer {real['tflite_bytes']} B "
          f"(predicted {pred['tflite_bytes']}), lab estimate {pred['peak_lab_bytes']} B")
    cal = TFLMEfficiency(cfg).calibration
    print(format_error_table(cal))

    if args.out:
        from ofa_mcu.io import write_json

        write_json(args.out, {"arch": arch, "top1": top1, "drop_points": drops, "agreement": agree,
                              "seconds": {"onnx_export": t_export, "ort_quantize": t_ortq, "tflite": t_tflite},
                              "measured": {k: real[k] for k in ("tflm_arena_bytes", "head", "tail", "tflite_bytes")},
                              "predicted": pred, "calibration_errors": cal["errors"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
