"""The optimizer pieces every training loop shares: weight-decay groups, SGD, one supervised step."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data import resize_batch


def param_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on BN parameters, biases and the kernel transformation matrices."""
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith("_matrix") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def nesterov_sgd(net: nn.Module, lr: float, weight_decay: float, momentum: float = 0.9) -> torch.optim.SGD:
    """SGD with Nesterov momentum over :func:`param_groups` of ``net``."""
    return torch.optim.SGD(param_groups(net, weight_decay), lr=lr, momentum=momentum, nesterov=True)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for g in opt.param_groups:
        g["lr"] = lr


def supervised_step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                    resolution: int, label_smoothing: float = 0.0, channels_last: bool = False) -> float:
    """One cross-entropy step on ``(x, y)`` resized to ``resolution``; returns the loss."""
    x = resize_batch(x, resolution)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    loss = F.cross_entropy(net(x), y, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()
