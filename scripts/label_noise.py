"""Measure the noise in (arch, accuracy) labels and the Kendall tau ceiling it sets for any
predictor (run by hand; see ``ofa_mcu.predictor.ceiling``).

    .venv/bin/python scripts/label_noise.py PAIRS.json.gz OUT.json [-k 21] [--calib-images 2000] [--supernet CKPT]
        [--pool OTHER_OUT ...] [--labels PAIRS.json.gz ...]

Re-measures the first ``k`` subnets of the pair file the way ``ofa-mcu collect`` does (BN
re-calibrated on ``--calib-images`` evenly spaced training images, top-1 on all 10,000 holdout
images, ONNX Runtime), then again with a disjoint calibration sample (the same count, shifted
half a stride), keeping which images each subnet gets right. Prints the eval-sample and
calibration error of a pair difference and the tau a perfect predictor would reach against the
pair file's labels, per resolution. ``OUT`` (``.json`` or ``.json.gz``) keeps every measurement
(``rows``, with which holdout images each subnet got right) and the ``summary``; a rerun resumes
it, and with ``-k`` no larger than what it holds only recomputes the summary (e.g. for new labels).
``--pool`` adds the rows of other label-noise files measured the same way (e.g. on another pair
file) to the noise estimate; ``--labels`` gives the pair files whose ceiling the summary states
(default: ``PAIRS``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _repeats_match(rows: list[dict], pairs: list) -> bool | None:
    """Whether each re-measured subnet that the labels hold got its label again (calibration a is
    the collect default); ``None`` when the labels hold none of them."""
    labels = {json.dumps(arch, sort_keys=True): acc for arch, acc in pairs}
    both = [(r["acc_a"], labels[k]) for r in rows if (k := json.dumps(r["arch"], sort_keys=True)) in labels]
    return bool(np.allclose(*zip(*both), atol=0.006)) if both else None


def summarise(rows: list[dict], pairs: list) -> dict:
    """Noise figures of the measured ``rows`` and the ceiling they set for the labels ``pairs``."""
    from ofa_mcu.predictor.ceiling import row_noise_sd, tau_ceiling_by_resolution

    ev, cal = row_noise_sd(rows)
    total = float(np.hypot(ev, cal))
    acc = np.array([a for _, a in pairs], dtype=float)
    res = np.array([arch["image_size"] for arch, _ in pairs])
    return {
        "subnets": len(rows), "eval_images": int(rows[0]["n_images"]),
        "eval_noise_sd_of_difference": ev, "calibration_noise_sd_of_difference": cal,
        "noise_sd_of_difference": total,
        "label_sd_by_resolution": {str(int(r)): float(np.std(acc[res == r])) for r in np.unique(res)},
        "tau_ceiling": tau_ceiling_by_resolution(acc, res, total),
        "repeat_matches_labels": _repeats_match(rows, pairs),
    }


def main(argv=None) -> int:
    """Measure, save, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs")
    ap.add_argument("out")
    ap.add_argument("-k", type=int, default=21, help="subnets to re-measure (the pair file's first k)")
    ap.add_argument("--calib-images", type=int, default=2000)
    ap.add_argument("--supernet", default=None, help="weights (default: the shipped ones)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pool", nargs="+", default=[], metavar="OTHER_OUT",
                    help="label-noise files measured the same way whose rows join the noise estimate")
    ap.add_argument("--labels", nargs="+", default=None, metavar="PAIRS",
                    help="pair files whose tau ceiling the summary states (default: PAIRS)")
    args = ap.parse_args(argv)
    for f in [args.pairs, *(args.labels or [])]:
        if not Path(f).is_file():
            raise SystemExit(f"error: pair file {f} does not exist; pass the file ofa-mcu collect wrote")
    for f in args.pool:
        if not Path(f).is_file():
            raise SystemExit(f"error: label-noise file {f} does not exist; pass a file this script wrote")
    if args.k < 2:
        raise SystemExit(f"error: -k {args.k} re-measures too few subnets; give at least 2 (21 gives 7 per resolution)")

    import torch
    from tqdm.auto import tqdm

    from ofa_mcu.config import get_space
    from ofa_mcu.data import get_dataset
    from ofa_mcu.io import read_json, write_json
    from ofa_mcu.pipeline.build import load_default_supernet
    from ofa_mcu.predictor.ceiling import pack_correct
    from ofa_mcu.train.collect import read_pairs
    from ofa_mcu.train.subnet_eval import ResizedImages, calibrated_subnet, disjoint_calibration, onnx_correct

    torch.set_num_threads(args.threads)
    cfg = get_space("fashion_mnist")
    pairs = read_pairs(args.pairs, cfg)
    data = get_dataset("fashion_mnist", augment=False, calib_images=args.calib_images)
    net = load_default_supernet(cfg, args.supernet)
    # augment=False: data.train holds the plain training images the calibration samples come from
    calib_b = disjoint_calibration(data.train, args.calib_images)
    images = ResizedImages(data.holdout, None)
    out = Path(args.out)
    saved = read_json(out, "label-noise file") if out.exists() else {}
    rows = saved.get("rows", [])
    # where the rows were measured; a summary for other labels keeps it
    source = saved.get("source") or {"pairs": Path(args.pairs).name, "supernet": args.supernet or "shipped",
                                     "calib_images": args.calib_images}
    for arch, label in tqdm(pairs[len(rows):args.k], desc="label noise", unit="subnet"):
        t0 = time.perf_counter()
        x, y = images.at(arch["image_size"])
        row = {"arch": arch, "label": label, "n_images": int(len(y))}
        for name, cal in (("a", data.calib), ("b", calib_b)):
            ok = onnx_correct(calibrated_subnet(net, arch, cal, args.calib_images), x, y, threads=args.threads)
            row["acc_" + name] = 100.0 * float(ok.mean())
            if name == "a":
                row["correct_a"] = pack_correct(ok)
        rows.append(row)
        write_json(out, {"source": source, "rows": rows}, indent=None)
        tqdm.write(f"{arch['image_size']} px: label {label:.2f}, calib a {row['acc_a']:.2f}, "
                   f"calib b {row['acc_b']:.2f} ({time.perf_counter() - t0:.0f} s)")
    pooled = [r for f in args.pool for r in read_json(f, "label-noise file")["rows"]]
    label_files = args.labels or [args.pairs]
    labels = [pair for f in label_files for pair in read_pairs(f, cfg)]
    summary = {"labels": [Path(f).name for f in label_files], "pooled": [Path(f).name for f in args.pool],
               **summarise(rows + pooled, labels)}
    write_json(out, {"source": source, "rows": rows, "pooled_rows": pooled, "summary": summary}, indent=None)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    from ofa_mcu.errors import run_script

    run_script(main)
