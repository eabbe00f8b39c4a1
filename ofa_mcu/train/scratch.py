"""Train one fixed subnet from scratch: the baseline progressive shrinking is compared with."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import UserError
from ..io import refuse_clobber, write_json
from .checkpoint import LATEST, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .history import append_log, read_log, truncate_log
from .optim import nesterov_sgd, set_lr, supervised_step
from .schedule import cosine_lr


def train_scratch(arch: dict, space, data, out: str | os.PathLike, *, epochs: int, lr: float = 0.1,
                  batch_size: int = 128, weight_decay: float = 3e-5, label_smoothing: float = 0.1,
                  eval_images: int = 5000, seed: int = 0, resume: bool = False, force: bool = False,
                  steps_per_epoch: int | None = None, progress: bool = True) -> dict:
    """SGD with a cosine schedule on the static subnet ``arch`` at its own resolution (the
    supernet trains at every resolution); checkpoints every epoch, ``resume`` continues.
    Returns ``{"arch", "epochs", "top1", "seconds"}`` (top-1 on the holdout images)."""
    from ..data import evenly_spaced, make_loader
    from ..nn import StaticSubnet
    from ..space.table import build_table
    from .evaluate import evaluate_top1

    out = Path(out)
    torch.manual_seed(seed)
    net = StaticSubnet(build_table(arch, space)).to(memory_format=torch.channels_last)
    opt = nesterov_sgd(net, lr, weight_decay)
    start, seconds = 0, 0.0
    if resume:
        ck = load_checkpoint(out / LATEST)
        if ck["arch"] != arch or ck["epochs"] != epochs:
            raise UserError("--resume with a different arch or --epochs; resume with the run's original flags")
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        set_rng_state(ck["rng"])
        start, seconds = ck["epoch"], ck["seconds"]
        truncate_log(out / "log.jsonl", start)
    else:
        refuse_clobber(out, force, "training run folder")
        out.mkdir(parents=True, exist_ok=True)
        (out / "log.jsonl").unlink(missing_ok=True)
    r = arch["image_size"]
    steps = len(make_loader(data.train, batch_size, shuffle=True, drop_last=True))
    if steps_per_epoch:
        steps = min(steps, steps_per_epoch)
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        net.train()
        loader = make_loader(data.train, batch_size, shuffle=True, drop_last=True, seed=seed * 1009 + epoch)
        total = 0.0
        bar = tqdm(loader, desc=f"scratch {epoch + 1}/{epochs}", total=steps, disable=not progress)
        for i, (x, y) in enumerate(bar):
            if i >= steps:
                break
            set_lr(opt, cosine_lr(epoch * steps + i, epochs * steps, lr, warmup_steps=steps // 2))
            total += supervised_step(net, opt, x, y, r, label_smoothing, channels_last=True)
        seconds += time.perf_counter() - t0
        append_log(out / "log.jsonl", {"kind": "epoch", "epoch": epoch + 1, "global_step": epoch + 1,
                                       "loss": total / steps, "seconds": time.perf_counter() - t0})
        save_checkpoint(out / LATEST, {"model": net.state_dict(), "optimizer": opt.state_dict(), "rng": rng_state(),
                                       "epoch": epoch + 1, "epochs": epochs, "arch": arch, "seconds": seconds})
    holdout = data.holdout
    if eval_images and eval_images < len(holdout):
        holdout = holdout.subset(evenly_spaced(len(holdout), eval_images))
    res = evaluate_top1(net.eval(), make_loader(holdout, 200), resolution=r)
    summary = {"arch": arch, "epochs": epochs, "top1": res["top1"], "n": res["n"], "seconds": round(seconds, 1),
               "log": [x for x in read_log(out / "log.jsonl")]}
    write_json(out / "summary.json", summary)
    save_checkpoint(out / "subnet.pt", net.state_dict())
    return summary
