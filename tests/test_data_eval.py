"""evaluate_top1 / predict_logits, and the data + BN + eval path end to end on Fashion-MNIST."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ofa_mcu.data import ArrayImageDataset, get_dataset, make_loader, resize_batch
from ofa_mcu.train.bn_calib import recalibrate_bn
from ofa_mcu.train.evaluate import confusion_matrix, evaluate_top1, predict_logits


class PixelOracle(nn.Module):
    """Predicts class round(pixel / 20) from the image's mean raw pixel (mean 0, std 1 inputs)."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.shapes = []
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        self.shapes.append(tuple(x.shape[-2:]))
        pred = torch.round(x.mean((1, 2, 3)) * 255 / 20).long().clamp(0, self.k - 1)
        return F.one_hot(pred, self.k).float() * 5 + self.dummy


def test_evaluate_top1_confusion_and_per_class_against_numpy():
    rng = np.random.default_rng(0)
    k, n = 4, 203
    labels = rng.integers(0, 3, n)  # class 3 never occurs
    preds = np.where(rng.random(n) < 0.7, labels, rng.integers(0, k, n))
    images = torch.from_numpy((preds * 20).astype(np.uint8)).view(n, 1, 1, 1).expand(n, 1, 6, 6).contiguous()
    ds = ArrayImageDataset(images, labels, ["a", "b", "c", "d"], (0.0,), (1.0,))
    model = PixelOracle(k).train()
    res = evaluate_top1(model, make_loader(ds, 32), resolution=4)
    conf = np.zeros((k, k), dtype=int)
    np.add.at(conf, (labels, preds), 1)
    assert res["confusion"] == conf.tolist()
    assert res["n"] == n and abs(res["top1"] - 100 * np.mean(preds == labels)) < 1e-9
    for c in range(3):
        assert abs(res["per_class"][c] - 100 * np.mean(preds[labels == c] == c)) < 1e-9
    assert res["per_class"][3] is None
    assert set(model.shapes) == {(4, 4)} and model.training  # resized; train mode restored
    logits, ys = predict_logits(model, make_loader(ds, 50))
    assert logits.shape == (n, k) and torch.equal(ys, torch.from_numpy(labels))
    assert torch.equal(logits.argmax(1), torch.from_numpy(preds))
    assert confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([1, 1, 0]), 2).tolist() == [[0, 1], [1, 1]]


def _tiny_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


@pytest.mark.slow
def test_fashion_mnist_train_recalibrate_evaluate_end_to_end():
    """A tiny CNN trained briefly at per-batch resolutions learns Fashion-MNIST; BN
    re-calibration at a new resolution keeps it accurate on the holdout and test splits."""
    torch.manual_seed(0)
    ds = get_dataset("fashion_mnist")
    model = _tiny_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rng = random.Random(0)
    model.train()
    for step, (x, y) in enumerate(make_loader(ds.train, 64, shuffle=True, seed=0)):
        x = resize_batch(x, rng.choice((32, 40)))
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 150:
            break
    used = recalibrate_bn(model, make_loader(ds.calib, 250), num_images=1000, resolution=40)
    assert used == 1000
    holdout = evaluate_top1(model, make_loader(ds.holdout.subset(range(2000)), 500), resolution=40)
    test = evaluate_top1(model, make_loader(ds.test.subset(range(0, 10000, 5)), 500), resolution=40)
    assert holdout["n"] == 2000 and test["n"] == 2000
    # chance is 10 %; 150 steps of this model reach about 68 % (63 % before re-calibration)
    assert holdout["top1"] > 55 and test["top1"] > 55
    assert min(p for p in test["per_class"] if p is not None) >= 0 and len(test["confusion"]) == 10
