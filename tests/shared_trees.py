"""The pinned TFLite-Micro trees and ST device headers of ``../shared/third_party`` for tests.

They are other projects' code and never part of the repository: each archive is unpacked once
into ofa-mcu's cache (``codegen.tflm_lib.cache_root()/third_party``), and a test that needs
one skips, with the reason, where ``shared/`` is absent (a user's fresh clone).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OFA_MCU_SHARED", REPO.parent / "shared"))
THIRD_PARTY = SHARED / "third_party"
ARCHIVES = {"reference": "tflm-reference.tar.gz", "cmsis-nn": "tflm-cmsis-nn.tar.gz",
            "stm32": "stm32-cmsis-device.tar.gz"}


def unpacked(name: str) -> Path | None:
    """The unpacked top folder of archive ``name`` (a key of ARCHIVES), or None when absent."""
    archive = THIRD_PARTY / ARCHIVES[name]
    if not archive.is_file():
        return None
    from codegen.tflm_lib import cache_root

    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:12]
    dest = cache_root() / "third_party" / f"{archive.name.removesuffix('.tar.gz')}-{digest}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f"{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dest / ".complete").is_file():
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
            (dest / ".complete").write_text("ok\n")
    tops = [p for p in dest.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else dest


def tflm_tree_or_skip(kernels: str) -> Path:
    """The pinned TFLM tree with ``kernels`` ("reference" or "cmsis-nn"); skips when absent."""
    tree = unpacked(kernels)
    if tree is None:
        pytest.skip(f"no pinned TFLite-Micro tree ({THIRD_PARTY / ARCHIVES[kernels]} is absent, as in a fresh "
                    "clone): the firmware cannot be linked")
    return tree
