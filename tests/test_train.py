"""Progressive-shrinking training: a tiny real run, resume after kill -9, and two gloo ranks."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ofa_mcu.train.history import read_log
from ofa_mcu.train.phases import PHASES, sample_phase_arch
from ofa_mcu.train.schedule import cosine_lr
from ofa_mcu.config import FASHION_MNIST
import random

TINY = ["--space", "fashion_mnist", "--batch-size", "16", "--steps-per-epoch", "2", "--eval-images", "40",
        "--calib-images", "32", "--phase-eval-subnets", "1", "--threads", "1", "--quiet"]


def _cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "ofa_mcu", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, **kw)


def test_phase_sampling_opens_one_dimension_at_a_time():
    rng = random.Random(0)
    big = sample_phase_arch(PHASES["largest"], rng, FASHION_MNIST, 32)
    assert set(big["ks"]) == {7} and set(big["e"]) == {6} and set(big["d"]) == {2} and big["wid"] == 2
    kernel = [sample_phase_arch(PHASES["kernel"], rng, FASHION_MNIST, 32) for _ in range(20)]
    assert {k for a in kernel for k in a["ks"]} == {3, 5, 7}
    assert {e for a in kernel for e in a["e"]} == {6}
    width = [sample_phase_arch(PHASES["width"], rng, FASHION_MNIST, 40) for _ in range(40)]
    assert {a["wid"] for a in width} == {0, 1, 2} and {d for a in width for d in a["d"]} == {0, 1, 2}


def test_cosine_schedule_warms_up_and_decays():
    lrs = [cosine_lr(s, 100, 0.1, warmup_steps=10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 0.001


@pytest.mark.slow
def test_tiny_run_writes_log_plot_checkpoint_and_weights(tmp_path):
    out = tmp_path / "run"
    r = _cli("train", "--out", str(out), "--phases", "largest,kernel", "--epochs", "1", *TINY, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in ("supernet.pt", "checkpoint.pt", "log.jsonl", "train.png", "summary.json", "train_config.json"):
        assert (out / name).is_file(), name
    log = read_log(out / "log.jsonl")
    steps = [x for x in log if x["kind"] == "step"]
    assert [x["global_step"] for x in steps] == [2, 4] and all(x["loss"] > 0 for x in steps)
    phases = [x for x in log if x["kind"] == "phase"]
    assert [p["phase"] for p in phases] == ["largest", "kernel"]
    assert set(phases[0]["eval"]) == {"smallest", "largest", "random0"}
    assert all(0 <= v["top1"] <= 100 for v in phases[1]["eval"].values())
    from ofa_mcu.nn import OFAMCUNet

    net = OFAMCUNet(FASHION_MNIST)
    net.load_state_dict(torch.load(out / "supernet.pt"))  # the weights load strictly into a fresh supernet
    # the same run again refuses to overwrite without --force
    again = _cli("train", "--out", str(out), "--phases", "largest", "--epochs", "1", *TINY)
    assert again.returncode == 2 and "--force" in again.stderr and again.stderr.count("\n") == 1


@pytest.mark.slow
def test_resume_after_kill_loses_at_most_one_epoch(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--phases", "largest", "--epochs", "4", *TINY]
    proc = subprocess.Popen([sys.executable, "-m", "ofa_mcu", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 400
    epochs_done = 0
    while time.time() < deadline and proc.poll() is None:
        epochs_done = sum(1 for x in read_log(out / "log.jsonl") if x["kind"] == "epoch")
        if epochs_done >= 2:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] >= epochs_done - 1 >= 1  # at most the running epoch is lost
    r = _cli("train", *args[1:], "--resume", "--threads", "2", timeout=600)  # threads may change on resume
    assert r.returncode == 0, r.stderr[-2000:]
    log = read_log(out / "log.jsonl")
    assert [x["epoch"] for x in log if x["kind"] == "epoch"] == [1, 2, 3, 4]
    assert [x["global_step"] for x in log if x["kind"] == "step"] == [2, 4, 6, 8]
    # resuming with other settings is refused with one line
    bad = _cli("train", "--out", str(out), "--phases", "largest", "--epochs", "5", *TINY, "--resume")
    assert bad.returncode == 2 and "different settings" in bad.stderr


@pytest.mark.slow
def test_two_gloo_processes_train_with_ddp(tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    r = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "ofa_mcu", "train", "--out",
                        str(out), "--phases", "largest,kernel", "--epochs", "1", *TINY],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    log = read_log(out / "log.jsonl")
    assert [x["global_step"] for x in log if x["kind"] == "step"] == [2, 4]
    cfg = json.loads((out / "train_config.json").read_text())
    assert cfg["train"]["phases"] == ["largest", "kernel"]
    # both ranks end with identical weights (DDP averaged the same gradients)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"] is True


@pytest.mark.slow
def test_scratch_baseline_trains_one_subnet(tmp_path):
    from ofa_mcu.space import smallest_arch

    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(smallest_arch(FASHION_MNIST)))
    out = tmp_path / "scratch"
    r = _cli("train", "--scratch", str(arch), "--out", str(out), "--epochs", "1", "--steps-per-epoch", "120",
             "--eval-images", "1000", "--threads", "1", "--quiet", timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["n"] == 1000
    assert summary["top1"] > 50.0  # 120 steps of real Fashion-MNIST: far above chance (10 %)
    assert f"{summary['top1']:.2f} %" in r.stdout
