"""Re-measure a predictor's held-out subnets with less label noise, and score the predictor on
them (run by hand; see ``ofa_mcu.predictor.ceiling``).

    .venv/bin/python scripts/reference_labels.py PREDICTOR PAIRS.json.gz [PAIRS ...] OUT.json.gz [--shard I/K]
    .venv/bin/python scripts/reference_labels.py PREDICTOR PAIRS.json.gz [PAIRS ...] OUT.json.gz --merge PART ...

A shipped label is one subnet's top-1 on the 10,000 holdout images after BN re-calibration on
one 2,000-image training sample; its noise caps the within-resolution tau any predictor can
show (``scripts/label_noise.py``). This script measures each subnet the predictor held out of
its fit (never seen by the fit, the search or the recipe's choice) on the 10,000 holdout *and*
the 10,000 official test images, under the collect calibration sample and a second disjoint
one, and takes the mean of the two calibrations' 20,000-image top-1 as the reference label.
That halves the eval-sample variance and the calibration variance of a label. The test images
only score the predictor here; nothing is fitted or chosen on them.

``OUT`` keeps every measurement (``rows``: per subnet the four accuracies and which of the
20,000 images calibration a gets right) and, once every held-out subnet is in, the ``summary``:
the predictor's metrics against the shipped and the reference labels, the reference labels'
noise and the tau ceiling it sets (``ofa_mcu.predictor.reference``), with a plot of them beside it
(``OUT``'s name up to its first dot, ``.png``). A rerun resumes; ``--shard I/K`` measures every K-th subnet
from I (parallel processes, each with its own OUT), ``--merge`` joins their files into OUT.
``--only PAIRS`` keeps to the held-out subnets of one of the pair files (a predictor fitted on
several files holds out a fifth of each; see ``ofa_mcu.predictor.pairs.split_by_file``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _key(arch: dict) -> str:
    return json.dumps(arch, sort_keys=True)


def image_counts() -> dict:
    """How many images each set measured holds, in the order ``correct_a`` concatenates them."""
    from ofa_mcu.data import get_dataset

    data = get_dataset("fashion_mnist", augment=False)
    return {"holdout": len(data.holdout), "test": len(data.test)}


def shipped_noise_sd(space: str) -> float:
    """The shipped labels' noise (sd of a difference) that ``scripts/label_noise.py`` recorded."""
    from ofa_mcu.assets import asset
    from ofa_mcu.io import read_json

    return float(read_json(asset("predictors", space, "label_noise.json.gz"), "label-noise file")
                 ["summary"]["noise_sd_of_difference"])


def _measure(args, held, out: Path, rows: list[dict], source: dict) -> None:
    import torch
    from tqdm.auto import tqdm

    from ofa_mcu.config import get_space
    from ofa_mcu.data import get_dataset
    from ofa_mcu.io import write_json
    from ofa_mcu.pipeline.build import load_default_supernet
    from ofa_mcu.predictor.ceiling import pack_correct
    from ofa_mcu.train.subnet_eval import ResizedImages, calibrated_subnet, disjoint_calibration, onnx_correct

    torch.set_num_threads(args.threads)
    cfg = get_space("fashion_mnist")
    data = get_dataset("fashion_mnist", augment=False, calib_images=args.calib_images)
    net = load_default_supernet(cfg, args.supernet)
    calibrations = {"a": data.calib, "b": disjoint_calibration(data.train, args.calib_images)}
    sets = {"holdout": ResizedImages(data.holdout, None), "test": ResizedImages(data.test, None)}
    i, k = args.shard
    done = {_key(r["arch"]) for r in rows}
    todo = [(a, lab) for j, (a, lab) in enumerate(zip(held.batch.to_dicts(), held.acc)) if j % k == i and _key(a) not in done]
    for arch, label in tqdm(todo, desc="reference labels", unit="subnet"):
        t0 = time.perf_counter()
        row = {"arch": arch, "label": float(label)}
        for cname, cal in calibrations.items():
            sub = calibrated_subnet(net, arch, cal, args.calib_images)
            ok = []
            for sname, images in sets.items():
                x, y = images.at(arch["image_size"])
                c = onnx_correct(sub, x, y, threads=args.threads)
                row[f"acc_{cname}_{sname}"] = 100.0 * float(c.mean())
                ok.append(c)
            ok = np.concatenate(ok)
            row["acc_" + cname] = 100.0 * float(ok.mean())
            if cname == "a":
                row["correct_a"], row["n_images"] = pack_correct(ok), int(ok.size)
        row["reference"] = (row["acc_a"] + row["acc_b"]) / 2.0
        rows.append(row)
        write_json(out, {"source": source, "rows": rows}, indent=None)
        tqdm.write(f"{arch['image_size']} px: label {label:.2f}, holdout {row['acc_a_holdout']:.2f}, "
                   f"reference {row['reference']:.2f} ({time.perf_counter() - t0:.0f} s)")


