"""ST's CMSIS device headers and Arm's CMSIS-Core headers from ``../shared/third_party`` for the
BSP tests: unpacked once into ofa-mcu's cache (``~/.cache/ofa-mcu/third_party``, the layout of
the TFLM tests' ``shared_trees``), never into the repository. Tests skip, with the reason, where
``shared/`` is absent (a user's fresh clone)."""
from __future__ import annotations

from pathlib import Path

import pytest

from shared_trees import ARCHIVES, THIRD_PARTY, unpacked


def unpack(archive_name: str) -> Path | None:
    """The unpacked top folder of ``third_party/<archive_name>``, or None when it is absent."""
    return unpacked({v: k for k, v in ARCHIVES.items()}[archive_name])


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
