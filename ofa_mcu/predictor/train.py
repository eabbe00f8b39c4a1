"""Training accuracy predictors with torch (CPU); the result is a numpy :class:`AccuracyPredictor`.

Seeded and deterministic: each MLP seeds torch from ``seed`` and shuffles with a numpy generator.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..config import SpaceConfig
from ..errors import UserError
from ..space.batch import ArchBatch, sample_batch, sample_batch_spread
from ..space.encoding import get_encoding
from .model import AccuracyPredictor
from .recipes import MLPSpec, Recipe


# ---- target normalisation (pure): y_norm = (acc - shift) / scale ---------------------------
def _target_lab_fraction(acc: np.ndarray) -> tuple[float, float]:
    # The lab trains on accuracy as a fraction with a fixed base accuracy (the train mean).
    return 100.0, float(np.mean(acc))


def _target_standardize(acc: np.ndarray) -> tuple[float, float]:
    std = float(np.std(acc))
    return (std if std > 1e-6 else 1.0), float(np.mean(acc))


TARGETS: dict[str, Callable[[np.ndarray], tuple[float, float]]] = {
    "lab_fraction": _target_lab_fraction,
    "standardize": _target_standardize,
}

LOSSES = {"l1": "L1Loss", "mse": "MSELoss", "huber": "SmoothL1Loss"}


def _lr_constant(t: float) -> float:
    return 1.0


def _lr_cosine(t: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * t))


SCHEDULES: dict[str, Callable[[float], float]] = {"constant": _lr_constant, "cosine": _lr_cosine}


def effective_epochs(spec: MLPSpec, n: int) -> int:
    """Epochs to run on ``n`` rows: ``spec.epochs``, raised until ``spec.min_steps`` steps run."""
    steps_per_epoch = max(1, math.ceil(n / spec.batch_size))
    return max(spec.epochs, math.ceil(spec.min_steps / steps_per_epoch))


@dataclass
class TrainedMLP:
    """Weights of a trained MLP in numpy form ((W (in, out), b or None) per layer), input
    standardisation already folded into the first layer."""

    layers: list[tuple[np.ndarray, np.ndarray | None]]
    epochs: int
    steps: int
    seconds: float
    final_loss: float
    skip: np.ndarray | None = None


def _net_class():
    from torch import nn

    class Net(nn.Module):
        """An MLP plus an optional linear path from the input straight to the output."""

        def __init__(self, mlp, skip):
            super().__init__()
            self.mlp = mlp
            self.skip = skip

        def forward(self, x):
            out = self.mlp(x)
            return out + self.skip(x) if self.skip is not None else out

    return Net


def _check_spec(spec: MLPSpec) -> None:
    get_encoding(spec.encoding)
    for value, table, what in ((spec.loss, LOSSES, "loss"), (spec.schedule, SCHEDULES, "schedule"),
                               (spec.target, TARGETS, "target")):
        if value not in table:
            raise UserError(f"unknown {what} {value!r}; choose one of {', '.join(sorted(table))}")
    spec.check()
    if spec.batch_size < 1:
        raise UserError(f"batch size ({spec.batch_size}) must be at least 1")


def train_mlp(x: np.ndarray, y: np.ndarray, spec: MLPSpec, seed: int, weights: np.ndarray | None = None,
              desc: str = "mlp", progress: bool = True) -> TrainedMLP:
    """Train one MLP on encoded rows ``x`` (N, D) and normalised targets ``y`` (N,).

    ``weights`` (N,) optionally weighs each row in the loss.
    """
    import torch
    from torch import nn
    from tqdm.auto import tqdm

    _check_spec(spec)
    t0 = time.perf_counter()
    n, dim = x.shape
    x = np.asarray(x, dtype=np.float32)
    if spec.standardize_inputs:
        mu = x.mean(axis=0)
        sd = x.std(axis=0)
        sd = np.where(sd > 1e-6, sd, 1.0).astype(np.float32)
    else:
        mu, sd = np.zeros(dim, np.float32), np.ones(dim, np.float32)
    xt = torch.from_numpy((x - mu) / sd)
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    wt = None if weights is None else torch.from_numpy(np.asarray(weights, dtype=np.float32))

    _Net = _net_class()
    torch.manual_seed(seed)
    mods: list = []
    prev = dim
    for h in spec.hidden:
        mods += [nn.Linear(prev, h), nn.ReLU()]
        if spec.dropout > 0:
            mods.append(nn.Dropout(spec.dropout))
        prev = h
    mods.append(nn.Linear(prev, 1, bias=spec.last_bias))
    net = _Net(nn.Sequential(*mods), nn.Linear(dim, 1, bias=False) if spec.linear_skip else None)
    if net.skip is not None:
        nn.init.zeros_(net.skip.weight)
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    loss_fn = getattr(nn, LOSSES[spec.loss])(reduction="none")
    sched = SCHEDULES[spec.schedule]

    epochs = effective_epochs(spec, n)
    steps_per_epoch = math.ceil(n / spec.batch_size)
    total = epochs * steps_per_epoch
    rng = np.random.default_rng(seed)
    step = 0
    last = float("nan")
    net.train()
    bar = tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=False, mininterval=0.5)
    for _ in range(epochs):
        perm = torch.from_numpy(rng.permutation(n))
        running, count = 0.0, 0
        for i in range(0, n, spec.batch_size):
            idx = perm[i:i + spec.batch_size]
            for g in opt.param_groups:
                g["lr"] = spec.lr * sched(step / total)
            out = net(xt[idx]).squeeze(1)
            per_row = loss_fn(out, yt[idx])
            loss = (per_row * wt[idx]).sum() / wt[idx].sum() if wt is not None else per_row.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running += float(loss.detach()) * len(idx)
            count += len(idx)
        last = running / count
        bar.set_postfix(loss=f"{last:.4f}", refresh=False)
        bar.update(steps_per_epoch)
    bar.close()
    net.eval()
    if spec.refit_head_epochs > 0:
        _refit_head(net, xt, yt, wt, spec, loss_fn, rng)

    linears = [m for m in net.mlp if isinstance(m, nn.Linear)]
    layers = []
    for j, lin in enumerate(linears):
        W = lin.weight.detach().numpy().T.astype(np.float32).copy()
        b = None if lin.bias is None else lin.bias.detach().numpy().astype(np.float32).copy()
        if j == 0:
            # fold (x - mu) / sd into the first layer: x @ (W / sd) + (b - (mu / sd) @ W)
            b0 = np.zeros(W.shape[1], np.float32) if b is None else b
            b = (b0 - (mu / sd) @ W).astype(np.float32)
            W = (W / sd[:, None]).astype(np.float32)
        layers.append((W, b))
    skip = None
    if net.skip is not None:
        # the skip reads the standardised input too: x @ (v / sd) - (mu / sd) @ v
        v = net.skip.weight.detach().numpy()[0].astype(np.float32)
        skip = (v / sd).astype(np.float32)
        skip_const = float(-(mu / sd) @ v)
        Wl, bl = layers[-1]
        bl = np.zeros(1, np.float32) if bl is None else bl
        layers[-1] = (Wl, (bl + skip_const).astype(np.float32))
    return TrainedMLP(layers, epochs, step, time.perf_counter() - t0, last, skip)


def _refit_head(net, xt, yt, wt, spec: MLPSpec, loss_fn, rng: np.random.Generator) -> None:
    """Retrain the output layer (and the linear skip) on the hidden features computed without
    dropout: dropout-trained nets predict shrunk toward the mean at inference, and this removes
    most of that bias (measured on the VWW pairs, one dropout MLP with a linear skip, 10 epochs:
    MAE 0.154 -> 0.147 points)."""
    import torch

    body = net.mlp[:-1]
    head = net.mlp[-1]
    with torch.no_grad():
        hidden = torch.cat([body(xt[i:i + 8192]) for i in range(0, len(xt), 8192)])
    params = list(head.parameters()) + ([] if net.skip is None else list(net.skip.parameters()))
    opt = torch.optim.Adam(params, lr=spec.lr * 0.1)
    n = len(xt)
    for _ in range(spec.refit_head_epochs):
        perm = torch.from_numpy(rng.permutation(n))
        for i in range(0, n, spec.batch_size):
            idx = perm[i:i + spec.batch_size]
            out = head(hidden[idx]).squeeze(1)
            if net.skip is not None:
                out = out + net.skip(xt[idx]).squeeze(1)
            per_row = loss_fn(out, yt[idx])
            loss = (per_row * wt[idx]).sum() / wt[idx].sum() if wt is not None else per_row.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def _predictor(mlp: TrainedMLP, spec: MLPSpec, cfg: SpaceConfig, scale: float, shift: float,
               meta: dict) -> AccuracyPredictor:
    return AccuracyPredictor(mlp.layers, spec.encoding, cfg, scale, shift, "relu", meta, skip=mlp.skip)


def fit_recipe(batch: ArchBatch, acc: np.ndarray, recipe: Recipe, cfg: SpaceConfig, seed: int = 0,
               progress: bool = True) -> AccuracyPredictor:
    """Train ``recipe`` on archs ``batch`` with measured accuracies ``acc`` (points).

    Returns the predictor; ``meta["training"]`` records epochs, steps and seconds per MLP.
    """
    from tqdm.auto import tqdm

    recipe.check()
    acc = np.asarray(acc, dtype=np.float64)
    if len(acc) < 2:
        raise UserError(f"{len(acc)} training pairs are too few to train a predictor; give at least 2")
    spec = recipe.model
    scale, shift = TARGETS[spec.target](acc)
    y = (acc - shift) / scale
    x = get_encoding(spec.encoding)(batch, cfg)
    log: list[dict] = []
    teachers: list[AccuracyPredictor] = []
    for m in range(recipe.members):
        mlp = train_mlp(x, y, spec, seed=seed * 1000 + m, progress=progress,
                        desc=f"{recipe.name} mlp {m + 1}/{recipe.members}")
        log.append({"role": "member", "epochs": mlp.epochs, "steps": mlp.steps,
                    "seconds": round(mlp.seconds, 1), "final_loss": mlp.final_loss})
        teachers.append(_predictor(mlp, spec, cfg, scale, shift, {}))
    base_meta = {"recipe": recipe.to_dict(), "seed": seed, "training": log}
    if recipe.distill is None and recipe.members == 1:
        teachers[0].meta = base_meta
        return teachers[0]
    if recipe.distill is None:
        raise UserError(f"recipe {recipe.name!r} has {recipe.members} members but no distillation; "
                        f"an ensemble ships as one distilled MLP")

    d = recipe.distill
    st = d.student
    rng = np.random.default_rng(seed + 7919)
    wids = _train_wids(batch, cfg)
    n_spread = int(round(d.n_random * d.spread_fraction))
    rand = ArchBatch.concat([sample_batch(rng, d.n_random - n_spread, cfg, wids=wids),
                             sample_batch_spread(rng, n_spread, cfg, wids=wids)])
    labels = []
    chunk = 20_000
    for i in tqdm(range(0, d.n_random, chunk), desc="teacher labels", disable=not progress, leave=False):
        part = rand.take(np.arange(i, min(i + chunk, d.n_random)))
        labels.append(np.mean([t.predict_batch(part) for t in teachers], axis=0))
    rand_acc = np.concatenate(labels) if labels else np.zeros(0)
    all_batch = ArchBatch.concat([rand, batch])
    all_acc = np.concatenate([rand_acc, acc])
    w = np.concatenate([np.ones(len(rand_acc)), np.full(len(acc), d.real_weight)])
    xs = get_encoding(st.encoding)(all_batch, cfg)
    s_scale, s_shift = TARGETS[st.target](acc)
    student = train_mlp(xs, (all_acc - s_shift) / s_scale, st, seed=seed * 1000 + 999, weights=w,
                        progress=progress, desc=f"{recipe.name} student")
    log.append({"role": "student", "epochs": student.epochs, "steps": student.steps,
                "seconds": round(student.seconds, 1), "final_loss": student.final_loss,
                "rows": int(len(all_acc))})
    return _predictor(student, st, cfg, s_scale, s_shift, base_meta)


def _train_wids(batch: ArchBatch, cfg: SpaceConfig) -> tuple[int, ...]:
    """Widths to sample random archs from: those the measured pairs cover (the lab's VWW pairs
    hold only wid 0 and 1), falling back to the space's sampling widths."""
    seen = tuple(int(w) for w in np.unique(batch.wid))
    return seen or tuple(cfg.sample_wids)
