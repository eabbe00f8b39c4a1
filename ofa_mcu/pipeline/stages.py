"""A stage runner that shows progress per stage and records how long each took."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console


class Stages:
    """``with stages("search"):`` prints the stage, a spinner while it runs, then its time."""

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
