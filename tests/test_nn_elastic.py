"""Elastic operations of the supernet: kernel transformation, depth, expand ratio, width,
channel sorting, dynamic BN and elastic resolution."""
import random

import pytest
import torch
import torch.nn.functional as F

from ofa_mcu.config import FASHION_MNIST, VWW, make_divisible
from ofa_mcu.errors import UserError
from ofa_mcu.nn import OFAMCUNet, resize_batch, sample_resolution
from ofa_mcu.nn.elastic_layers import DynamicBatchNorm2d, DynamicSeparableConv2d
from ofa_mcu.nn.init import randomize_bn
from ofa_mcu.nn.sorting import width_streams
from ofa_mcu.space import build_table, largest_arch, sample_arch, smallest_arch
from ofa_mcu.space.arch import active_slots


def perturbed_net(cfg=VWW, seed=0) -> OFAMCUNet:
    """A supernet whose BN statistics and kernel matrices are not at their trivial init."""
    torch.manual_seed(seed)
    net = randomize_bn(OFAMCUNet(cfg), seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("_matrix"):
                p.add_(torch.randn_like(p) * 0.2)
            elif name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return net.eval()


# ---- elastic kernel ------------------------------------------------------------------------
def test_kernel_transform_is_ofa_definition():
    torch.manual_seed(0)
    layer = DynamicSeparableConv2d(8, (3, 5, 7), stride=1)
    assert [n for n, _ in layer.named_parameters()] == ["5to3_matrix", "7to5_matrix", "conv.weight"]
    with torch.no_grad():
        layer.get_parameter("7to5_matrix").copy_(torch.randn(25, 25))
        layer.get_parameter("5to3_matrix").copy_(torch.randn(9, 9))
    w = layer.conv.weight.detach()
    m75, m53 = layer.get_parameter("7to5_matrix").detach(), layer.get_parameter("5to3_matrix").detach()
    k5 = (w[:, :, 1:6, 1:6].reshape(8, 25) @ m75.T).reshape(8, 1, 5, 5)
    k3 = (k5[:, :, 1:4, 1:4].reshape(8, 9) @ m53.T).reshape(8, 1, 3, 3)
    assert torch.equal(layer.active_filter(8, 7), w)
    assert torch.allclose(layer.active_filter(8, 5), k5, atol=1e-6)
    assert torch.allclose(layer.active_filter(8, 3), k3, atol=1e-6)
    assert torch.allclose(layer.active_filter(5, 3), k3[:5], atol=1e-6)  # fewer active channels
    x = torch.randn(2, 6, 11, 11)
    for k, filt in ((7, w), (5, k5), (3, k3)):
        y = layer(x, k)
        assert y.shape == (2, 6, 11, 11)
        assert torch.allclose(y, F.conv2d(x, filt[:6], None, 1, k // 2, 1, 6), atol=1e-5)


def test_identity_matrices_give_centre_crop():
    layer = DynamicSeparableConv2d(4, (3, 5, 7))
    w = layer.conv.weight.detach()
    assert torch.equal(layer.active_filter(4, 5), w[:, :, 1:6, 1:6])
    assert torch.equal(layer.active_filter(4, 3), w[:, :, 2:5, 2:5])


def test_gradients_reach_matrices_and_shared_weights():
    net = perturbed_net().train()
    arch = largest_arch(VWW, image_size=96)
    arch["ks"] = [3] * VWW.n_slots
    net.set_active(arch)
    net(torch.randn(4, 3, 96, 96)).logsumexp(1).sum().backward()
    block = net.blocks[5].mobile_inverted_conv.depth_conv.conv
    for name in ("7to5_matrix", "5to3_matrix"):
        g = block.get_parameter(name).grad
        assert g is not None and g.abs().sum() > 0, name
    g = block.conv.weight.grad
    assert g[:, :, 1:6, 1:6].abs().sum() > 0
    ring = g.clone()
    ring[:, :, 1:6, 1:6] = 0
    assert ring.abs().sum() == 0  # a 3x3 kernel is a function of the centre 5x5 only
    assert net.first_conv.conv.conv.weight.grad.abs().sum() > 0


# ---- elastic depth, expand ratio and width ---------------------------------------------------
def _run_with_probes(net, arch, x):
    """Which supernet blocks ran, and the channel count after each block's depthwise conv."""
    ran, mids = [], {}
    hooks = []
    for j, b in enumerate(net.blocks):
        hooks.append(b.register_forward_hook(lambda m, i, o, j=j: ran.append((j, o.shape[1]))))
        if b.mobile_inverted_conv.depth_conv is not None:
            hooks.append(b.mobile_inverted_conv.depth_conv.register_forward_hook(
                lambda m, i, o, j=j: mids.__setitem__(j, o.shape[1])))
    net.set_active(arch)
    try:
        y = net(x)
    finally:
        for h in hooks:
            h.remove()
    return y, ran, mids


def test_elastic_depth_runs_the_first_blocks_of_each_stage():
    net = perturbed_net()
    x = torch.randn(1, 3, 96, 96)
    outs = []
    for d in ([0] * 6, [2, 1, 0, 2, 1, 0], [2] * 6):
        arch = {**smallest_arch(VWW), "d": d}
        y, ran, _ = _run_with_probes(net, arch, x)
        depths = [b + extra for b, extra in zip(VWW.base_depth, d)] + [1]  # stage 6 is fixed
        want, first = [0], 1  # block 0 always runs; supernet index = slot + 1
        for stage, n_slots in enumerate(VWW.stage_slots):
            want += list(range(first, first + depths[stage]))
            first += n_slots
        assert [j for j, _ in ran] == want
        assert want == [0] + [s + 1 for s, a in enumerate(active_slots(arch, VWW)) if a]
        outs.append(y)
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])


@pytest.mark.parametrize("wid", [0, 1, 2])
def test_elastic_width_and_expand_channel_counts(wid):
    net = perturbed_net()
    rng = random.Random(wid)
    arch = sample_arch(rng, VWW, wids=(wid,))
    y, ran, mids = _run_with_probes(net, arch, torch.randn(1, 3, 64, 64))
    table = build_table(arch, VWW)
    widths = VWW.widths(wid)
    assert [c for _, c in ran] == [b.out_ch for b in table.blocks]
    assert ran[0][1] == widths["block0"]
    for b in table.blocks[1:]:
        assert mids[b.supernet_index] == make_divisible(round(b.in_ch * arch["e"][b.slot]), 8) == b.mid
        assert b.out_ch == widths["stages"][b.stage]
    assert y.shape == (1, 2)


def test_expand_ratio_and_width_change_the_function():
    net = perturbed_net()
    x = torch.randn(2, 3, 96, 96)
    base = largest_arch(VWW, image_size=96)
    outs = {}
    for name, change in {"max": {}, "e3": {"e": [3] * 20}, "wid1": {"wid": 1}, "k5": {"ks": [5] * 20}}.items():
        net.set_active({**base, **change})
        outs[name] = net(x)
    for name in ("e3", "wid1", "k5"):
        assert not torch.allclose(outs["max"], outs[name], atol=1e-4), name


def test_set_active_validates_and_reports():
    net = OFAMCUNet(VWW)
    with pytest.raises(UserError, match="ks"):
        net.set_active({**smallest_arch(VWW), "ks": [4] * 20})
    arch = sample_arch(random.Random(0), VWW)
    net.set_active(arch)
    got = net.active_arch
    assert got == arch
    got["ks"][0] = 99  # a copy, not the live state
    assert net.active_arch == arch
    net.set_max()
    assert net.active_arch == largest_arch(VWW)


# ---- channel sorting -----------------------------------------------------------------------
def _outputs(net, archs, x):
    res = []
    for a in archs:
        net.set_active(a)
        res.append(net(x))
    return res


def test_sorting_keeps_the_largest_network_and_changes_smaller_ones():
    net = perturbed_net(seed=3)
    x = torch.randn(3, 3, 96, 96)
    rng = random.Random(5)
    full = largest_arch(VWW, image_size=96)
    full_width_random_kd = {**sample_arch(rng, VWW, wids=(2,)), "e": [6] * 20}  # all channels in use
    narrow_width = {**full, "wid": 0}
    small_expand = {**full, "e": [3] * 20}
    before = _outputs(net, [full, full_width_random_kd, narrow_width, small_expand], x)
    with torch.no_grad():
        net.sort_channels()
    after = _outputs(net, [full, full_width_random_kd, narrow_width, small_expand], x)
    for b, a in zip(before[:2], after[:2]):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * b.abs().max().item())
    for b, a in zip(before[2:], after[2:]):
        assert (a - b).abs().max() > 1e-3 * b.abs().max()


