"""``predictor fit`` as a function: load pairs, split, train the recipe (and any baselines on the
same split), evaluate on the held-out part, save the model and the report."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import SpaceConfig
from ..errors import UserError
from ..io import check_output_folder, staged_output
from ..space.batch import ArchBatch, sample_batch
from ..validate import OPEN_FRACTION, SEED
from .metrics import regression_metrics
from .model import AccuracyPredictor
from .pairs import SPLITS, Pairs, index_digest, load_pairs, pairs_digest
from .recipes import Recipe
from .report import write_report
from .train import fit_recipe


def time_predict_ms(pred: AccuracyPredictor, n: int = 10_000, repeats: int = 5, seed: int = 0) -> float:
    """Best-of-``repeats`` wall time (ms) of ``predict_batch`` on ``n`` random archs, encoding included."""
    batch = sample_batch(np.random.default_rng(seed), n, pred.space)
    pred.predict_batch(batch)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred.predict_batch(batch)
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


_TIMER = """
import sys, time
import numpy as np
from ofa_mcu.predictor.model import AccuracyPredictor
from ofa_mcu.space.batch import sample_batch
p = AccuracyPredictor.load(sys.argv[1])
b = sample_batch(np.random.default_rng(0), int(sys.argv[2]), p.space)
p.predict_batch(b)
best = float("inf")
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    p.predict_batch(b)
    best = min(best, time.perf_counter() - t0)
