"""Search strategies (a registry): random search and the lab's evolutionary search,
vectorized over the population, seeded and deterministic."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
from tqdm import tqdm

from ..efficiency.base import EfficiencyModel
from ..errors import UserError
from ..space.batch import ArchBatch, crossover_batch, mutate_batch
from ..validate import EVOLUTION_RANGES, SAMPLES
from .constraints import Constraints, check_satisfiable
from .result import SearchResult
from .sampler import sample_feasible

# Tries to make a feasible child before it falls back to (a copy of) its first parent.
CHILD_TRIES = 10


class Predictor(Protocol):
    """Anything with vectorized accuracy prediction (see ``ofa_mcu.predictor``)."""

    def predict_batch(self, batch: ArchBatch) -> np.ndarray: ...



@dataclass
class EvolutionParams:
    """The lab's defaults; a value outside :data:`EVOLUTION_RANGES` is a UserError."""

    population: int = 100
    generations: int = 500
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    mutation_prob: float = 0.1
    resolution_mutation_prob: float = 0.5

    def __post_init__(self) -> None:
        for name, rng in EVOLUTION_RANGES.items():
            setattr(self, name, rng.check("--" + name.replace("_", "-"), getattr(self, name)))


def _best(batch: ArchBatch, acc: np.ndarray, metrics: dict[str, np.ndarray]) -> tuple[dict, float, dict]:
    i = int(np.argmax(acc))
    return batch.take([i]).to_dicts()[0], float(acc[i]), {k: v[i].item() for k, v in metrics.items()}


def random_search(predictor: Predictor, model: EfficiencyModel, constraints: Constraints, *, samples: int = 1000,
                  seed: int = 0, wids: tuple[int, ...] | None = None, progress: bool = False) -> SearchResult:
    """Draw ``samples`` feasible archs uniformly and keep the most accurate."""
    samples = SAMPLES.check("--samples", samples)
    t0 = time.perf_counter()
    check_satisfiable(model, constraints, wids)
    rng = np.random.default_rng(seed)
    batch, metrics = sample_feasible(rng, samples, model, constraints, wids)
    acc = predictor.predict_batch(batch)
    arch, best_acc, best_m = _best(batch, acc, metrics)
    history = np.maximum.accumulate(acc).tolist()
    return SearchResult("random", arch, best_acc, best_m, batch, acc, metrics, history, samples,
                        time.perf_counter() - t0)


def _feasible_children(make: Callable[[], ArchBatch], fallback: ArchBatch, model: EfficiencyModel,
                       constraints: Constraints) -> tuple[ArchBatch, dict[str, np.ndarray]]:
    """Children from ``make()``; infeasible rows are remade up to CHILD_TRIES times, then
    replaced by the matching ``fallback`` row (a feasible parent), so this always ends."""
    children = make()
    metrics = model.evaluate_batch(children)
    ok = constraints.feasible(metrics)
    for _ in range(CHILD_TRIES - 1):
        if ok.all():
            break
        bad = np.flatnonzero(~ok)
        retry = make().take(bad)
        rm = model.evaluate_batch(retry)
        children.put(bad, retry)
        for k in metrics:
            metrics[k][bad] = rm[k]
        ok[bad] = constraints.feasible(rm)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        children.put(bad, fallback.take(bad))
        rm = model.evaluate_batch(fallback.take(bad))
        for k in metrics:
            metrics[k][bad] = rm[k]
    return children, metrics


