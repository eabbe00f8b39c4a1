"""Ship a trained supernet as the package's embedded default (half precision), after checking
that half precision keeps the accuracy of a few subnets (run by hand after `ofa-mcu train`).

    .venv/bin/python scripts/ship_default.py RUN_DIR [--space fashion_mnist] [--upto-phase N] [--baseline SCRATCH_DIR ...]
    .venv/bin/python scripts/ship_default.py --baselines-only --baseline SCRATCH_DIR ... [--space fashion_mnist]

``--upto-phase N`` ships the weights saved at the end of phase N (``phase_N_<name>.pt``) of a run
that is still going or was stopped, with the records up to that phase.

The metadata written beside the weights records the run's accuracy per phase and epoch times,
those of the run it was initialised from (``--init``) when that folder is still there, and the
from-scratch baselines given with ``--baseline`` (folders of ``ofa-mcu train --scratch``).
``--baselines-only`` adds baselines to the shipped metadata and re-measures its supernet-vs-alone
table from the shipped weights, which it leaves as they are (e.g. when a new predictor makes the
default build choose another subnet).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import torch


def run_record(run: Path, upto_phase: int | None = None) -> dict:
    """Train config, per-phase top-1 and epoch seconds of an ``ofa-mcu train`` run: a finished
    one (``summary.json``), or its first ``upto_phase`` phases read from ``log.jsonl``."""
    if upto_phase is None:
        summary = json.loads((run / "summary.json").read_text())
        phases, seconds = summary["phases"], summary["epoch_seconds"]
    else:
        from ofa_mcu.train.history import read_log

        records = read_log(run / "log.jsonl")
        phases = [r for r in records if r.get("kind") == "phase"][:upto_phase]
        if len(phases) < upto_phase:
            raise SystemExit(f"{run} has finished {len(phases)} phases, not {upto_phase}")
        last_step = phases[-1]["global_step"]
        seconds = {}
        for r in records:
            if r.get("kind") == "epoch" and r["global_step"] <= last_step:
                seconds.setdefault(r["phase"], []).append(round(r["seconds"], 1))
    return {"train_config": json.loads((run / "train_config.json").read_text()),
            "phases": [{"phase": p["phase"], "eval": {k: v["top1"] for k, v in p["eval"].items()},
                        "archs": p.get("archs")} for p in phases],
            "epoch_seconds": seconds, **({"shipped_phases": upto_phase} if upto_phase else {})}


def weights_file(run: Path, upto_phase: int | None) -> Path:
    """The run's final weights, or those saved at the end of phase ``upto_phase``."""
    if upto_phase is None:
        return run / "supernet.pt"
    found = sorted(run.glob(f"phase_{upto_phase}_*.pt"))
    if not found:
        raise SystemExit(f"{run} has no weights saved at the end of phase {upto_phase}")
    return found[0]


def vs_alone(baselines: list[dict], half: dict, cfg, data, previous: dict, names: dict | None = None) -> dict:
    """Each from-scratch baseline's subnet taken from the shipped (half-precision) weights, on the
    baseline's own holdout images, BN re-calibrated on 1,000 training images. ``names`` maps an
    arch's JSON (sorted keys) to its row's name, over the recorded and the reference names."""
    from ofa_mcu.data import evenly_spaced
    from ofa_mcu.nn import OFAMCUNet
    from ofa_mcu.train.subnet_eval import measure_subnet
    from ofa_mcu.train.trainer import reference_archs

    net = OFAMCUNet(cfg)
    net.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in half.items()})
    key = lambda arch: json.dumps(arch, sort_keys=True)  # noqa: E731
    labels = {key(r["arch"]): r["subnet"] for r in previous.get("supernet_vs_alone", {}).get("rows", [])}
    labels.update({key(a): f"{name} ({a['image_size']} px)" for name, a in reference_archs(cfg, 1).items()})
    labels.update(names or {})
    rows = []
    for b in baselines:
        holdout = data.holdout.subset(evenly_spaced(len(data.holdout), b["n"]))
        top1 = measure_subnet(net, b["arch"], data.calib, holdout, calib_images=1000)["top1"]
        rows.append({"subnet": labels.get(key(b["arch"]), f"subnet at {b['arch']['image_size']} px"),
                     "arch": b["arch"], "alone": b["top1"], "supernet": round(top1, 2),
                     "gap": round(b["top1"] - top1, 2)})
        print(f"{rows[-1]['subnet']}: alone {b['top1']:.2f}, supernet {top1:.2f}", file=sys.stderr)
    return {"how": "top-1 % on the baseline's holdout images; the supernet's subnet BN-recalibrated on 1,000 "
                   "training images; alone: the same subnet trained from scratch (ofa-mcu train --scratch)",
            "rows": rows}


