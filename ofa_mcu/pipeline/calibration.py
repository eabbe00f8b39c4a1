"""The measurements behind the calibrated TFLM memory model (``ofa-mcu calibrate``).

Host: random subnets (random weights) are converted and measured with the 64-bit host TFLM
interpreter; :func:`ofa_mcu.efficiency.tflm_model.fit_calibration` fits the tail and flatbuffer
models on them. Target (``calibrate --target``): other random subnets are converted once, then
built and run for every (core, kernel set) asked on QEMU, where the firmware prints
``arena_used_bytes``; :func:`~ofa_mcu.efficiency.tflm_model.fit_target` fits the 32-bit
correction. Both append their records to a JSON-lines cache as they come
(:class:`MeasurementCache`), so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Hashable

import numpy as np

from ..config import SpaceConfig
from ..errors import UserError
from ..io import write_json
from ..space.arch import arch_key

# Different archs than the host calibration's (seed offset), so the target fit is checked on
# subnets the host tail was not fitted on either.
SEED_OFFSET = 10_000


class MeasurementCache:
    """Records in a JSON-lines file (None: in memory only), found by ``key(record)``; records
    ``keep`` refuses (another space, another tflite-micro) are ignored."""

    def __init__(self, path: str | Path | None, key: Callable[[dict], Hashable],
                 keep: Callable[[dict], bool] = lambda r: True):
        self.path = Path(path) if path else None
        self.key = key
        self.records: dict[Hashable, dict] = {}
        if self.path is not None and self.path.is_file():
            for n, line in enumerate(self.path.read_text().splitlines()):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    raise UserError(f"{self.path}:{n + 1} is not a JSON line; fix or delete the measurement cache") from None
                if keep(r):
                    self.records[key(r)] = r

    def get(self, record_key: Hashable) -> dict | None:
        """The cached record with this key, or None."""
        return self.records.get(record_key)

    def put(self, record: dict) -> None:
        """Remember ``record`` and append it to the file."""
        self.records[self.key(record)] = record
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def calibrate_space(cfg: SpaceConfig, n: int, seed: int = 0, holdout: int = 50, out_path: str | Path | None = None,
                    measurements_path: str | Path | None = None, progress: bool = True) -> dict:
    """Measure ``n`` random subnets (reusing the cache at ``measurements_path``), fit on the
    first ``n - holdout``, report errors on the rest, and write the calibration atomically."""
    from tqdm import tqdm

    from ..efficiency.tflm_model import fit_calibration, installed_versions
    from ..quant.measure import calibration_archs, measure_arch

    if holdout >= n:
        raise UserError(f"--holdout {holdout} leaves nothing to fit among -n {n}; measure more subnets")
    version = installed_versions()["tflite_micro"]
    cache = MeasurementCache(measurements_path, lambda r: arch_key(r["arch"], cfg),
                             lambda r: r.get("space") == cfg.name and r.get("tflm_version") == version)
    records = []
    for i, arch in enumerate(tqdm(calibration_archs(cfg, n, seed), desc=f"calibrate {cfg.name}", unit="subnet",
                                  disable=not progress)):
        rec = cache.get(arch_key(arch, cfg))
        if rec is None:
            rec, _ = measure_arch(arch, cfg, seed=seed + i)
            cache.put(rec)
        records.append(rec)
    cal = fit_calibration(records[: n - holdout], records[n - holdout:], cfg)
    cal["seed"] = seed
    cal["convert_seconds_median"] = float(np.median([r.get("convert_seconds", np.nan) for r in records]))
    if out_path is not None:
        write_json(out_path, cal)
    return cal


def target_key(core: str, kernels: str) -> str:
    """How a (core, kernel set) is named in records and calibrations: ``cortex-m7/cmsis-nn``."""
    return f"{core}/{kernels}"


def measure_target_records(cfg: SpaceConfig, n: int, trees: dict, cores: tuple[str, ...], *, seed: int = 0,
                           cache: str | Path | None = None, progress: bool = True) -> list[dict]:
    """``n`` records ``{"arch", host figures..., "target": {"cortex-m7/cmsis-nn": {...}}}``
    for random subnets of ``cfg``; ``trees`` maps a kernel set to a checked TFLM tree."""
    from tqdm import tqdm

    from codegen.tflm_target import measure_on_qemu

    from ..quant.measure import calibration_archs, measure_arch

    known = MeasurementCache(cache, lambda r: arch_key(r["arch"], cfg))
    records = []
    archs = calibration_archs(cfg, n, seed + SEED_OFFSET)
    wanted = [(c, k) for c in cores for k in trees]
    for i, arch in enumerate(tqdm(archs, desc=f"target {cfg.name}", unit="subnet", disable=not progress)):
        rec = known.get(arch_key(arch, cfg))
        if rec is None or any(target_key(c, k) not in rec.get("target", {}) for c, k in wanted):
            measured, tflite = measure_arch(arch, cfg, seed=seed + SEED_OFFSET + i)
            if rec is None:
                rec = {k: measured[k] for k in ("arch", "tflm_arena_bytes", "head", "tail", "tflite_bytes")}
            rec.setdefault("target", {})
            for core, kernels in wanted:
                name = target_key(core, kernels)
                if name not in rec["target"]:
                    m = measure_on_qemu(tflite, core, trees[kernels], host_arena=rec["tflm_arena_bytes"])
                    rec["target"][name] = {k: m[k] for k in ("arena_used_bytes", "stack_used_bytes", "heap_used_bytes")}
            known.put(rec)
        records.append(rec)
    return records