def main(argv=None) -> int:
    """Measure (or merge), save, and summarise once every held-out subnet is measured."""
    from ofa_mcu.validate import shard

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("predictor", help="predictor directory, or a shipped predictor's space name")
    ap.add_argument("pairs", nargs="+", help="the pair files the predictor was fitted on, in that order")
    ap.add_argument("out")
    ap.add_argument("--calib-images", type=int, default=2000)
    ap.add_argument("--supernet", default=None, help="weights (default: the shipped ones)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shard", type=shard, default=(0, 1))
    ap.add_argument("--merge", nargs="+", default=None, metavar="PART", help="join these OUT files into OUT")
    ap.add_argument("--only", default=None, metavar="PAIRS",
                    help="only the held-out subnets of this one of the pair files (default: all of them)")
    args = ap.parse_args(argv)
    for f in args.pairs:
        if not Path(f).is_file():
            raise SystemExit(f"error: pair file {f} does not exist; pass the files the predictor was fitted on")

    from ofa_mcu.io import atomic_write_bytes, read_json, write_json
    from ofa_mcu.predictor.fit import held_out
    from ofa_mcu.predictor.model import load_predictor
    from ofa_mcu.predictor.pairs import load_pairs
    from ofa_mcu.predictor.reference import reference_summary
    from ofa_mcu.predictor.report import reference_png
    from ofa_mcu.space.batch import ArchBatch

    pred = load_predictor(args.predictor)
    if pred.space.name != "fashion_mnist":
        raise SystemExit(f"error: predictor {args.predictor!r} is for space {pred.space.name!r}; this script "
                         "measures Fashion-MNIST subnets (the only space with a test set here): pass fashion_mnist")
    names = [Path(f).name for f in args.pairs]
    if args.only is not None and Path(args.only).name not in names:
        raise SystemExit(f"error: --only {args.only} is not one of the pair files; pass one of {', '.join(names)}")
    held = held_out(pred, load_pairs(args.pairs, pred.space))
    if args.only is not None:
        held = held.take(held.source == names.index(Path(args.only).name))
    out = Path(args.out)
    saved = read_json(out, "reference-label file") if out.exists() else {}
    rows = saved.get("rows", [])
    source = saved.get("source") or {"pairs": [Path(f).name for f in args.pairs], "supernet": args.supernet or "shipped",
                                     "calib_images": args.calib_images, "held_out_of": pred.meta["data"],
                                     "only": None if args.only is None else Path(args.only).name,
                                     "images": image_counts()}
    if args.merge:
        seen = {_key(r["arch"]) for r in rows}
        for part in args.merge:
            for r in read_json(Path(part), "reference-label part")["rows"]:
                if _key(r["arch"]) not in seen:
                    rows.append(r)
                    seen.add(_key(r["arch"]))
        write_json(out, {"source": source, "rows": rows}, indent=None)
    else:
        _measure(args, held, out, rows, source)
    order = {_key(a): j for j, a in enumerate(held.batch.to_dicts())}
    if {_key(r["arch"]) for r in rows} != set(order):
        print(f"{out}: {len(rows)} of {len(order)} held-out subnets measured; run the other shards and --merge")
        return 0
    rows.sort(key=lambda r: order[_key(r["arch"])])
    archs = ArchBatch.from_dicts([r["arch"] for r in rows], pred.space)
    predicted = pred.predict_batch(archs)
    summary = {"repeat_matches_labels": bool(np.allclose([r["acc_a_holdout"] for r in rows],
                                                         [r["label"] for r in rows], atol=0.006)),
               **reference_summary(rows, predicted, shipped_noise_sd(pred.space.name),
                                  n_holdout=source["images"]["holdout"])}
    write_json(out, {"source": source, "rows": rows, "summary": summary}, indent=None)
    png = out.with_name(out.name.split(".")[0] + ".png")
    atomic_write_bytes(png, reference_png(summary, predicted, np.array([r["reference"] for r in rows]),
                                          archs.image_size))
    print(json.dumps(summary, indent=1))
    print(f"wrote {out} and {png}")
    return 0


if __name__ == "__main__":
    from ofa_mcu.errors import run_script

    run_script(main)