def test_sorting_puts_the_heaviest_channels_first():
    net = perturbed_net(seed=4)
    net.sort_channels()
    for block in net.blocks[1:]:
        layer = block.mobile_inverted_conv
        imp = layer.point_linear.conv.conv.weight.abs().sum(dim=(0, 2, 3))
        assert torch.all(imp[:-1] >= imp[1:])
        if layer.depth_conv.se is not None:
            se_imp = layer.depth_conv.se.fc.expand.weight.abs().sum(dim=(0, 2, 3))
            assert torch.all(se_imp[:-1] >= se_imp[1:])
    streams = width_streams(net)
    assert len(streams) == 2 + VWW.n_stages  # first conv, block 0, one per stage
    for writers, readers in streams:
        imp = sum(w.abs().sum(dim=(0, 2, 3)) for w in readers)
        assert torch.all(imp[:-1] >= imp[1:] - 1e-6)


# ---- dynamic BN ----------------------------------------------------------------------------
def test_dynamic_bn_train_uses_batch_statistics_of_active_channels():
    bn = DynamicBatchNorm2d(16, eps=1e-3, momentum=0.1).train()
    x = torch.randn(8, 6, 5, 5) * 3 + 2
    y = bn(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(6), atol=1e-5)
    assert torch.allclose(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(6), atol=1e-3)
    r = bn.bn
    assert torch.allclose(r.running_mean[:6], 0.1 * x.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.equal(r.running_mean[6:], torch.zeros(10)) and torch.equal(r.running_var[6:], torch.ones(10))
    assert int(r.num_batches_tracked) == 1
    bn.eval()
    ref = (x - r.running_mean[:6].view(1, -1, 1, 1)) / torch.sqrt(r.running_var[:6].view(1, -1, 1, 1) + 1e-3)
    assert torch.allclose(bn(x), ref, atol=1e-5)


def test_dynamic_bn_cumulative_average_for_recalibration():
    bn = DynamicBatchNorm2d(8, eps=1e-3, momentum=None).train()
    batches = [torch.randn(4, 8, 3, 3) + i for i in range(3)]
    for b in batches:
        bn(b)
    want = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    assert torch.allclose(bn.bn.running_mean, want, atol=1e-5)


# ---- elastic resolution --------------------------------------------------------------------
@pytest.mark.parametrize("cfg,sizes", [(VWW, (96, 113, 160)), (FASHION_MNIST, (32, 40, 48))],
                         ids=["vww", "fashion_mnist"])
def test_any_input_resolution(cfg, sizes):
    net = perturbed_net(cfg)
    net.set_active(sample_arch(random.Random(1), cfg))
    for s in sizes:
        y = net(torch.randn(2, cfg.in_channels, s, s))
        assert y.shape == (2, cfg.n_classes) and torch.isfinite(y).all()


def test_resolution_sampling_and_resize():
    """The trainer draws each step's resolution with ``sample_resolution`` from its step rng: a
    ``random.Random`` draw picks the same element as ``rng.choice(cfg.resolutions)`` did before,
    so a resumed run still trains the same resolutions."""
    rng = random.Random(0)
    seen = {sample_resolution(rng, VWW) for _ in range(200)}
    assert seen == set(VWW.resolutions)
    assert [sample_resolution(random.Random(s), FASHION_MNIST) for s in range(50)] == \
        [random.Random(s).choice(FASHION_MNIST.resolutions) for s in range(50)]
    x = torch.rand(2, 1, 28, 28)
    assert resize_batch(x, 28) is x
    assert resize_batch(x, 40).shape == (2, 1, 40, 40)


def test_channels_last_gives_the_same_function():
    """Channels-last memory is ~1.4x faster for CPU training; the supernet must allow it."""
    net = perturbed_net(FASHION_MNIST, seed=6)
    arch = sample_arch(random.Random(6), FASHION_MNIST)
    net.set_active(arch)
    x = torch.randn(2, 1, 40, 40)
    want = net(x)
    net = net.to(memory_format=torch.channels_last)
    got = net(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
    net.train()
    net(x.contiguous(memory_format=torch.channels_last)).sum().backward()
    assert net.blocks[1].mobile_inverted_conv.depth_conv.conv.conv.weight.grad is not None
