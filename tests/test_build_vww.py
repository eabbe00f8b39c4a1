"""The seed's own workflow: the lab's checkpoint format and a folder of class folders.

A random-weights VWW supernet saved as the lab does (``torch.save({"state_dict": sd},
"vww_supernet.pth")``) plus ``DIR/<class>/*.png`` builds a firmware project with
``ofa-mcu build --board stm32f746g-disco --space vww --supernet vww_supernet.pth --data DIR``;
every checkpoint format reaches the supernet through the one reader.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ofa_mcu.cli import main
from ofa_mcu.config import VWW
from ofa_mcu.errors import UserError
from ofa_mcu.io import read_output_manifest
from ofa_mcu.nn import OFAMCUNet, load_supernet_state, read_checkpoint


@pytest.fixture(scope="module")
def vww_state() -> dict:
    torch.manual_seed(0)
    return OFAMCUNet(VWW).state_dict()


def _class_folders(root: Path, per_class: int = 10) -> Path:
    """Small synthetic RGB images in ``person/`` and ``non-person/`` (ImageFolder layout)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("non-person", "person"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.mark.parametrize("name, wrap, half", [
    ("vww_supernet.pth", True, False),   # the lab's
    ("bare.pth", False, False),
    ("shipped_like.pt", False, True),    # the shipped default's format (fp16 state_dict)
    ("wrapped_half.pt", True, True),
    ("no_suffix", True, False),
])
def test_every_checkpoint_format_loads_through_the_one_reader(tmp_path, vww_state, name, wrap, half):
    state = {k: v.half() if half and v.is_floating_point() else v for k, v in vww_state.items()}
    path = tmp_path / name
    torch.save({"state_dict": state} if wrap else state, path)
    read = read_checkpoint(path)
    assert all(v.dtype != torch.float16 for v in read.values())  # floating tensors come back as fp32
    net = OFAMCUNet(VWW)
    load_supernet_state(net, path)
    w = net.first_conv.conv.conv.weight
    want = vww_state["first_conv.conv.conv.weight"]
    assert torch.allclose(w, want.half().float() if half else want)
    assert main(["supernet", "check", str(path), "--space", "vww"]) == 0


def test_a_truncated_checkpoint_is_one_line(tmp_path, vww_state, capsys):
    path = tmp_path / "vww_supernet.pth"
    torch.save({"state_dict": vww_state}, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError, match="not a PyTorch checkpoint"):
        read_checkpoint(path)
    assert main(["build", "--board", "stm32f746g-disco", "--space", "vww", "--supernet", str(path),
                 "--data", str(_class_folders(tmp_path / "data")), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a PyTorch checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "vww_supernet.pth"]


@pytest.mark.slow
def test_lab_checkpoint_and_class_folders_build_a_firmware_project(tmp_path, vww_state, capsys):
    torch.save({"state_dict": vww_state}, tmp_path / "vww_supernet.pth")
    data = _class_folders(tmp_path / "DIR")
    out = tmp_path / "out"
    argv = ["build", "--board", "stm32f746g-disco", "--space", "vww", "--supernet", str(tmp_path / "vww_supernet.pth"),
            "--data", str(data), "--out", str(out), "--eval-images", "6", "--calib-images", "8",
            "--bn-calib-images", "8", "--population", "8", "--generations", "2", "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    project = out / "project"
    manifest = json.loads((project / "ofa-mcu.json").read_text())
    assert manifest["board"] == "stm32f746g-disco" and manifest["build_system"] == "make"
    assert (project / "src" / "model_data.cc").is_file()
    results = json.loads((out / "model" / "results.json").read_text())
    assert results["model"]["space"] == "vww" and results["dataset"]["name"] == "vww"
    assert results["dataset"]["class_names"] == ["non-person", "person"]
    assert results["model"]["input"]["shape"][-1] == 3 and results["model"]["input"]["dtype"] == "int8"
    assert results["model"]["arch"]["image_size"] in VWW.resolutions
    assert "project/ofa-mcu.json" in read_output_manifest(out)
    md = (out / "report" / "report.md").read_text()
    assert "? ?" not in md and "&lt;=" not in md
    capsys.readouterr()

    # the results file --help points to renders again, and flash takes the build's folder
    assert main(["report", str(out / "model" / "results.json")]) == 0
    assert (out / "model" / "report" / "plots" / "search.png").is_file()
    assert main(["flash", str(out), "--dry-run"]) == 0
    assert f"make project in {project}" in capsys.readouterr().out