def read_baselines(folders: list[str]) -> list[dict]:
    """The summaries (without their logs) of ``ofa-mcu train --scratch`` runs."""
    return [{k: v for k, v in json.loads((Path(b) / "summary.json").read_text()).items() if k != "log"}
            for b in folders]


def merged_baselines(new: list[dict], previous: dict) -> list[dict]:
    """``new`` baselines first, then the previously recorded ones of other subnets."""
    known = {json.dumps(b["arch"], sort_keys=True) for b in new}
    return new + [b for b in previous.get("scratch_baselines", []) if json.dumps(b["arch"], sort_keys=True) not in known]


def add_baselines(cfg, folders: list[str], name: str | None) -> int:
    """Add baselines to the shipped metadata; re-measure supernet vs alone from the shipped weights."""
    from ofa_mcu.assets import ASSETS
    from ofa_mcu.data import get_dataset
    from ofa_mcu.io import write_json

    if not folders:
        raise SystemExit("error: --baselines-only needs --baseline SCRATCH_DIR ...")
    meta_path = ASSETS / "supernets" / f"{cfg.name}.json"
    meta = json.loads(meta_path.read_text())
    half = torch.load(ASSETS / "supernets" / f"{cfg.name}.pt", map_location="cpu", weights_only=True)
    new = read_baselines(folders)
    names = {json.dumps(b["arch"], sort_keys=True): f"{name} ({b['arch']['image_size']} px)" for b in new} if name else {}
    meta["scratch_baselines"] = merged_baselines(new, meta)
    meta["supernet_vs_alone"] = vs_alone(meta["scratch_baselines"], half, cfg, get_dataset(cfg.name), meta, names)
    write_json(meta_path, meta)
    print(f"added {len(folders)} baseline(s) to {meta_path}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", help="training run folder (holds supernet.pt, train_config.json, summary.json)")
    ap.add_argument("--baselines-only", action="store_true",
                    help="keep the shipped weights and run record; add --baseline runs and re-measure vs alone")
    ap.add_argument("--name", default=None, help="with --baselines-only: the name of the added baselines' rows")
    ap.add_argument("--space", default="fashion_mnist")
    ap.add_argument("--eval-images", type=int, default=2000)
    ap.add_argument("--baseline", nargs="*", default=[], help="ofa-mcu train --scratch run folders")
    ap.add_argument("--upto-phase", type=int, default=None, help="ship the weights saved at the end of this phase")
    args = ap.parse_args()

    from ofa_mcu.assets import ASSETS
    from ofa_mcu.config import get_space
    from ofa_mcu.data import evenly_spaced, get_dataset
    from ofa_mcu.io import atomic_write_bytes, write_json
    from ofa_mcu.nn import OFAMCUNet
    from ofa_mcu.train.subnet_eval import measure_subnet
    from ofa_mcu.train.trainer import reference_archs

    torch.set_num_threads(1)
    cfg = get_space(args.space)
    if args.baselines_only:
        return add_baselines(cfg, args.baseline, args.name)
    if args.run is None:
        raise SystemExit("error: give the training run folder to ship, or --baselines-only --baseline SCRATCH_DIR")
    run = Path(args.run)
    state = torch.load(weights_file(run, args.upto_phase), map_location="cpu", weights_only=True)
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
    shipped_meta = ASSETS / "supernets" / f"{cfg.name}.json"
    previous = json.loads(shipped_meta.read_text()) if shipped_meta.is_file() else {}
    meta = {"space": cfg.to_dict(), **run_record(run, args.upto_phase), "half_precision_check": checks,
            "half_precision_max_change_points": worst}
    init = meta["train_config"]["train"].get("init")
    if init and (Path(init).parent / "summary.json").is_file():
        meta["init_run"] = run_record(Path(init).parent)
    elif init and Path(init).resolve() == (ASSETS / "supernets" / f"{cfg.name}.pt").resolve() and previous:
        if previous.get("train_config") == meta["train_config"]:
            # an earlier phase of this same run was shipped: keep that phase's lineage
            if "init_run" in previous:
                meta["init_run"] = previous["init_run"]
        else:  # fine-tuned from the shipped weights: their record becomes this one's lineage
            meta["init_run"] = {k: v for k, v in previous.items() if k != "space"}
    meta["scratch_baselines"] = merged_baselines(read_baselines(args.baseline), previous)
    meta["supernet_vs_alone"] = vs_alone(meta["scratch_baselines"], half, cfg, data, previous)
    buf = io.BytesIO()
    torch.save(half, buf)
    atomic_write_bytes(ASSETS / "supernets" / f"{cfg.name}.pt", buf.getvalue())
    write_json(ASSETS / "supernets" / f"{cfg.name}.json", meta)
    print(f"shipped {ASSETS / 'supernets' / (cfg.name + '.pt')} (max change from fp16 {worst:.2f} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
