"""The supernet's state_dict equals the lab's manifest; strict checkpoint loading with
one-line errors; ``ofa-mcu supernet check``."""
import json

import pytest
import torch

from ofa_mcu.cli import main
from ofa_mcu.config import FASHION_MNIST, VWW
from ofa_mcu.errors import UserError
from ofa_mcu.nn import OFAMCUNet, load_supernet_state
from ofa_mcu.space import largest_arch, smallest_arch


@pytest.fixture(scope="module")
def manifest(state_dict_manifest):
    return state_dict_manifest


@pytest.fixture(scope="module")
def vww_state():
    torch.manual_seed(0)
    return OFAMCUNet(VWW).state_dict()


def test_state_dict_equals_the_lab_manifest(manifest, vww_state):
    assert len(manifest) == 480
    rows = [[k, list(v.shape), str(v.dtype)] for k, v in vww_state.items()]
    assert rows == manifest  # keys, order, shapes and dtypes
    n_params = sum(v.numel() for k, v in vww_state.items()
                   if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert n_params == 4_081_138


def test_named_keys_and_config(vww_state):
    shapes = {k: tuple(v.shape) for k, v in vww_state.items()}
    assert shapes["blocks.1.mobile_inverted_conv.depth_conv.conv.7to5_matrix"] == (25, 25)
    assert shapes["blocks.1.mobile_inverted_conv.depth_conv.conv.5to3_matrix"] == (9, 9)
    assert shapes["blocks.1.mobile_inverted_conv.depth_conv.conv.conv.weight"] == (96, 1, 7, 7)
    assert shapes["blocks.8.mobile_inverted_conv.depth_conv.se.fc.reduce.weight"] == (10, 240, 1, 1)
    assert shapes["classifier.linear.linear.weight"] == (2, 384)
    assert torch.equal(vww_state["blocks.3.mobile_inverted_conv.depth_conv.conv.7to5_matrix"], torch.eye(25))
    bn = OFAMCUNet(VWW).first_conv.bn.bn
    assert (bn.eps, bn.momentum) == (1e-3, 0.1)


def test_fashion_mnist_supernet_follows_its_config():
    net = OFAMCUNet(FASHION_MNIST)
    sd = net.state_dict()
    assert tuple(sd["first_conv.conv.conv.weight"].shape) == (32, 1, 3, 3)
    assert tuple(sd["classifier.linear.linear.weight"].shape) == (10, 384)
    for arch in (smallest_arch(FASHION_MNIST), largest_arch(FASHION_MNIST)):
        net.set_active(arch)
        assert net(torch.randn(2, 1, 40, 40)).shape == (2, 10)


def _save(obj, path):
    torch.save(obj, path)
    return path


def test_load_round_trip_from_path_and_dict(tmp_path, vww_state):
    net = OFAMCUNet(VWW)
    assert not torch.equal(net.first_conv.conv.conv.weight, vww_state["first_conv.conv.conv.weight"])
    load_supernet_state(net, _save({"state_dict": vww_state, "epoch": 3}, tmp_path / "a.pth"))
    assert all(torch.equal(v, vww_state[k]) for k, v in net.state_dict().items())
    net2 = OFAMCUNet(VWW)
    load_supernet_state(net2, {f"module.{k}": v for k, v in vww_state.items()})  # DataParallel prefix
    assert torch.equal(net2.classifier.linear.linear.weight, vww_state["classifier.linear.linear.weight"])
    net3 = OFAMCUNet(VWW)
    load_supernet_state(net3, _save(dict(vww_state), tmp_path / "plain.pth"))
    assert torch.equal(net3.feature_mix_layer.conv.conv.weight, vww_state["feature_mix_layer.conv.conv.weight"])


@pytest.mark.parametrize("change,expect", [
    ("shape", "'blocks.4.mobile_inverted_conv.depth_conv.conv.7to5_matrix' has shape (9, 9); expected (25, 25)"),
    ("missing", "lacks key 'blocks.20.mobile_inverted_conv.point_linear.bn.bn.running_var'"),
    ("extra", "unexpected key 'blocks.21.mobile_inverted_conv.point_linear.conv.conv.weight'"),
    ("dtype", "'first_conv.bn.bn.num_batches_tracked' has dtype torch.float32"),
])
def test_mismatch_is_one_line_naming_the_first_bad_key(vww_state, change, expect):
    state = dict(vww_state)
    if change == "shape":
        state["blocks.4.mobile_inverted_conv.depth_conv.conv.7to5_matrix"] = torch.eye(9)
    elif change == "missing":
        del state["blocks.20.mobile_inverted_conv.point_linear.bn.bn.running_var"]
    elif change == "extra":
        state["blocks.21.mobile_inverted_conv.point_linear.conv.conv.weight"] = torch.zeros(1)
    else:
        state["first_conv.bn.bn.num_batches_tracked"] = torch.tensor(0.0)
    net = OFAMCUNet(VWW)
    before = net.first_conv.conv.conv.weight.detach().clone()
    with pytest.raises(UserError) as err:
        load_supernet_state(net, {"state_dict": state})
    msg = str(err.value)
    assert expect in msg and "\n" not in msg
    assert torch.equal(net.first_conv.conv.conv.weight, before)  # nothing half-loaded


def test_wrong_space_is_reported(vww_state):
    with pytest.raises(UserError, match=r"space 'fashion_mnist'.*first_conv\.conv\.conv\.weight.*\(32, 3, 3, 3\)"):
        load_supernet_state(OFAMCUNet(FASHION_MNIST), vww_state)


def test_cli_check(tmp_path, capsys, vww_state):
    good = _save({"state_dict": vww_state}, tmp_path / "good.pth")
    assert main(["supernet", "check", str(good), "--space", "vww"]) == 0
    assert "fits the supernet of space 'vww' (480 tensors, 4,081,138 parameters)" in capsys.readouterr().out

    bad_state = dict(vww_state)
    bad_state["classifier.linear.linear.weight"] = torch.zeros(10, 384)
    bad = _save(bad_state, tmp_path / "bad.pth")
    assert main(["supernet", "check", str(bad), "--space", "vww"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'classifier.linear.linear.weight' has shape (10, 384); expected (2, 384)" in err

    assert main(["supernet", "check", str(good), "--space", "fashion_mnist"]) == 2
    assert "first_conv.conv.conv.weight" in capsys.readouterr().err

    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    assert main(["supernet", "check", str(junk), "--space", "vww"]) == 2
    assert "is not a PyTorch checkpoint" in capsys.readouterr().err
    assert main(["supernet", "check", str(tmp_path / "missing.pth")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_init_then_check(tmp_path, capsys):
    out = tmp_path / "init.pth"
    assert main(["supernet", "init", "--out", str(out), "--space", "fashion_mnist"]) == 0
    assert main(["supernet", "check", str(out), "--space", "fashion_mnist"]) == 0
    assert main(["supernet", "init", "--out", str(out), "--space", "fashion_mnist"]) == 2
    assert "--force" in capsys.readouterr().err


def test_cli_manifest(capsys, manifest):
    assert main(["supernet", "manifest", "--space", "vww"]) == 0
    assert json.loads(capsys.readouterr().out) == manifest


def test_a_plain_pickle_is_one_line_with_no_torch_warning(tmp_path):
    """torch's weights-only loader warns about a plain pickle's protocol on stderr; the command
    prints only its one error line (run as a process: pytest would swallow the warning)."""
    import pickle
    import subprocess
    import sys

    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    proc = subprocess.run([sys.executable, "-m", "ofa_mcu", "supernet", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ofa-mcu: error: ") and "could not be loaded safely" in lines[0]


def test_a_checkpoint_with_nan_weights_is_refused(tmp_path):
    """A diverged run's NaN weights would score every subnet 0 %: loading names the key."""
    net = OFAMCUNet(FASHION_MNIST)
    state = net.state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], float("nan"))
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(UserError, match=f"NaN or infinite values \\(key '{key}'\\)"):
        load_supernet_state(OFAMCUNet(FASHION_MNIST), tmp_path / "nan.pth")
    assert main(["supernet", "check", str(tmp_path / "nan.pth"), "--space", "fashion_mnist"]) == 2
