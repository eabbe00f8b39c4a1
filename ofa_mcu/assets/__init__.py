"""Files shipped with the package: default supernet weights, measured accuracy pairs,
accuracy predictors and TFLM calibrations (one per search space)."""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError

ASSETS = Path(__file__).resolve().parent


def asset(*parts: str, what: str = "asset") -> Path:
    """Path of a shipped file; a missing one is a one-line error (a broken install)."""
    path = ASSETS.joinpath(*parts)
    if not path.exists():
        raise UserError(f"{what} {'/'.join(parts)} is not shipped in this install ({path}); "
                        "reinstall ofa-mcu or pass the file explicitly")
    return path


def default_supernet(space: str) -> Path:
    """The shipped trained supernet weights of ``space`` (half precision state_dict)."""
    return asset("supernets", f"{space}.pt", what=f"default supernet for space {space!r}")
