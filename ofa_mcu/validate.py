"""One validation layer for numbers and paths given by users.

:class:`Number` describes an allowed range once; the same object checks a value in library
code (``check``, a one-line :class:`UserError` naming the range) and converts a command-line
string (``Number(...)`` as an argparse ``type``, an ``ArgumentTypeError`` naming the range).
Path kinds (:func:`existing_file`, :func:`existing_dir`) work the same way. The CLI applies
them while parsing, so bad input stops before any work starts.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError


def _fmt(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


@dataclass(frozen=True)
class Number:
    """An allowed range: integer or finite real, ``lo``/``hi`` bounds (inclusive unless
    ``lo_open``/``hi_open``), None for no bound."""

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        """The range in words: ``an integer >= 1``, ``a number in (0, 1]``."""
        kind = "an integer" if self.integer else "a finite number"
        if self.lo is not None and self.hi is not None:
            return (f"{kind} in {'(' if self.lo_open else '['}{_fmt(self.lo)}, {_fmt(self.hi)}"
                    f"{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{kind} {'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        if self.hi is not None:
            return f"{kind} {'<' if self.hi_open else '<='} {_fmt(self.hi)}"
        return kind

    def problem(self, value) -> str | None:
        """Why ``value`` is outside the range (None when it is fine)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "not a number"
        if isinstance(value, int):
            if abs(value) > 2**63:  # past any count a machine holds (and past float's range)
                return "too large" if value > 0 else "too small"
        elif not math.isfinite(value):
            return "not finite"
        elif self.integer and not value.is_integer():
            return "not an integer"
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return "too small"
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return "too large"
        return None

    def check(self, name: str, value):
        """``value`` when it is in range, else a UserError naming ``name`` and the range."""
        if self.problem(value) is not None:
            raise UserError(f"{name} must be {self.describe()}, got {value!r}")
        return int(value) if self.integer else float(value)

    def parse(self, text: str):
        """A command-line string -> the number; ``ArgumentTypeError`` names the range."""
        raw = str(text).strip()
        try:
            value = int(raw.replace("_", "")) if self.integer else float(raw)
        except ValueError:
            if self.integer:
                try:
                    f = float(raw)
                    value = int(f) if math.isfinite(f) and f.is_integer() else None
                except ValueError:
                    value = None
            else:
                value = None
        if value is None or self.problem(value) is not None:
            shown = text if len(str(text)) <= 40 else f"{str(text)[:20]}...({len(str(text))} characters)"
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {shown!r}")
        return value

    def __call__(self, text: str):  # argparse calls ``type(text)``
        return self.parse(text)


# The ranges the commands share (one definition each).
POSITIVE_INT = Number(1, integer=True)
NON_NEGATIVE_INT = Number(0, integer=True)
SEED = Number(0, 2**32 - 1, integer=True)
POSITIVE = Number(0, lo_open=True)
NON_NEGATIVE = Number(0)
FRACTION = Number(0, 1)  # a probability
OPEN_FRACTION = Number(0, 1, lo_open=True, hi_open=True)
THREADS = Number(1, 1024, integer=True)
IMAGES = Number(1, 10_000_000, integer=True)
BN_IMAGES = Number(2, 10_000_000, integer=True)  # batch statistics need two images
EPOCHS = Number(1, 10_000, integer=True)  # a bound, so a typo is an error, not a run without end
KILOBYTES = Number(0, 2**32)  # a memory reserve in KB (4 TB: past every board)
# Populations and sample counts live in memory at once: a bound keeps a typo from swapping.
BATCH_COUNT = Number(1, 1_000_000, integer=True)
# The search's parameters (ofa_mcu.search.strategies checks them with these same objects).
EVOLUTION_RANGES = {
    "population": Number(2, 100_000, integer=True),
    "generations": Number(1, 100_000, integer=True),
    "parent_ratio": Number(0, 1, lo_open=True),
    "mutation_ratio": FRACTION,
    "mutation_prob": FRACTION,
    "resolution_mutation_prob": FRACTION,
}
SAMPLES = BATCH_COUNT


@dataclass(frozen=True)
class NumberList:
    """A comma-separated list of numbers, each in ``item``'s range (``--epochs 4,2,2``)."""

    item: Number

    def __call__(self, text: str) -> list:
        parts = [p for p in str(text).split(",")]
        if not parts or any(not p.strip() for p in parts):
            raise argparse.ArgumentTypeError(f"must be a comma-separated list of {self.item.describe()}s, got {text!r}")
        try:
            return [self.item.parse(p) for p in parts]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"each value must be {self.item.describe()}, got {text!r}") from None


def shard(text: str) -> tuple[int, int]:
    """``I/K`` (this process measures every K-th item starting at I) -> ``(I, K)``."""
    parts = str(text).split("/")
    try:
        i, k = (int(p) for p in parts)
    except ValueError:
        i = k = None
    if len(parts) != 2 or i is None or not 0 <= i < k:
        raise argparse.ArgumentTypeError(f"must be I/K with integers 0 <= I < K (e.g. 0/2), got {text!r}")
    return i, k


def _path_type(kind: str, test, what: str, hint: str):
    def convert(text: str) -> str:
        p = Path(text)
        if not str(text).strip():
            raise argparse.ArgumentTypeError(f"needs a path, got {text!r}")
        if not p.exists():
            raise argparse.ArgumentTypeError(f"{what} {text!r} does not exist; {hint}")
        if not test(p):
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not a {kind}; give the path of a {kind}")
        return str(text)

    convert.__name__ = kind
    return convert


def existing_file(what: str = "file", hint: str = "check the path"):
    """argparse type: the path of an existing file."""
    return _path_type("file", Path.is_file, what, hint)


def existing_dir(what: str = "folder", hint: str = "check the path"):
    """argparse type: the path of an existing folder."""
    return _path_type("folder", Path.is_dir, what, hint)


def non_empty(what: str = "value"):
    """argparse type: a string with something in it."""
    def convert(text: str) -> str:
        if not str(text).strip():
            raise argparse.ArgumentTypeError(f"{what} must not be empty")
        return str(text)

    convert.__name__ = "text"
    return convert
