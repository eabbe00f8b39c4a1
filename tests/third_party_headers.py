"""ST's CMSIS device headers and Arm's CMSIS-Core headers from ``../shared/third_party`` for the
BSP tests: unpacked once into ofa-mcu's cache (``~/.cache/ofa-mcu/third_party``, the layout of
the TFLM tests' ``shared_trees``), never into the repository. Tests skip, with the reason, where
``shared/`` is absent (a user's fresh clone)."""
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
CACHE = Path(os.environ.get("OFA_MCU_CACHE", Path.home() / ".cache" / "ofa-mcu")) / "third_party"


def unpack(archive_name: str) -> Path | None:
    """The unpacked top folder of ``third_party/<archive_name>``, or None when it is absent."""
    archive = THIRD_PARTY / archive_name
    if not archive.is_file():
        return None
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:12]
    dest = CACHE / f"{archive.name.removesuffix('.tar.gz')}-{digest}"
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


def stm32_include(family: str) -> Path:
    """``Include/`` of ST's cmsis-device-f7 / -h7 (skips when the archive is absent)."""
    top = unpack("stm32-cmsis-device.tar.gz")
    if top is None:
        pytest.skip(f"ST's CMSIS device headers are absent ({THIRD_PARTY / 'stm32-cmsis-device.tar.gz'}, as in a "
                    "fresh clone): the register definitions cannot be checked against them")
    return top / f"cmsis-device-{family[-2:]}" / "Include"


def cmsis_core() -> tuple[Path, Path]:
    """``(CMSIS/Core/Include, third_party/cortex_dfp/Device)`` from the pinned TFLM tree."""
    top = unpack("tflm-reference.tar.gz")
    if top is None:
        pytest.skip(f"Arm's CMSIS-Core headers are absent ({THIRD_PARTY / 'tflm-reference.tar.gz'}, as in a fresh "
                    "clone)")
    return top / "third_party/cmsis/CMSIS/Core/Include", top / "third_party/cortex_dfp/Device"
