"""The interface every efficiency model offers the search, and a registry of them."""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from ..config import VWW, SpaceConfig
from ..errors import UserError
from ..space.batch import ArchBatch


class EfficiencyModel:
    """Predicts efficiency metrics for a whole population at once.

    Subclasses implement :meth:`evaluate_batch`, returning one int64 array per metric name;
    every model returns at least ``macs``, ``params``, ``sram_bytes`` and ``flash_bytes``. ``describe()`` says what
    ``sram_bytes`` and ``flash_bytes`` mean for this model (they differ between models).
    """

    name = "base"

    def __init__(self, cfg: SpaceConfig = VWW):
        self.cfg = cfg

    def evaluate_batch(self, batch: ArchBatch) -> dict[str, np.ndarray]:
        """Metrics of every arch in ``batch``."""
        raise NotImplementedError

    def evaluate(self, arch: Mapping) -> dict[str, int | float]:
        """Metrics of one arch dict (ints, floats for fractional metrics such as latency)."""
        out = self.evaluate_batch(ArchBatch.from_dicts([arch], self.cfg))
        return {k: v[0].item() for k, v in out.items()}

    def describe(self) -> dict[str, str]:
        """What each metric means for this model."""
        return {}


_REGISTRY: dict[str, Callable[..., EfficiencyModel]] = {}


def register_efficiency_model(name: str):
    """Class decorator: make a model available by name (``--efficiency NAME``)."""
    def deco(factory):
        _REGISTRY[name] = factory
        return factory
    return deco


def get_efficiency_model(name: str, cfg: SpaceConfig = VWW, **kwargs) -> EfficiencyModel:
    """Instantiate a registered efficiency model by name."""
    if name not in _REGISTRY:
        raise UserError(f"unknown efficiency model {name!r}; choose one of {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](cfg, **kwargs)
