"""Measure one subnet the lab's way: extract it, re-calibrate its BN on training images,
then top-1 on a held-out split at the subnet's own resolution."""
from __future__ import annotations

import torch

from ..data import make_loader
from .bn_calib import recalibrate_bn
from .evaluate import evaluate_top1


def calibrated_subnet(supernet, arch: dict, calib_dataset, calib_images: int = 2000, batch_size: int = 200):
    """``supernet.extract(arch)`` with BN statistics re-estimated on ``calib_images`` images
    of ``calib_dataset`` at the arch's resolution; returned in eval mode."""
    sub = supernet.extract(arch)
    loader = make_loader(calib_dataset, batch_size=batch_size, shuffle=False)
    recalibrate_bn(sub, loader, num_images=min(calib_images, len(calib_dataset)), resolution=arch["image_size"])
    return sub.eval()


@torch.no_grad()
def measure_subnet(supernet, arch: dict, calib_dataset, eval_dataset, calib_images: int = 2000,
                   batch_size: int = 200, num_classes: int | None = None) -> dict:
    """Top-1 (percent), per-class accuracy and confusion of ``arch`` after BN re-calibration."""
    sub = calibrated_subnet(supernet, arch, calib_dataset, calib_images, batch_size)
    loader = make_loader(eval_dataset, batch_size=batch_size, shuffle=False)
    return evaluate_top1(sub, loader, resolution=arch["image_size"], num_classes=num_classes)
