"""Measure the 32-bit TFLite-Micro arena of random subnets on QEMU, for the calibrated memory
model's target figures (``ofa-mcu calibrate --target``).

Each subnet is converted once (random weights, as the host calibration does), then built and
run for every (core, kernel set) asked: the firmware prints ``arena_used_bytes``. Records are
appended to a JSON-lines cache as they come, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import SpaceConfig
from ..errors import UserError

# Different archs than the host calibration's (seed offset), so the target fit is checked on
# subnets the host tail was not fitted on either.
SEED_OFFSET = 10_000


def target_key(core: str, kernels: str) -> str:
    """How a (core, kernel set) is named in records and calibrations: ``cortex-m7/cmsis-nn``."""
    return f"{core}/{kernels}"


def _read_cache(path: Path | None) -> dict[str, dict]:
    out = {}
    if path is not None and path.is_file():
        for n, line in enumerate(path.read_text().splitlines()):
            if line.strip():
                try:
                    r = json.loads(line)
                except ValueError:
                    raise UserError(f"{path}:{n + 1} is not a JSON line; fix or delete the measurement cache") from None
                out[json.dumps(r["arch"], sort_keys=True)] = r
    return out


def measure_target_records(cfg: SpaceConfig, n: int, trees: dict, cores: tuple[str, ...], *, seed: int = 0,
                           cache: str | Path | None = None, progress: bool = True) -> list[dict]:
    """``n`` records ``{"arch", host figures..., "target": {"cortex-m7/cmsis-nn": {...}}}``
    for random subnets of ``cfg``; ``trees`` maps a kernel set to a checked TFLM tree."""
    from tqdm import tqdm

    from codegen.tflm_target import measure_on_qemu

    from ..quant.measure import calibration_archs, measure_arch

    cache_path = Path(cache) if cache else None
    known = _read_cache(cache_path)
    records = []
    archs = calibration_archs(cfg, n, seed + SEED_OFFSET)
    for i, arch in enumerate(tqdm(archs, desc=f"target {cfg.name}", unit="subnet", disable=not progress)):
        key = json.dumps(arch, sort_keys=True)
        rec = known.get(key)
        wanted = [(c, k) for c in cores for k in trees]
        if rec is None or any(target_key(c, k) not in rec.get("target", {}) for c, k in wanted):
            if rec is None:
                rec, tflite = measure_arch(arch, cfg, seed=seed + SEED_OFFSET + i)
                rec = {k: rec[k] for k in ("arch", "tflm_arena_bytes", "head", "tail", "tflite_bytes")}
            else:
                _, tflite = measure_arch(arch, cfg, seed=seed + SEED_OFFSET + i)
            rec.setdefault("target", {})
            for core, kernels in wanted:
                name = target_key(core, kernels)
                if name not in rec["target"]:
                    m = measure_on_qemu(tflite, core, trees[kernels], host_arena=rec["tflm_arena_bytes"])
                    rec["target"][name] = {k: m[k] for k in ("arena_used_bytes", "stack_used_bytes", "heap_used_bytes")}
            if cache_path is not None:
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                with cache_path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
        records.append(rec)
    return records