def evolution_search(predictor: Predictor, model: EfficiencyModel, constraints: Constraints, *,
                     params: EvolutionParams = EvolutionParams(), seed: int = 0,
                     wids: tuple[int, ...] | None = None, progress: bool = False) -> SearchResult:
    """The lab's evolutionary search (OFA's EvolutionFinder), one generation at a time:
    keep the best ``parent_ratio`` of the population, add ``mutation_ratio`` x population
    mutated parents and the rest as crossovers of two parents, all within the budget."""
    t0 = time.perf_counter()
    check_satisfiable(model, constraints, wids)
    cfg = model.cfg
    rng = np.random.default_rng(seed)
    n_parents = max(1, int(round(params.parent_ratio * params.population)))
    n_mut = int(round(params.mutation_ratio * params.population))
    n_cross = params.population - n_mut

    pop, pop_m = sample_feasible(rng, params.population, model, constraints, wids)
    pop_acc = predictor.predict_batch(pop)
    seen_b, seen_a, seen_m = [pop], [pop_acc], [pop_m]
    history: list[float] = []
    best = (-np.inf, None, None)
    for _ in tqdm(range(params.generations), desc="evolution", disable=not progress, unit="gen"):
        top = np.argsort(-pop_acc, kind="stable")[:n_parents]
        parents, parents_acc = pop.take(top), pop_acc[top]
        parents_m = {k: v[top] for k, v in pop_m.items()}
        if parents_acc[0] > best[0]:
            best = (float(parents_acc[0]), parents.take([0]), {k: v[0].item() for k, v in parents_m.items()})
        history.append(best[0])

        pick = rng.integers(0, n_parents, size=n_mut)
        p1, p2 = rng.integers(0, n_parents, size=n_cross), rng.integers(0, n_parents, size=n_cross)
        first_parent = np.concatenate([pick, p1])
        children, children_m = _feasible_children(
            lambda: ArchBatch.concat([
                mutate_batch(parents.take(pick), rng, cfg, params.mutation_prob, params.resolution_mutation_prob, wids),
                crossover_batch(parents.take(p1), parents.take(p2), rng)]),
            parents.take(first_parent), model, constraints)
        children_acc = predictor.predict_batch(children)
        seen_b.append(children), seen_a.append(children_acc), seen_m.append(children_m)
        pop = ArchBatch.concat([parents, children])
        pop_acc = np.concatenate([parents_acc, children_acc])
        pop_m = {k: np.concatenate([parents_m[k], children_m[k]]) for k in parents_m}

    i = int(np.argmax(pop_acc))
    if pop_acc[i] > best[0]:
        best = (float(pop_acc[i]), pop.take([i]), {k: v[i].item() for k, v in pop_m.items()})
        history.append(best[0])
    cands = ArchBatch.concat(seen_b)
    cand_acc = np.concatenate(seen_a)
    cand_m = {k: np.concatenate([m[k] for m in seen_m]) for k in seen_m[0]}
    return SearchResult("evolution", best[1].to_dicts()[0], best[0], best[2], cands, cand_acc, cand_m, history,
                        len(cands), time.perf_counter() - t0)


STRATEGIES: dict[str, Callable[..., SearchResult]] = {"random": random_search, "evolution": evolution_search}


def get_strategy(name: str) -> Callable[..., SearchResult]:
    """Look up a search strategy by name."""
    if name not in STRATEGIES:
        raise UserError(f"unknown search strategy {name!r}; choose one of {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


def confirm_best(result: SearchResult, exact: EfficiencyModel, constraints: Constraints,
                 chunk: int = 100) -> SearchResult:
    """Re-check the search's best candidates with a slower, exact efficiency model and keep
    the most accurate one that still fits (searching with a fast lower bound, then confirming,
    costs a fraction of searching with the exact model)."""
    keys = result.candidates.keys(exact.cfg)
    order = np.argsort(-result.candidate_accuracy, kind="stable")
    _, first = np.unique(keys[order], axis=0, return_index=True)
    unique = order[np.sort(first)]
    for start in range(0, len(unique), chunk):
        idx = unique[start:start + chunk]
        metrics = exact.evaluate_batch(result.candidates.take(idx))
        ok = np.flatnonzero(constraints.feasible(metrics))
        if len(ok):
            j = int(ok[0])
            i = int(idx[j])
            result.best_arch = result.candidates.take([i]).to_dicts()[0]
            result.best_accuracy = float(result.candidate_accuracy[i])
            result.best_metrics = {k: v[j].item() for k, v in metrics.items()}
            return result
    raise UserError("no searched candidate fits the budget under the exact memory model; loosen the budget")
