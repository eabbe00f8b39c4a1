"""Training of the supernet (``ofa-mcu train``): progressive shrinking or the sandwich rule.

Each step draws a batch, resizes it to a sampled resolution (elastic resolution), samples
``subnets_per_step`` subnets of the current phase, and averages their losses. Progressive
shrinking: cross-entropy on the labels plus, after the first phase, distillation from the
frozen largest network of the previous phases. Sandwich (see ``phases``): the largest subnet
on the labels, the smallest and the random ones on the largest's detached predictions.

Checkpoints are written atomically after every epoch, and mid-epoch when the run stops early
(``budget_minutes`` spent, SIGTERM or SIGINT); ``resume`` continues at the step after the last
checkpoint. Under ``torchrun`` every rank trains on its share of each epoch's batches and
DistributedDataParallel averages the gradients.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..config import get_space
from ..data.registry import dataset_for_space
from ..errors import UserError
from ..io import refuse_clobber, write_json
from ..space import DEFAULT_SPACE
from ..space.arch import largest_arch, sample_arch, smallest_arch
from .checkpoint import LATEST, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .distributed import DistInfo, barrier, init_distributed, shutdown
from .history import append_log, plot_history, read_log, truncate_log
from .optim import param_groups
from .phases import PHASE_ORDER, get_phase, sample_phase_arch
from .schedule import cosine_lr


# Settings that change how fast a run goes, not what it computes: a resume may change them.
RUNTIME_ONLY = frozenset({"threads"})


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved beside its checkpoints)."""

    space: str = DEFAULT_SPACE
    dataset: str = dataset_for_space(DEFAULT_SPACE)
    data_root: str | None = None
    phases: tuple[str, ...] = PHASE_ORDER
    epochs: tuple[int, ...] = (6, 3, 3, 3, 3)
    lrs: tuple[float, ...] = (0.1, 0.03, 0.03, 0.03, 0.03)
    optimizer: str = "sgd"
    weight_decay: float = 3e-5
    momentum: float = 0.9
    batch_size: int = 128
    subnets_per_step: int = 2
    kd_ratio: float = 1.0
    child_label_weight: float = 0.0  # sandwich: weight of the labels' loss on the non-largest subnets
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.5
    steps_per_epoch: int | None = None
    eval_images: int = 5000
    calib_images: int = 1000
    phase_eval_subnets: int = 10
    seed: int = 0
    threads: int | None = None
    channels_last: bool = True
    init: str | None = None  # start from these supernet weights (e.g. another run's supernet.pt)

    def __post_init__(self):
        self.phases = tuple(self.phases)
        self.epochs = tuple(int(e) for e in self.epochs)
        self.lrs = tuple(float(v) for v in self.lrs)
        for name in self.phases:
            get_phase(name)
        if len(self.epochs) != len(self.phases) or len(self.lrs) != len(self.phases):
            raise UserError(f"give one --epochs and one --lr per phase: {len(self.phases)} phases "
                            f"({', '.join(self.phases)}), {len(self.epochs)} epochs, {len(self.lrs)} lrs")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.batch_size < 2 or self.subnets_per_step < 1:
            raise UserError("--batch-size must be >= 2 and --subnets-per-step >= 1")
        if any(e < 1 for e in self.epochs):
            raise UserError(f"--epochs must be >= 1 per phase, got {','.join(map(str, self.epochs))}")

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _sgd(params, cfg: TrainConfig, lr: float):
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)


def _adamw(params, cfg: TrainConfig, lr: float):
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


OPTIMIZERS = {"sgd": _sgd, "adamw": _adamw}


class StopTraining(Exception):
    """The run stopped early (budget spent or a signal) after writing its checkpoint."""

    def __init__(self, global_step: int):
        super().__init__(global_step)
        self.global_step = global_step


