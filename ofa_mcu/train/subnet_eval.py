"""Measure one subnet the lab's way: extract it, re-calibrate its BN on training images,
then top-1 on a held-out split at the subnet's own resolution.

Two engines score the calibrated subnet: ``torch`` (eager forward) and ``onnx`` (the subnet
exported to ONNX and run by ONNX Runtime on images resized once per resolution). They give
the same top-1 (the same float network; argmax may differ only on exact ties), and ONNX
Runtime is about 3x faster on these depthwise networks, which is what bounds pair collection.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from ..data import evenly_spaced, load_images, make_loader
from .bn_calib import recalibrate_bn
from .evaluate import evaluate_top1


def calibrated_subnet(supernet, arch: dict, calib_dataset, calib_images: int = 2000, batch_size: int = 200):
    """``supernet.extract(arch)`` with BN statistics re-estimated on ``calib_images`` images
    of ``calib_dataset`` at the arch's resolution; returned in eval mode."""
    sub = supernet.extract(arch)
    loader = make_loader(calib_dataset, batch_size=batch_size, shuffle=False)
    recalibrate_bn(sub, loader, num_images=min(calib_images, len(calib_dataset)), resolution=arch["image_size"])
    return sub.eval()


def disjoint_calibration(plain_train, calib_images: int):
    """A second BN-calibration sample of ``calib_images`` plain training images, disjoint from the
    evenly spaced one the datasets' ``calib`` split holds (the same spacing shifted half a stride):
    measuring a subnet under both shows how much its accuracy owes to the calibration sample."""
    idx = evenly_spaced(len(plain_train), calib_images)
    shift = max(1, len(plain_train) // (2 * calib_images))
    return plain_train.subset(np.minimum(idx + shift, len(plain_train) - 1))


class ResizedImages:
    """``n`` evenly spaced images of a dataset (all by default) as arrays, resized once per
    resolution and kept (:func:`ofa_mcu.data.load_images`)."""

    def __init__(self, dataset, n: int | None = None):
        if n is not None and n < len(dataset):
            dataset = dataset.subset(evenly_spaced(len(dataset), n))
        self.dataset, self._by_size = dataset, {}

    def at(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(images [n,C,size,size] float32, labels [n] int64)``."""
        if size not in self._by_size:
            self._by_size[size] = load_images(self.dataset, len(self.dataset), size)
        return self._by_size[size]


def onnx_correct(module, images: np.ndarray, labels: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Per image, whether a torch module exported to ONNX and run by ONNX Runtime classifies it
    correctly (boolean ``[n]``)."""
    from ..quant.onnx_export import export_onnx
    from ..quant.ort_quant import run_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(module, (1, *images.shape[1:]), Path(tmp) / "subnet.onnx")
        logits = run_onnx(path, images, batch_size=500, threads=threads)
    return np.asarray(logits).argmax(axis=1) == np.asarray(labels)


def onnx_top1(module, images: np.ndarray, labels: np.ndarray, threads: int | None = None) -> float:
    """Top-1 (percent) of a torch module exported to ONNX and run by ONNX Runtime."""
    return 100.0 * float(np.mean(onnx_correct(module, images, labels, threads)))


@torch.no_grad()
def measure_subnet(supernet, arch: dict, calib_dataset, eval_dataset, calib_images: int = 2000,
                   batch_size: int = 200, num_classes: int | None = None) -> dict:
    """Top-1 (percent), per-class accuracy and confusion of ``arch`` after BN re-calibration
    (the torch engine)."""
    sub = calibrated_subnet(supernet, arch, calib_dataset, calib_images, batch_size)
    loader = make_loader(eval_dataset, batch_size=batch_size, shuffle=False)
    return evaluate_top1(sub, loader, resolution=arch["image_size"], num_classes=num_classes)


def measure_top1(supernet, arch: dict, calib_dataset, eval_images: ResizedImages, calib_images: int = 2000,
                 engine: str = "onnx") -> float:
    """Top-1 (percent) of ``arch`` after BN re-calibration, scored by ``engine`` (``onnx`` or
    ``torch``)."""
    if engine == "torch":
        return float(measure_subnet(supernet, arch, calib_dataset, eval_images.dataset, calib_images)["top1"])
    sub = calibrated_subnet(supernet, arch, calib_dataset, calib_images)
    images, labels = eval_images.at(arch["image_size"])
    return onnx_top1(sub, images, labels, threads=torch.get_num_threads())