print(best * 1000.0)
"""


def time_predict_ms_one_thread(pred: AccuracyPredictor, n: int = 10_000, repeats: int = 7) -> float | None:
    """:func:`time_predict_ms` in a fresh process with one BLAS thread (the thread count is fixed
    when numpy loads, so it cannot be changed here). ``None`` if that process fails."""
    import os
    import subprocess
    import sys
    import tempfile

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        pred.save(tmp)
        try:
            out = subprocess.run([sys.executable, "-c", _TIMER, tmp, str(n), str(repeats)], env=env,
                                 capture_output=True, text=True, timeout=300)
            return float(out.stdout.strip()) if out.returncode == 0 else None
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None


SPLIT = "by_file"  # what a new fit draws: one file splits as "random" does


def split_pairs(pairs: Pairs, val_fraction: float, seed: int, split: str = SPLIT) -> tuple[np.ndarray, np.ndarray]:
    """The seeded random train/validation split of ``pairs`` (index arrays) drawn the way named
    ``split`` (a key of :data:`SPLITS`): by default within each pair file
    (:func:`~.pairs.split_by_file`)."""
    if split not in SPLITS:
        raise UserError(f"split {split!r} is unknown; choose one of {', '.join(SPLITS)}")
    return SPLITS[split].draw(pairs, val_fraction, seed)


def evaluate(pred: AccuracyPredictor, batch: ArchBatch, acc: np.ndarray) -> dict:
    """Metrics of ``pred`` on measured pairs (see :func:`regression_metrics`)."""
    return regression_metrics(pred.predict_batch(batch), acc, batch.image_size)


def fit(pair_files: Sequence[str], out_dir: str | Path, recipe: Recipe, cfg: SpaceConfig,
        val_fraction: float = 0.2, seed: int = 0, baselines: Sequence[Recipe] = (),
        force: bool = False, progress: bool = True) -> dict:
    """Train ``recipe`` on a seeded random split of the pairs, compare with ``baselines`` trained on
    the same split, and write the model, ``report.json``, ``report.md`` and ``scatter.png`` to
    ``out_dir``. Returns the report dict."""
    out_dir = Path(out_dir)
    check_output_folder(out_dir, force, inputs=pair_files, what="output directory")
    pairs = load_pairs(pair_files, cfg)
    tr, va = split_pairs(pairs, val_fraction, seed)
    train, val = pairs.take(tr), pairs.take(va)
    data = {
        "files": pairs.files, "n_pairs": len(pairs), "pairs_digest": pairs_digest(pairs, cfg),
        "val_fraction": val_fraction, "seed": seed, "split": SPLIT, "n_train": len(tr), "n_val": len(va),
        "val_digest": index_digest(va),
    }
    models: dict[str, dict] = {}
    t0 = time.perf_counter()
    pred = fit_recipe(train.batch, train.acc, recipe, cfg, seed=seed, progress=progress)
    train_seconds = time.perf_counter() - t0
    y = pred.predict_batch(val.batch)
    models[recipe.name] = {**regression_metrics(y, val.acc, val.batch.image_size),
                           "ms_per_10k": time_predict_ms_one_thread(pred)}
    for base in baselines:
        if base.name == recipe.name:
            continue
        bp = fit_recipe(train.batch, train.acc, base, cfg, seed=seed, progress=progress)
        models[base.name] = {**evaluate(bp, val.batch, val.acc), "ms_per_10k": time_predict_ms_one_thread(bp),
                             "training": bp.meta.get("training")}
    report = {
        "space": cfg.name, "recipe": {"name": recipe.name, "description": recipe.description},
        "data": data, "train_seconds": train_seconds, "models": models,
        "timing_note": "ms_per_10k: best of 7 predict_batch calls on 10,000 random archs (encoding "
                       "included) in a fresh process with one BLAS thread, on the machine that fitted",
    }
    pred.meta.update({"data": data, "metrics": models[recipe.name],
                      "baselines": {k: v for k, v in models.items() if k != recipe.name}})
    with staged_output(out_dir, force, inputs=pair_files, what="output directory", kind="predictor") as tmp:
        pred.save(tmp)
        write_report(tmp, report, y, val.acc, val.batch.image_size)
    return report


def split_record(pred: AccuracyPredictor) -> dict:
    """The training split ``pred`` recorded at fit time (``meta["data"]``: the pair files, their
    digest, the validation fraction, seed and digest), checked; a one-line UserError when it is
    missing or incomplete."""
    data = pred.meta.get("data")
    if not data:
        raise UserError("this predictor records no training split; evaluate without --held-out")
    problem = _split_problem(data)
    if problem is not None:
        raise UserError(f"this predictor's record of its training split is damaged ({problem}); "
                        f"evaluate without --held-out, or re-run 'ofa-mcu predictor fit'")
    return data


def _split_problem(data) -> str | None:
    """Why ``data`` is not a usable split record (None when it is)."""
    if not isinstance(data, dict):
        return f"meta.data is a JSON {type(data).__name__}, not an object"
    for key in ("files", "pairs_digest", "val_fraction", "seed", "val_digest"):
        if key not in data:
            return f"meta.data lacks {key!r}"
    files = data["files"]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return f"meta.data.files is {files!r}, not a list of file names"
    for key in ("pairs_digest", "val_digest"):
        if not isinstance(data[key], str):
            return f"meta.data.{key} is {data[key]!r}, not a digest string"
    for key, allowed in (("val_fraction", OPEN_FRACTION), ("seed", SEED)):
        if allowed.problem(data[key]) is not None:
            return f"meta.data.{key} is {data[key]!r}, not {allowed.describe()}"
    if data.get("split", "random") not in SPLITS:
        return f"meta.data.split is {data['split']!r}, not one of {', '.join(SPLITS)}"
    return None


def held_out(pred: AccuracyPredictor, pairs: Pairs) -> Pairs:
    """The validation part of ``pairs`` under the split ``pred`` recorded at fit time.

    The pairs must be the ones it was fitted on, in the same order (checked by digest).
    """
    data = split_record(pred)
    digest = pairs_digest(pairs, pred.space)
    if digest != data["pairs_digest"]:
        raise UserError(f"these pairs differ from the ones the predictor was fitted on (digest {digest}, "
                        f"recorded {data['pairs_digest']}); pass the files {data['files']} in that order")
    _, va = split_pairs(pairs, data["val_fraction"], int(data["seed"]), data.get("split", "random"))
    if index_digest(va) != data["val_digest"]:
        raise UserError("the recomputed validation split does not match the recorded one; "
                        "the split code changed since this predictor was fitted")
    return pairs.take(va)
