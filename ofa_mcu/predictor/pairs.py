"""(arch, accuracy) pairs in the lab's format: loading, validation and the train/validation split.

A pair file is a JSON list of ``[arch_dict, top1_percent]`` (plain ``.json`` or ``.json.gz``),
as in ``shared/reference/lab_vww_acc/``. Accuracies are percentages (points).
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..config import VWW, SpaceConfig
from ..errors import UserError
from ..io import read_json
from ..space.arch import arch_key, validate_arch
from ..space.batch import ArchBatch


@dataclass
class Pairs:
    """N measured archs: ``batch`` (an :class:`ArchBatch`), ``acc`` (N,) float64 top-1 in points,
    ``files`` (the names of the files they came from, in load order) and ``source`` (N,) the
    index in ``files`` of each pair's file (all 0 when not given)."""

    batch: ArchBatch
    acc: np.ndarray
    files: list[str]
    source: np.ndarray | None = None

    def __post_init__(self):
        if self.source is None:
            self.source = np.zeros(len(self.acc), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.acc)

    def take(self, idx) -> "Pairs":
        """The pairs at ``idx`` (index array or boolean mask)."""
        return Pairs(self.batch.take(idx), self.acc[idx], self.files, self.source[idx])


def parse_pairs(data, cfg: SpaceConfig = VWW, source: str = "pairs") -> tuple[list[dict], list[float]]:
    """Validate the decoded JSON of one pair file; return the clean arch dicts and accuracies.

    Every problem is a one-line :class:`UserError` naming ``source`` and the pair index.
    """
    if not isinstance(data, list):
        raise UserError(f"{source}: expected a JSON list of [arch_dict, top1_percent] pairs, "
                        f"got a JSON {type(data).__name__}")
    if not data:
        raise UserError(f"{source}: the pair list is empty; give a file with at least one [arch, accuracy] pair")
    archs, accs = [], []
    for i, item in enumerate(data):
        if not isinstance(item, list) or len(item) != 2:
            raise UserError(f"{source}: pair #{i} is not a two-element list [arch_dict, top1_percent]")
        arch, acc = item
        try:
            archs.append(validate_arch(arch, cfg))
        except UserError as exc:
            raise UserError(f"{source}: pair #{i}: {exc}") from None
        if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not math.isfinite(acc) \
                or not 0.0 <= acc <= 100.0:
            raise UserError(f"{source}: pair #{i}: accuracy {acc!r} is not a number in [0, 100]; "
                            f"give top-1 in percent")
        accs.append(float(acc))
    if len(accs) >= 10 and max(accs) <= 1.0:
        raise UserError(f"{source}: every accuracy is <= 1, which looks like fractions; "
                        f"the pair format stores top-1 in percent (multiply by 100)")
    return archs, accs


def load_pairs(paths: Sequence[str | Path], cfg: SpaceConfig = VWW) -> Pairs:
    """Load and validate pair files (in the given order) into one :class:`Pairs`.

    Each file may be given once and each network measured once (a repeat would land in both the
    training and the held-out split): repeats are one-line UserErrors.
    """
    if not paths:
        raise UserError("no pair files given; pass --pairs FILE [FILE ...]")
    check_distinct_files(paths)
    all_archs: list[dict] = []
    all_acc: list[float] = []
    source: list[int] = []
    first: dict[tuple, tuple[str, int]] = {}
    for i, p in enumerate(paths):
        archs, accs = parse_pairs(read_json(p, "pair file"), cfg, source=str(p))
        check_distinct_archs(archs, str(p), first, cfg)
        all_archs += archs
        all_acc += accs
        source += [i] * len(accs)
    batch = ArchBatch.from_dicts(all_archs, cfg, validate=False)
    return Pairs(batch, np.asarray(all_acc, dtype=np.float64), [Path(p).name for p in paths],
                 np.asarray(source, dtype=np.int64))


def _file_identity(path: str | Path):
    """What makes two paths the same file (device and inode; the resolved path if it cannot be read)."""
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino
    except OSError:
        return str(Path(path).resolve())


