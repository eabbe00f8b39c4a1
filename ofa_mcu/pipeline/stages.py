"""Stages of a pipeline: typed steps run in order, with progress per stage and its time.

A :class:`Stage` is a function ``run(ctx, **earlier)``: ``ctx`` holds what was checked before
the first stage, and every other parameter names an earlier stage's output (its ``gives``),
so what a stage reads is its signature and what it returns its annotation (a dataclass).
"""
from __future__ import annotations

import inspect
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console


class Stages:
    """Progress on stderr: ``with stages("search", what):`` prints the stage, a spinner while it
    runs, then its time; :meth:`note` adds a line under it."""

    def __init__(self, total: int, quiet: bool = False):
        self.total = total
        self.done = 0
        self.seconds: dict[str, float] = {}
        self.console = Console(stderr=True, quiet=quiet, highlight=False)

    @contextmanager
    def __call__(self, name: str, what: str) -> Iterator[None]:
        self.done += 1
        label = f"[{self.done}/{self.total}] {name}: {what}"
        t0 = time.perf_counter()
        with self.console.status(label):
            yield
        dt = time.perf_counter() - t0
        self.seconds[name] = round(dt, 2)
        self.console.print(f"[green]done[/green] {label} ({dt:.1f} s)")

    def note(self, text: str) -> None:
        """A line under the current stage."""
        self.console.print(f"      {text}")


@dataclass(frozen=True)
class Stage:
    """One step: ``name`` (progress and timings), ``gives`` (the name later stages take its
    output by), ``run`` and ``describe(ctx)`` (the progress line)."""

    name: str
    gives: str
    run: Callable[..., Any]
    describe: Callable[[Any], str]

    def needs(self) -> list[str]:
        """The earlier outputs ``run`` takes (its parameters after ``ctx``)."""
        return list(inspect.signature(self.run).parameters)[1:]


def check_order(stages: Sequence[Stage]) -> None:
    """A ValueError unless every stage takes only outputs of the stages before it."""
    given: set[str] = set()
    for s in stages:
        missing = [n for n in s.needs() if n not in given]
        if missing:
            raise ValueError(f"stage {s.name!r} takes {missing}, which no earlier stage gives")
        given.add(s.gives)


def run_stages(stages: Sequence[Stage], ctx: Any, progress: Stages) -> dict[str, Any]:
    """Run ``stages`` in order; returns every stage's output by its ``gives``."""
    check_order(stages)
    out: dict[str, Any] = {}
    for s in stages:
        with progress(s.name, s.describe(ctx)):
            out[s.gives] = s.run(ctx, **{n: out[n] for n in s.needs()})
    return out
