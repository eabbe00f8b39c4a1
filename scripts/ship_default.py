"""Ship a trained supernet as the package's embedded default (half precision), after checking
that half precision keeps the accuracy of a few subnets (run by hand after `ofa-mcu train`).

    .venv/bin/python scripts/ship_default.py RUN_DIR [--space fashion_mnist] [--baseline SCRATCH_DIR ...]

The metadata written beside the weights records the run's accuracy per phase and epoch times,
those of the run it was initialised from (``--init``) when that folder is still there, and the
from-scratch baselines given with ``--baseline`` (folders of ``ofa-mcu train --scratch``).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import torch


def run_record(run: Path) -> dict:
    """Train config, per-phase top-1 and epoch seconds of a finished ``ofa-mcu train`` run."""
    summary = json.loads((run / "summary.json").read_text())
    return {"train_config": json.loads((run / "train_config.json").read_text()),
            "phases": [{"phase": p["phase"], "eval": {k: v["top1"] for k, v in p["eval"].items()},
                        "archs": p.get("archs")} for p in summary["phases"]],
            "epoch_seconds": summary["epoch_seconds"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="training run folder (holds supernet.pt, train_config.json, summary.json)")
    ap.add_argument("--space", default="fashion_mnist")
    ap.add_argument("--eval-images", type=int, default=2000)
    ap.add_argument("--baseline", nargs="*", default=[], help="ofa-mcu train --scratch run folders")
    args = ap.parse_args()

    from ofa_mcu.assets import ASSETS
    from ofa_mcu.config import get_space
    from ofa_mcu.data import evenly_spaced, get_dataset
    from ofa_mcu.io import atomic_write_bytes, write_json
    from ofa_mcu.nn import OFAMCUNet
    from ofa_mcu.train.subnet_eval import measure_subnet
    from ofa_mcu.train.trainer import reference_archs

    torch.set_num_threads(1)
    run = Path(args.run)
    cfg = get_space(args.space)
    state = torch.load(run / "supernet.pt", map_location="cpu", weights_only=True)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    data = get_dataset("fashion_mnist")
    holdout = data.holdout.subset(evenly_spaced(len(data.holdout), args.eval_images))
    checks = {}
    for name, st in (("float32", state), ("float16", {k: (v.float() if v.is_floating_point() else v)
                                                      for k, v in half.items()})):
        net = OFAMCUNet(cfg)
        net.load_state_dict(st)
        refs = reference_archs(cfg, 3)
        checks[name] = {k: measure_subnet(net, a, data.calib, holdout, calib_images=500)["top1"] for k, a in refs.items()}
        print(name, checks[name], file=sys.stderr)
    worst = max(abs(checks["float32"][k] - checks["float16"][k]) for k in checks["float32"])
    if worst > 0.3:
        print(f"half precision changes top-1 by {worst:.2f} points; not shipping", file=sys.stderr)
        return 1
    buf = io.BytesIO()
    torch.save(half, buf)
    atomic_write_bytes(ASSETS / "supernets" / f"{cfg.name}.pt", buf.getvalue())
    meta = {"space": cfg.to_dict(), **run_record(run), "half_precision_check": checks,
            "half_precision_max_change_points": worst}
    init = meta["train_config"]["train"].get("init")
    if init and (Path(init).parent / "summary.json").is_file():
        meta["init_run"] = run_record(Path(init).parent)
    meta["scratch_baselines"] = [
        {k: v for k, v in json.loads((Path(b) / "summary.json").read_text()).items() if k != "log"}
        for b in args.baseline]
    write_json(ASSETS / "supernets" / f"{cfg.name}.json", meta)
    print(f"shipped {ASSETS / 'supernets' / (cfg.name + '.pt')} (max change from fp16 {worst:.2f} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
