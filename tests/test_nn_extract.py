"""Subnet extraction: same function as the supernet, the search space's MACs/params/peak on
all 205 fixtures (hook counters), BN folding against the float reference, ONNX export."""
import random
import warnings

import numpy as np
import pytest
import torch

from ofa_mcu.config import FASHION_MNIST, VWW
from ofa_mcu.nn import OFAMCUNet, StaticSubnet
from ofa_mcu.nn.counting import count_all_hooks, count_macs_hooks, count_peak_hooks, count_params
from ofa_mcu.nn.init import randomize_bn
from ofa_mcu.space import build_table, largest_arch, sample_arch, smallest_arch
from ofa_mcu.space.folded import folded_forward


def perturbed(module, seed=0):
    """Random BN statistics, non-identity kernel matrices, non-zero biases."""
    torch.manual_seed(seed)
    randomize_bn(module, seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("_matrix"):
                p.add_(torch.randn_like(p) * 0.2)
            elif name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return module


@pytest.fixture(scope="module")
def vww_net():
    return perturbed(OFAMCUNet(VWW)).eval()


def _archs(cfg, n, seed):
    rng = random.Random(seed)
    return [smallest_arch(cfg), largest_arch(cfg)] + [sample_arch(rng, cfg, wids=tuple(range(3))) for _ in range(n)]


def test_extracted_subnet_equals_supernet_in_eval(vww_net):
    for arch in _archs(VWW, 3, 0):
        r = arch["image_size"]
        x = torch.randn(2, 3, r, r)
        vww_net.set_active(arch)
        with torch.no_grad():
            want = vww_net(x)
            sub = vww_net.extract(arch)
            assert isinstance(sub, StaticSubnet) and not sub.training
            got = sub(x)
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * want.abs().max().item()), arch
        assert sub.table.arch == arch


def test_extracted_subnet_equals_supernet_in_train_mode():
    net = perturbed(OFAMCUNet(FASHION_MNIST), 1).train()
    arch = sample_arch(random.Random(2), FASHION_MNIST)
    net.set_active(arch)
    sub = net.extract()  # the active arch
    assert sub.training and sub.table.arch == arch
    x = torch.randn(4, 1, 40, 40)
    want = net(x)
    got = sub(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
    # both updated their BN running statistics the same way
    assert torch.allclose(sub.first_conv.bn.running_mean, net.first_conv.bn.bn.running_mean[:sub.table.first_conv.out_ch])


def test_extract_copies_weights(vww_net):
    arch = smallest_arch(VWW)
    sub = vww_net.extract(arch)
    before = vww_net.first_conv.conv.conv.weight.detach().clone()
    with torch.no_grad():
        for p in sub.parameters():
            p.zero_()
    assert torch.equal(vww_net.first_conv.conv.conv.weight, before)


def test_static_subnet_from_table_has_the_extracted_structure(vww_net):
    arch = sample_arch(random.Random(7), VWW)
    table = build_table(arch, VWW)
    a = StaticSubnet(table).state_dict()
    b = vww_net.extract(arch).state_dict()
    assert [(k, v.shape) for k, v in a.items()] == [(k, v.shape) for k, v in b.items()]
    assert any(k.endswith("depth_conv.se.fc.reduce.weight") for k in a) == any(bl.se_mid for bl in table.blocks)


@pytest.mark.slow
def test_fixtures_macs_params_peak_by_hooks(vww_net, space_fixtures):
    """All 205 cases: the extracted subnet's hook-counted MACs, sum(p.numel()) and the lab's
    peak estimate equal the search-space arithmetic exactly."""
    assert len(space_fixtures) == 205
    for case in space_fixtures:
        arch = case["arch"]
        sub = vww_net.extract(arch)
        r = arch["image_size"]
        got = count_all_hooks(sub, (3, r, r))
        assert got == {"macs": case["macs"], "params": case["params"],
                       "peak_lab_bytes": case["lab_peak_activation_bytes"]}, arch
        assert [tuple(layer.weight.shape)[:2] for layer, _ in sub.layers()] == [
            (row[2], row[1] // row[5]) if row[0] == "conv" else (row[2], row[1]) for row in case["layers"]]


def test_single_counters_agree_with_the_combined_one():
    arch = smallest_arch(VWW, image_size=96)
    sub = StaticSubnet(build_table(arch, VWW))
    assert count_macs_hooks(sub, (3, 96, 96)) == 7_237_104
    assert count_params(sub) == 304_538
    assert count_peak_hooks(sub, (1, 3, 96, 96)) == 73_728
    lab_largest = largest_arch(VWW, image_size=96, wid=1)
    assert count_peak_hooks(StaticSubnet(build_table(lab_largest, VWW)), (3, 96, 96)) == 276_480


@pytest.mark.parametrize("cfg", [VWW, FASHION_MNIST], ids=["vww", "fashion_mnist"])
def test_fold_matches_the_float_reference(cfg):
    net = perturbed(OFAMCUNet(cfg), 2).eval()
    rng = random.Random(3)
    arch = sample_arch(rng, cfg, wids=(0,))
    arch["d"] = [0, 0, 1, 0, 0, 0]  # a stage-2 block with SE and a residual
    arch["image_size"] = min(cfg.resolutions)
    sub = net.extract(arch).double()
    table = sub.table
    assert any(b.se_mid for b in table.blocks) and any(b.residual for b in table.blocks)
    r = arch["image_size"]
    x = torch.randn(2, cfg.in_channels, r, r, dtype=torch.float64)
    with torch.no_grad():
        want = sub(x).numpy()
    folded = sub.fold()
    assert [c.spec for c in folded.convs] == list(table.convs)
    got = folded_forward(folded, x.numpy())
    scale = np.abs(want).max()
    assert scale > 1e-3
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)


def test_onnx_export_runs_in_onnxruntime(tmp_path, vww_net):
    import onnx
    import onnxruntime as ort

    arch = sample_arch(random.Random(11), VWW, wids=(0,))
    arch["d"][2] = 2  # SE blocks present
    sub = vww_net.extract(arch)
    r = arch["image_size"]
    x = torch.randn(1, 3, r, r)
    path = tmp_path / "sub.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter announces its own deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(sub, (x,), str(path), dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"])
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "Mul", "Add"} <= ops
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = sub(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())