class SubnetsForward(nn.Module):
    """Runs several subnets of the supernet on the same batch in one forward call, so one
    DistributedDataParallel forward/backward covers a whole step."""

    def __init__(self, supernet: nn.Module):
        super().__init__()
        self.supernet = supernet

    def forward(self, x: torch.Tensor, archs: list[dict]) -> torch.Tensor:
        """Logits of each arch in ``archs`` on ``x``, stacked: ``(len(archs), N, classes)``."""
        outs = []
        for arch in archs:
            self.supernet.set_active(arch)
            outs.append(self.supernet(x))
        return torch.stack(outs)


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (knowledge distillation, as OFA does it)."""
    return -(target_probs * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def reference_archs(space, n_random: int, seed: int = 1234) -> dict[str, dict]:
    """The subnets reported after each phase: smallest, largest and ``n_random`` fixed random ones."""
    rng = random.Random(seed)
    out = {"smallest": smallest_arch(space), "largest": largest_arch(space)}
    for i in range(n_random):
        out[f"random{i}"] = sample_arch(rng, space)
    return out


class Trainer:
    """One progressive-shrinking run in ``out_dir``."""

    def __init__(self, cfg: TrainConfig, out_dir: str | os.PathLike, resume: bool = False, force: bool = False,
                 progress: bool = True, budget_minutes: float | None = None):
        self.cfg = cfg
        self.out = Path(out_dir)
        self.progress = progress
        self.deadline = None if budget_minutes is None else time.monotonic() + 60.0 * budget_minutes
        self._stop_signal = False
        self.info: DistInfo = init_distributed()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.space = get_space(cfg.space)
        from ..data import get_dataset

        self.data = get_dataset(cfg.dataset, root=cfg.data_root)
        if self.data.num_classes != self.space.n_classes or self.data.channels != self.space.in_channels:
            raise UserError(f"dataset {cfg.dataset!r} has {self.data.num_classes} classes and {self.data.channels} "
                            f"channels but space {cfg.space!r} expects {self.space.n_classes} and "
                            f"{self.space.in_channels}; choose a matching --space")
        from ..nn import OFAMCUNet

        self.net = OFAMCUNet(self.space)
        if cfg.channels_last:  # about 2x faster depthwise convs on CPU
            self.net = self.net.to(memory_format=torch.channels_last)
        self.teacher: nn.Module | None = None
        self.phase_idx, self.epoch, self.global_step, self.step_in_epoch = 0, 0, 0, 0
        self.optimizer_state = None
        if resume:
            self._resume()
        else:
            if cfg.init:
                from ..nn import load_supernet_state

                load_supernet_state(self.net, cfg.init)
            if self.info.is_main:
                refuse_clobber(self.out, force, "training run folder")
                self.out.mkdir(parents=True, exist_ok=True)
                for stale in (self.out / "log.jsonl",):
                    if stale.exists():
                        stale.unlink()
                write_json(self.out / "train_config.json", {"train": cfg.to_dict(), "space": self.space.to_dict()})
            barrier(self.info)
        self.refs = reference_archs(self.space, cfg.phase_eval_subnets)

    # ---- state ---------------------------------------------------------------------------
    def _resume(self) -> None:
        ckpt = load_checkpoint(self.out / LATEST)
        saved = ckpt["train_config"]
        now = self.cfg.to_dict()
        diff = sorted(k for k in set(saved) | set(now) if k not in RUNTIME_ONLY and saved.get(k) != now.get(k))
        if diff:
            raise UserError(f"--resume with different settings ({', '.join(diff)}); "
                            "resume with the run's original flags or start a new --out")
        self.net.load_state_dict(ckpt["model"])
        if ckpt.get("teacher") is not None:
            self.teacher = self._frozen_copy()
            self.teacher.load_state_dict(ckpt["teacher"])
        self.phase_idx, self.epoch, self.global_step = ckpt["phase_idx"], ckpt["epoch"], ckpt["global_step"]
        self.step_in_epoch = ckpt.get("step_in_epoch", 0)
        self.optimizer_state = ckpt.get("optimizer")
        set_rng_state(ckpt["rng"])
        if self.info.is_main:
            truncate_log(self.out / "log.jsonl", self.global_step)

    def _frozen_copy(self) -> nn.Module:
        t = copy.deepcopy(self.net)
        t.set_max()
        t.eval()
        for p in t.parameters():
            p.requires_grad_(False)
        return t

    def _checkpoint(self, optimizer) -> None:
        if not self.info.is_main:
            return
        save_checkpoint(self.out / LATEST, {
            "model": self.net.state_dict(),
            "teacher": None if self.teacher is None else self.teacher.state_dict(),
            "optimizer": None if optimizer is None else optimizer.state_dict(),
            "phase_idx": self.phase_idx, "epoch": self.epoch, "global_step": self.global_step,
            "step_in_epoch": self.step_in_epoch, "rng": rng_state(), "train_config": self.cfg.to_dict(), "space": self.space.to_dict(),
        })

    # ---- the loop ------------------------------------------------------------------------
    def run(self) -> Path | None:
        """Train every remaining phase; returns the path of the final supernet weights, or None
        when the run stopped early (budget or signal) with its checkpoint written."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def request_stop(signum, frame):  # noqa: ARG001 - signal handler signature
            self._stop_signal = True

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            while self.phase_idx < len(self.cfg.phases):
                self._run_phase()
                self.phase_idx, self.epoch, self.step_in_epoch, self.optimizer_state = self.phase_idx + 1, 0, 0, None
                self._checkpoint(None)
            return self._finish()
        except StopTraining:
            return None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutdown(self.info)

    def _steps_per_epoch(self, loader_len: int) -> int:
        per_rank = loader_len // self.info.world_size
        return min(per_rank, self.cfg.steps_per_epoch) if self.cfg.steps_per_epoch else per_rank

    def _run_phase(self) -> None:
        cfg, name = self.cfg, self.cfg.phases[self.phase_idx]
        phase = get_phase(name)
        fresh = self.epoch == 0 and self.step_in_epoch == 0 and self.optimizer_state is None
        if fresh and name in ("expand", "width"):
            self.net.sort_channels()  # keep the most important channels in the shrunk subnets
        if phase.distill and self.teacher is None:
            self.teacher = self._frozen_copy()
        step_module: nn.Module = SubnetsForward(self.net)
        if self.info.distributed:
            import warnings

            # channels-last depthwise weights get grads in another stride order than DDP's buckets:
            # a copy per step, far cheaper than the 2x that channels-last buys on CPU.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            step_module = nn.parallel.DistributedDataParallel(step_module, find_unused_parameters=True)
        lr = cfg.lrs[self.phase_idx]
        optimizer = OPTIMIZERS[cfg.optimizer](param_groups(self.net, cfg.weight_decay), cfg, lr)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        from ..data import make_loader, resize_batch
        from ..nn import sample_resolution

        n_epochs = cfg.epochs[self.phase_idx]
        probe = make_loader(self.data.train, cfg.batch_size, shuffle=True, seed=0, drop_last=True)
        steps = self._steps_per_epoch(len(probe))
        total, warmup = n_epochs * steps, int(cfg.warmup_epochs * steps) if self.phase_idx == 0 else 0
        while self.epoch < n_epochs:
            loader = make_loader(self.data.train, cfg.batch_size, shuffle=True, drop_last=True,
                                 seed=cfg.seed * 1_000_003 + self.phase_idx * 1009 + self.epoch)
            self.net.train()
            t0, seen, loss_sum, n_loss = time.perf_counter(), 0, 0.0, 0
            done = skip = self.step_in_epoch
            bar = tqdm(total=steps, initial=done, desc=f"{name} {self.epoch + 1}/{n_epochs}", unit="step",
                       disable=not (self.progress and self.info.is_main))
            for i, (x, y) in enumerate(loader):
                # Every rank reaches this point with the same ``done`` (one batch each per round),
                # so they agree on stopping before any of them takes its batch of the round.
                if i % self.info.world_size == 0 and (done >= steps or self._stop_now()):
                    break
                if i % self.info.world_size != self.info.rank:
                    continue
                if skip > 0:  # resumed mid-epoch: these batches were trained before the stop
                    skip -= 1
                    continue
                step_in_phase = self.epoch * steps + done
                for g in optimizer.param_groups:
                    g["lr"] = cosine_lr(step_in_phase, total, lr, warmup)
                step_rng = random.Random(cfg.seed * 7_919 + self.global_step)
                res = sample_resolution(step_rng, self.space)
                x = resize_batch(x, res).to(self.info.device)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                loss = self._step_loss(phase, step_module, x, y.to(self.info.device), res, step_rng)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                self.global_step += 1
                done += 1
                self.step_in_epoch = done
                seen += x.shape[0]
                loss_sum += loss.item()
                n_loss += 1
                bar.update(1)
                if self.info.is_main and (done % 20 == 0 or done == steps):
                    bar.set_postfix(loss=f"{loss_sum / n_loss:.3f}")
                    append_log(self.out / "log.jsonl", {
                        "kind": "step", "phase": name, "epoch": self.epoch, "global_step": self.global_step,
                        "loss": loss_sum / n_loss, "lr": optimizer.param_groups[0]["lr"],
                        "images_per_s": seen * self.info.world_size / (time.perf_counter() - t0)})
                    loss_sum, n_loss = 0.0, 0
            bar.close()
            self.optimizer_state = optimizer.state_dict()
            if done < steps:  # stopped early: keep the partial epoch, resume continues after it
                self._checkpoint(optimizer)
                raise StopTraining(self.global_step)
            self.epoch, self.step_in_epoch = self.epoch + 1, 0
            if self.info.is_main:
                evals = self._evaluate({"largest": self.refs["largest"], "smallest": self.refs["smallest"]},
                                       cfg.eval_images)
                append_log(self.out / "log.jsonl", {
                    "kind": "epoch", "phase": name, "epoch": self.epoch, "global_step": self.global_step,
                    "seconds": time.perf_counter() - t0, "eval": evals})
                plot_history(read_log(self.out / "log.jsonl"), self.out / "train.png")
            self._checkpoint(optimizer)
            barrier(self.info)
        if self.info.is_main:
            self._phase_report(name)

    def _step_loss(self, phase, step_module: nn.Module, x: torch.Tensor, y: torch.Tensor, res: int,
                   rng: random.Random) -> torch.Tensor:
        """The loss of one step of ``phase``: the mean over the step's subnets.

        OFA and BigNAS sum the subnets' losses instead; with SGD, the mean at learning rate
        ``(2 + subnets_per_step) * lr`` and weight decay ``wd / (2 + subnets_per_step)`` is the
        same update as their sum at ``lr`` and ``wd``. So a sandwich run here needs about 4x the
        learning rate of a from-scratch run (measured: lr 0.16 beat 0.04-0.02 by 0.3-0.9 points).
        """
        cfg, space = self.cfg, self.space
        if phase.sandwich:
            archs = [largest_arch(space, res), smallest_arch(space, res)]
            archs += [sample_phase_arch(phase, rng, space, res) for _ in range(cfg.subnets_per_step)]
            logits = step_module(x, archs)
            soft = F.softmax(logits[0].detach(), dim=-1)
            loss = F.cross_entropy(logits[0], y, label_smoothing=cfg.label_smoothing)
            for out in logits[1:]:
                loss = loss + cfg.kd_ratio * soft_cross_entropy(out, soft)
                if cfg.child_label_weight > 0:
                    loss = loss + cfg.child_label_weight * F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
            return loss / len(archs)
        k = 1 if phase.name == "largest" else cfg.subnets_per_step
        archs = [sample_phase_arch(phase, rng, space, res) for _ in range(k)]
        soft = None
        if phase.distill:
            with torch.no_grad():
                soft = F.softmax(self.teacher(x), dim=-1)
        loss = 0.0
        for out in step_module(x, archs):
            term = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
            if soft is not None and cfg.kd_ratio > 0:
                term = term + cfg.kd_ratio * soft_cross_entropy(out, soft)
            loss = loss + term
        return loss / len(archs)

    def _stop_now(self) -> bool:
        """Whether the run should checkpoint and stop: a signal arrived or the budget is spent
        (every rank agrees, so DDP never waits on a rank that left)."""
        over = self._stop_signal or (self.deadline is not None and time.monotonic() >= self.deadline)
        if not self.info.distributed:
            return over
        import torch.distributed as dist

        flag = torch.tensor([1.0 if over else 0.0])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _evaluate(self, archs: dict[str, dict], eval_images: int) -> dict:
        from .subnet_eval import measure_subnet

        holdout = self.data.holdout
        if eval_images and eval_images < len(holdout):
            from ..data import evenly_spaced

            holdout = holdout.subset(evenly_spaced(len(holdout), eval_images))
        out = {}
        for key, arch in archs.items():
            r = measure_subnet(self.net, arch, self.data.calib, holdout, calib_images=self.cfg.calib_images)
            out[key] = {"top1": r["top1"], "n": r["n"]}
        self.net.train()
        return out

    def _phase_report(self, name: str) -> None:
        t0 = time.perf_counter()
        evals = self._evaluate(self.refs, self.cfg.eval_images)
        rand = [v["top1"] for k, v in evals.items() if k.startswith("random")]
        append_log(self.out / "log.jsonl", {
            "kind": "phase", "phase": name, "global_step": self.global_step, "eval": evals,
            "random_mean": sum(rand) / len(rand) if rand else None, "archs": self.refs,
            "eval_seconds": time.perf_counter() - t0})
        save_checkpoint(self.out / f"phase_{self.phase_idx + 1}_{name}.pt", self.net.state_dict())

    def _ranks_in_sync(self) -> bool:
        """Whether every rank holds the same weights (DDP must keep them identical)."""
        if not self.info.distributed:
            return True
        import torch.distributed as dist

        digest = torch.stack([p.detach().double().sum() for p in self.net.parameters()]).sum().reshape(1)
        gathered = [torch.zeros_like(digest) for _ in range(self.info.world_size)]
        dist.all_gather(gathered, digest)
        return all(torch.equal(g, gathered[0]) for g in gathered)

    def _finish(self) -> Path:
        path = self.out / "supernet.pt"
        in_sync = self._ranks_in_sync()
        if self.info.is_main:
            save_checkpoint(path, self.net.state_dict())
            records = read_log(self.out / "log.jsonl")
            plot_history(records, self.out / "train.png")
            summary = {"phases": [r for r in records if r.get("kind") == "phase"], "epoch_seconds": {},
                       "world_size": self.info.world_size, "ranks_in_sync": in_sync}
            for r in records:
                if r.get("kind") == "epoch":
                    summary["epoch_seconds"].setdefault(r["phase"], []).append(round(r["seconds"], 1))
            write_json(self.out / "summary.json", summary)
        return path
