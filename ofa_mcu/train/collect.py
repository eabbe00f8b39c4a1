"""Accuracy collection (``ofa-mcu collect``): measured (arch, top-1) pairs for the predictor.

The lab's method: sample a subnet, extract it, re-calibrate its BN on training images, and
measure top-1 on the holdout split at its resolution. Pairs are appended to a file in the
lab's format (a JSON list of ``[arch, top1_percent]``, ``.json`` or ``.json.gz``), written
atomically after every pair, so a killed run resumes where it stopped.
"""
from __future__ import annotations

import random
import time
from pathlib import Path

from tqdm import tqdm

from ..errors import UserError
from ..io import read_json, write_json
from ..space.arch import SAMPLERS, arch_key, validate_arch

ENGINES = ("onnx", "torch")  # what scores a calibrated subnet (see .subnet_eval)


def planned_archs(cfg, n: int, seed: int, sampler: str = "uniform") -> list[dict]:
    """The ``n`` distinct random subnets a run with ``seed`` and ``sampler`` (a name in
    :data:`~ofa_mcu.space.arch.SAMPLERS`) measures, in order."""
    if sampler not in SAMPLERS:
        raise UserError(f"sampler {sampler!r} is unknown; choose one of {', '.join(SAMPLERS)}")
    sample_arch = SAMPLERS[sampler]
    rng = random.Random(seed)
    out, seen = [], set()
    for _ in range(n * 50):
        if len(out) == n:
            break
        a = sample_arch(rng, cfg)
        k = arch_key(a, cfg)
        if k not in seen:
            seen.add(k)
            out.append(a)
    return out


def read_pairs(path: str | Path, cfg) -> list[list]:
    """Existing pairs of a collection file (empty when it does not exist)."""
    p = Path(path)
    if not p.exists():
        return []
    data = read_json(p, "pair file")
    if not isinstance(data, list) or any(not isinstance(x, list) or len(x) != 2 for x in data):
        raise UserError(f"{p}: not a pair file (a JSON list of [arch, accuracy]); choose another --out")
    for i, (a, _) in enumerate(data):
        try:
            validate_arch(a, cfg)
        except UserError as exc:
            raise UserError(f"{p}: pair #{i}: {exc}") from None
    return data


def collect_pairs(supernet, cfg, data, out: str | Path, n: int, seed: int = 0, calib_images: int = 500,
                  eval_images: int = 5000, shard: tuple[int, int] = (0, 1), progress: bool = True,
                  engine: str = "onnx", sampler: str = "uniform") -> list[list]:
    """Measure the planned subnets not yet in ``out`` (this process's shard of them) and append
    each pair to ``out`` as soon as it is measured; ``engine`` scores each calibrated subnet
    (``onnx`` or ``torch``, see :mod:`.subnet_eval`); ``sampler`` draws the plan (see
    :func:`planned_archs`). Returns all pairs in ``out``."""
    from .subnet_eval import ResizedImages, measure_top1

    if engine not in ENGINES:
        raise UserError(f"engine {engine!r} is unknown; choose one of {', '.join(ENGINES)}")
    index, count = shard
    if not 0 <= index < count:
        raise UserError(f"--shard {index}/{count}: the index must be in 0..{count - 1}")
    pairs = read_pairs(out, cfg)
    done = {arch_key(a, cfg) for a, _ in pairs}
    todo = [a for i, a in enumerate(planned_archs(cfg, n, seed, sampler)) if i % count == index and arch_key(a, cfg) not in done]
    images = ResizedImages(data.holdout, eval_images or None)
    for arch in tqdm(todo, desc="collect", unit="subnet", disable=not progress):
        t0 = time.perf_counter()
        top1 = measure_top1(supernet, arch, data.calib, images, calib_images=calib_images, engine=engine)
        pairs.append([arch, round(top1, 4)])
        write_json(out, pairs, indent=None)
        if progress:
            tqdm.write(f"top-1 {top1:.2f} % at {arch['image_size']} px, wid {arch['wid']} "
                       f"({time.perf_counter() - t0:.1f} s)")
    return pairs
