"""Fine-tuning one extracted subnet: it trains, re-estimates BN, and rejects bad settings."""
import pytest
import torch

from ofa_mcu.config import FASHION_MNIST
from ofa_mcu.data import get_dataset
from ofa_mcu.errors import UserError
from ofa_mcu.nn import OFAMCUNet
from ofa_mcu.space.arch import smallest_arch
from ofa_mcu.train.finetune import finetune_subnet


@pytest.fixture(scope="module")
def train_images():
    data = get_dataset("fashion_mnist")
    return data.train.subset(list(range(2048)))


@pytest.mark.slow
def test_finetune_lowers_the_loss_and_leaves_eval_mode(train_images):
    torch.manual_seed(0)
    arch = smallest_arch(FASHION_MNIST)
    net = OFAMCUNet(FASHION_MNIST).extract(arch)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    r = finetune_subnet(net, train_images, arch["image_size"], epochs=2, lr=0.05, batch_size=64,
                        max_steps=40, bn_calib_images=256, progress=False)
    assert r["steps"] == 40 and r["epochs"] == pytest.approx(40 / 32, abs=1e-3)
    assert r["loss_last"] < r["loss_first"] - 0.2, r
    assert not net.training
    changed = [k for k, v in net.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any("running_mean" in k for k in changed) and any(k.endswith("weight") for k in changed)


def test_finetune_rejects_nonpositive_epochs_and_tiny_datasets(train_images):
    arch = smallest_arch(FASHION_MNIST)
    net = OFAMCUNet(FASHION_MNIST).extract(arch)
    with pytest.raises(UserError, match="must be positive"):
        finetune_subnet(net, train_images, 32, epochs=0)
    with pytest.raises(UserError, match="at least 128 training images"):
        finetune_subnet(net, train_images.subset(list(range(10))), 32, epochs=1)