def check_distinct_files(paths: Sequence[str | Path]) -> None:
    """A one-line UserError when one pair file is given twice (under any name)."""
    seen: dict = {}
    for p in paths:
        key = _file_identity(p)
        if key in seen:
            also = "" if str(seen[key]) == str(p) else f" (also as {str(seen[key])!r})"
            raise UserError(f"pair file {str(p)!r} is given twice{also}; give each file once, or its pairs "
                            f"would be both trained on and held out")
        seen[key] = p


def check_distinct_archs(archs: Sequence[dict], source: str, first: dict[tuple, tuple[str, int]],
                         cfg: SpaceConfig = VWW) -> None:
    """A one-line UserError when an arch of ``source`` is a network already seen (its canonical
    :func:`~ofa_mcu.space.arch.arch_key`) earlier in ``source`` or in the files before it; ``first``
    maps the keys seen so far to (file, pair index) and is updated."""
    for i, arch in enumerate(archs):
        key = arch_key(arch, cfg)
        if key in first:
            src, j = first[key]
            where = f"pair #{j}" if src == source else f"pair #{j} of {src}"
            raise UserError(f"{source}: pair #{i} measures the same network as {where}; give each arch once "
                            f"(keep one measurement or their mean), or it would be both trained on and held out")
        first[key] = (source, i)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)``: (train indices, validation indices), both sorted."""
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"--val-fraction {val_fraction} must be strictly between 0 and 1 (e.g. 0.2)")
    n_val = int(round(n * val_fraction))
    if n < 10 or n_val < 2 or n - n_val < 2:
        raise UserError(f"{n} pairs are too few to hold out a validation fraction of {val_fraction}; "
                        f"give at least 10 pairs and a fraction that leaves 2 or more on each side")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def split_by_file(source: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded random split of pairs from several files, drawn within each file: each file
    holds out ``round(n_file * val_fraction)`` of its pairs, chosen as :func:`split_indices` would
    (so one file splits exactly as it does alone, and pairs collected another way, e.g. with
    another sampler, are held out in proportion). ``source`` (N,) is each pair's file index.
    Returns (train indices, validation indices), both sorted."""
    source = np.asarray(source)
    split_indices(len(source), val_fraction, seed)  # the whole set's size and fraction checks
    train, val = [], []
    for f in np.unique(source):
        rows = np.flatnonzero(source == f)
        perm = np.random.default_rng(seed).permutation(len(rows))
        n_val = int(round(len(rows) * val_fraction))
        train.append(rows[perm[n_val:]])
        val.append(rows[perm[:n_val]])
    train, val = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    if len(val) < 2 or len(train) < 2:
        raise UserError(f"the pair files are too small to hold out {val_fraction} of each ({len(val)} held out, "
                        f"{len(train)} to train on); give larger files or merge them into one")
    return train, val


@dataclass(frozen=True)
class Split:
    """One way to draw a fit's held-out pairs: ``draw(pairs, val_fraction, seed)`` gives
    (train, validation) indices; ``words`` names it in reports."""

    draw: Callable[[Pairs, float, int], tuple[np.ndarray, np.ndarray]]
    words: str


# recorded as a fit's meta.data.split; fits from before it was recorded drew "random"
SPLITS = {
    "random": Split(lambda pairs, frac, seed: split_indices(len(pairs), frac, seed), "random"),
    "by_file": Split(lambda pairs, frac, seed: split_by_file(pairs.source, frac, seed),
                     "random within each pair file"),
}


def index_digest(idx: np.ndarray) -> str:
    """A short hash of an index set (records which rows were held out)."""
    return hashlib.sha256(np.sort(np.asarray(idx, dtype=np.int64)).tobytes()).hexdigest()[:16]


def pairs_digest(pairs: Pairs, cfg: SpaceConfig = VWW) -> str:
    """A short hash of the pairs' content and order (archs in canonical form plus accuracies)."""
    h = hashlib.sha256(np.ascontiguousarray(pairs.batch.keys(cfg), dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(pairs.acc, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]
