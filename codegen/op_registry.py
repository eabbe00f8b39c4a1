"""TFLite builtin op -> TFLite-Micro ``MicroMutableOpResolver`` method (data in ``tflm_ops.toml``)."""
from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from ofa_mcu.errors import UserError

OPS_FILE = Path(__file__).resolve().parent / "tflm_ops.toml"


@functools.cache
def tflm_op_methods() -> dict[str, str]:
    """The whole registry: builtin name -> resolver method name."""
    return dict(tomllib.loads(OPS_FILE.read_text(encoding="utf-8"))["ops"])


def resolver_methods(ops) -> list[str]:
    """Resolver methods for ``ops`` (builtin names), in the order given; unknown ops are a UserError."""
    table = tflm_op_methods()
    missing = [op for op in ops if op not in table]
    if missing:
        raise UserError(f"the model uses ops TFLite-Micro has no kernel for: {', '.join(missing)}; re-export without them")
    return [table[op] for op in ops]
