"""Fine-tune one extracted subnet on its own (Once-for-All's optional last step).

The supernet's shared weights are a compromise between every subnet; a few epochs of the chosen
subnet alone, at a small learning rate, recover much of the gap to training it from scratch.
The arch does not change, so its MACs, memory and flash stay what the search chose."""
from __future__ import annotations

import math
import time

import torch
from tqdm import tqdm

from ..data import make_loader
from ..errors import UserError
from .bn_calib import recalibrate_bn
from .optim import nesterov_sgd, set_lr, supervised_step
from .schedule import cosine_lr


def finetune_subnet(net, dataset, resolution: int, *, epochs: float, lr: float = 0.02, batch_size: int = 128,
                    weight_decay: float = 3e-5, label_smoothing: float = 0.1, seed: int = 0,
                    max_steps: int | None = None, bn_calib_images: int = 1000, progress: bool = True) -> dict:
    """Train ``net`` in place for ``epochs`` passes over ``dataset`` at ``resolution`` (SGD with
    Nesterov momentum, cosine schedule from ``lr`` to 0, label smoothing), then re-estimate its
    BN statistics; ``max_steps`` caps the steps (short runs). Returns ``{"steps", "epochs",
    "seconds", "loss_first", "loss_last"}`` with the mean loss of the first and last tenth."""
    if epochs <= 0:
        raise UserError(f"--finetune-epochs {epochs}: must be positive (0 turns fine-tuning off)")
    per_epoch = len(dataset) // batch_size
    if per_epoch == 0:
        raise UserError(f"fine-tuning needs at least {batch_size} training images, the dataset has {len(dataset)}")
    total = max(1, math.ceil(epochs * per_epoch))
    if max_steps:
        total = min(total, max_steps)
    torch.manual_seed(seed)
    opt = nesterov_sgd(net, lr, weight_decay)
    losses: list[float] = []
    t0 = time.perf_counter()
    net.train()
    bar = tqdm(total=total, desc="fine-tune", unit="step", disable=not progress, leave=False)
    step, epoch = 0, 0
    while step < total:
        for x, y in make_loader(dataset, batch_size, shuffle=True, drop_last=True, seed=seed * 1009 + epoch):
            if step >= total:
                break
            set_lr(opt, cosine_lr(step, total, lr))
            losses.append(supervised_step(net, opt, x, y, resolution, label_smoothing))
            step += 1
            bar.update(1)
        epoch += 1
    bar.close()
    calib = make_loader(dataset, batch_size=200, shuffle=False)
    recalibrate_bn(net, calib, num_images=min(bn_calib_images, len(dataset)), resolution=resolution)
    net.eval()
    tenth = max(1, len(losses) // 10)
    return {"steps": total, "epochs": round(total / per_epoch, 3), "seconds": round(time.perf_counter() - t0, 1),
            "loss_first": sum(losses[:tenth]) / tenth, "loss_last": sum(losses[-tenth:]) / tenth}
