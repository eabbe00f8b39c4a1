"""Shared test fixtures: where the reference data lives."""
from __future__ import annotations

import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does (see ofa_mcu/cli/__init__.py)
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OFA_MCU_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``shared/reference`` (the lab's spec, fixtures and accuracy pairs)."""
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {REFERENCE}; set OFA_MCU_SHARED to the shared/ folder")
    return REFERENCE


@pytest.fixture(scope="session")
def space_fixtures(reference_dir) -> list[dict]:
    """The 205 cases of ``space_fixtures.json``."""
    return json.loads((reference_dir / "space_fixtures.json").read_text())["cases"]


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Two torch threads on a busy 2-core machine ran up to 50x slower than one."""
    import torch

    torch.set_num_threads(1)
