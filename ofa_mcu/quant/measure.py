"""Measure real TFLM memory of arch dicts: build with random weights, convert, measure."""
from __future__ import annotations

import time
from typing import Iterable, Iterator, Mapping

import numpy as np

from ..config import SpaceConfig
from ..space.arch import validate_arch
from ..space.folded import random_folded
from ..space.table import build_table

# Calibration images only set quantization scales, which do not change sizes; a few suffice.
DEFAULT_CALIB = 4


def random_images(rng: np.random.Generator, n: int, cfg: SpaceConfig, image_size: int) -> np.ndarray:
    """``n`` random normalised NCHW float32 images (standard normal, like a normalised image)."""
    return rng.standard_normal((n, cfg.in_channels, image_size, image_size)).astype(np.float32)


def measure_arch(arch: Mapping, cfg: SpaceConfig, seed: int = 0, n_calib: int = DEFAULT_CALIB) -> tuple[dict, bytes]:
    """Convert ``arch`` (random weights from ``seed``) to full-int8 TFLite and measure it with
    the TFLM host interpreter. Returns ``(record, tflite_bytes)``; the record holds the arch,
    :func:`~ofa_mcu.quant.tflm_runner.measure_tflm`'s figures and the timings."""
    from .tflite_convert import convert_int8
    from .tflm_runner import measure_tflm

    arch = validate_arch(arch, cfg)
    rng = np.random.default_rng(seed)
    net = random_folded(build_table(arch, cfg, validate=False), rng)
    calib = random_images(rng, n_calib, cfg, arch["image_size"])
    t0 = time.perf_counter()
    tflite = convert_int8(net, calib)
    t1 = time.perf_counter()
    m = measure_tflm(tflite)
    t2 = time.perf_counter()
    m.pop("op_sequence", None)
    record = {"space": cfg.name, "arch": arch, **m,
              "convert_seconds": round(t1 - t0, 3), "measure_seconds": round(t2 - t1, 3)}
    return record, tflite


def measure_archs(archs: Iterable[Mapping], cfg: SpaceConfig, seed: int = 0, n_calib: int = DEFAULT_CALIB,
                  progress: bool = True, desc: str = "measure") -> Iterator[tuple[int, dict, bytes]]:
    """Yield ``(index, record, tflite_bytes)`` for each arch, with a tqdm bar on stderr."""
    from tqdm import tqdm

    archs = list(archs)
    for i, arch in enumerate(tqdm(archs, desc=desc, unit="subnet", disable=not progress, dynamic_ncols=True)):
        record, tflite = measure_arch(arch, cfg, seed=seed + i, n_calib=n_calib)
        yield i, {"index": i, **record}, tflite


def calibration_archs(cfg: SpaceConfig, n: int, seed: int = 0) -> list[dict]:
    """The ``n`` random archs a calibration measures: every width of the space (not only the
    sampler's default widths), drawn from ``random.Random(seed)``; the first ``k`` of ``n`` do
    not depend on ``n``, so a measurement cache can be extended."""
    import random

    rng = random.Random(seed)
    wids = tuple(range(len(cfg.width_mult_list)))
    from ..space.arch import sample_arch

    return [sample_arch(rng, cfg, wids=wids) for _ in range(n)]
