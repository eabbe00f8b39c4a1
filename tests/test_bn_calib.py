"""BN re-calibration against statistics computed directly with torch."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ofa_mcu.data import resize_batch
from ofa_mcu.errors import UserError
from ofa_mcu.train.bn_calib import bn_modules, recalibrate_bn


class SlicedBN(nn.Module):
    """A dynamic BN in the OFA style: wraps a BatchNorm2d sized for the widest layer and uses
    the first ``active`` channels (through F.batch_norm on slices of its buffers)."""

    def __init__(self, max_ch: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(max_ch)

    def forward(self, x):
        c, bn = x.shape[1], self.bn
        if c == bn.num_features:
            return bn(x)
        factor = 0.0
        if bn.training:
            bn.num_batches_tracked += 1
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            bn.training, factor, bn.eps)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 5, 3, stride=2, padding=1)
        self.bn2 = SlicedBN(8)  # 5 of 8 channels active
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(5, 3)
        self.seen_training_flags = []

    def forward(self, x):
        self.seen_training_flags.append((self.drop.training, self.bn1.training))
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(self.drop(x.mean((2, 3))))


def _train_mode_bn(x, bn: nn.BatchNorm2d, c: int):
    """What train-mode BN outputs: normalise with the batch's own (biased) statistics."""
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    xn = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + bn.eps)
    return xn * bn.weight[:c].view(1, -1, 1, 1) + bn.bias[:c].view(1, -1, 1, 1)


def _expected_stats(net: Net, batches):
    """Per-image-weighted averages of every batch's mean and unbiased variance, per BN."""
    acc = {"bn1": [0, 0, 0], "bn2": [0, 0, 0]}
    with torch.no_grad():
        for x in batches:
            n = x.shape[0]
            h1 = net.conv1(x)
            acc["bn1"][0] += n * h1.mean((0, 2, 3))
            acc["bn1"][1] += n * h1.var((0, 2, 3), unbiased=True)
            h2 = net.conv2(F.relu(_train_mode_bn(h1, net.bn1, 6)))
            acc["bn2"][0] += n * h2.mean((0, 2, 3))
            acc["bn2"][1] += n * h2.var((0, 2, 3), unbiased=True)
            for k in acc:
                acc[k][2] += n
    return {k: (m / t, v / t) for k, (m, v, t) in acc.items()}


def _scrambled_net() -> Net:
    torch.manual_seed(0)
    net = Net()
    for bn in bn_modules(net):  # stale statistics, as a subnet inherits from its supernet
        bn.running_mean.uniform_(-3, 3)
        bn.running_var.uniform_(5, 9)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def test_recalibrated_statistics_equal_the_batch_statistics_with_uneven_batches():
    net = _scrambled_net()
    g = torch.Generator().manual_seed(1)
    data = [torch.randn(n, 3, 12, 12, generator=g) * 2 + 0.7 for n in (8, 8, 8, 5)]
    loader = [(x, torch.zeros(len(x), dtype=torch.int64)) for x in data]
    used = recalibrate_bn(net, loader, num_images=19)
    assert used == 19
    expected = _expected_stats(net, [data[0], data[1], data[2][:3]])  # the last batch is cut to 3
    assert torch.allclose(net.bn1.running_mean, expected["bn1"][0], atol=1e-5)
    assert torch.allclose(net.bn1.running_var, expected["bn1"][1], atol=1e-4)
    assert torch.allclose(net.bn2.bn.running_mean[:5], expected["bn2"][0], atol=1e-5)
    assert torch.allclose(net.bn2.bn.running_var[:5], expected["bn2"][1], atol=1e-4)
    # inactive channels keep the reset values
    assert torch.equal(net.bn2.bn.running_mean[5:], torch.zeros(3))
    assert torch.equal(net.bn2.bn.running_var[5:], torch.ones(3))
    # only BN ran in train mode; modes and momenta are restored
    assert net.seen_training_flags == [(False, True)] * 3
    assert not net.training and not net.bn1.training and net.bn1.momentum == 0.1 and net.bn2.bn.momentum == 0.1


def test_equal_batches_match_pytorch_cumulative_average_and_resolution_resizes():
    net = _scrambled_net()
    g = torch.Generator().manual_seed(2)
    data = [torch.rand(6, 3, 16, 16, generator=g) for _ in range(3)]
    reference = _scrambled_net().train()
    for bn in bn_modules(reference):
        bn.reset_running_stats()
        bn.momentum = None
    with torch.no_grad():
        for x in data:
            reference(resize_batch(x, 10))
    net.train()
    assert recalibrate_bn(net, iter(data), num_images=1000, resolution=10) == 18
    assert torch.allclose(net.bn1.running_mean, reference.bn1.running_mean, atol=1e-6)
    assert torch.allclose(net.bn1.running_var, reference.bn1.running_var, atol=1e-5)
    assert net.training and net.drop.training  # a model in train mode stays in train mode
    expected = _expected_stats(net, [resize_batch(x, 10) for x in data])
    assert torch.allclose(net.bn2.bn.running_mean[:5], expected["bn2"][0], atol=1e-5)


def test_recalibration_fixes_a_real_model_and_input_errors():
    net = _scrambled_net()
    x = torch.randn(64, 3, 8, 8)
    before = net(x)
    recalibrate_bn(net, [x], num_images=64)
    after = net(x)
    # after re-calibration the first BN's eval output is normalised on these images
    h = net.bn1(net.conv1(x))
    shifted = (h - net.bn1.bias.view(1, -1, 1, 1)) / net.bn1.weight.view(1, -1, 1, 1)
    assert shifted.mean((0, 2, 3)).abs().max() < 1e-4
    assert (shifted.var((0, 2, 3)) - 1).abs().max() < 0.05
    assert not torch.allclose(before, after)
    with pytest.raises(UserError, match="at least 2 images"):
        recalibrate_bn(net, [x], num_images=1)
    with pytest.raises(UserError, match="no images reached"):
        recalibrate_bn(net, [], num_images=10)
    with pytest.raises(UserError, match="no images reached"):
        recalibrate_bn(net, [x[:1], x[1:2]], num_images=10)
    assert net.bn1.momentum == 0.1 and not net.training
    assert recalibrate_bn(nn.Sequential(nn.Conv2d(3, 2, 1)), [x]) == 0  # nothing to re-calibrate
