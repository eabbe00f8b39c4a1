"""Shared test fixtures: where the reference data lives.

The facts the tests check against ship in ``tests/data`` (see ``tests/data/make_data.py``), so
a fresh clone runs them. Optional outside material lives in ``../shared`` (or
``$OFA_MCU_SHARED``): the external MLPerf model and the lab's full accuracy pairs
(``reference/``) and the pinned TFLite-Micro trees (``third_party/``); tests that need it skip
with the reason when it is absent.
"""
from __future__ import annotations

import gzip
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does (see ofa_mcu/cli/__init__.py)
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
SHARED = Path(os.environ.get("OFA_MCU_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference"
THIRD_PARTY = SHARED / "third_party"


def _shared(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (outside the repository: put shared/ beside the clone or set "
                    "OFA_MCU_SHARED)")
    return path


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``tests/data``: the reference facts that ship with the repository."""
    return TEST_DATA


@pytest.fixture(scope="session")
def space_fixtures() -> list[dict]:
    """The 205 cases of the lab's ``space_fixtures.json`` (exact MACs, params, peak, layers)."""
    return json.loads(gzip.decompress((TEST_DATA / "space_fixtures.json.gz").read_bytes()))["cases"]


@pytest.fixture(scope="session")
def state_dict_manifest() -> list:
    """Every key, shape and dtype of the lab supernet's state_dict (``state_dict_manifest.json``)."""
    return json.loads((TEST_DATA / "state_dict_manifest.json").read_text())


@pytest.fixture(scope="session")
def vww_heldout_pairs_file() -> Path:
    """The 10,000 lab VWW pairs the shipped predictor held out, in its split's order."""
    return TEST_DATA / "lab_vww_acc" / "vww_acc_heldout.json.gz"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``shared/reference`` (the lab's full pairs); skips when absent."""
    return _shared(REFERENCE, "shared/reference (the lab's full accuracy pairs)")


@pytest.fixture(scope="session")
def external_models() -> Path:
    """``shared/reference/external_models``: the MLPerf Tiny VWW int8 model and two test images
    (not ours to ship); skips when absent."""
    return _shared(REFERENCE / "external_models", "the external MLPerf Tiny model (shared/reference/external_models)")


@pytest.fixture(scope="session")
def third_party_dir() -> Path:
    """``shared/third_party``: the pinned TFLite-Micro trees; skips when absent."""
    return _shared(THIRD_PARTY, "the pinned TFLite-Micro trees (shared/third_party)")


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Two torch threads on a busy 2-core machine ran up to 50x slower than one."""
    import torch

    torch.set_num_threads(1)
