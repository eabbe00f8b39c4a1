"""The native kernels: one Python module per kernel in this package, beside its C file in
``firmware/native/``. A module defines ``KERNEL`` (a :class:`Kernel`): the TFLite ops it lowers
and how, the fields of its C parameter struct (the one definition both the generated header and
the initialisers come from), how a call is emitted, its latency features and any fusion pass.

Adding an op is adding a module here and its C file; the registry finds modules by scanning the
package, so nothing else names a kernel. ``supported_ops()`` is the one list of TFLite ops the
backend takes (``ofa-mcu deploy --help`` and the unsupported-op error both print it).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

from ofa_mcu.errors import UserError

TFLM_HINT = "use --backend tflm for this model"


@dataclass(frozen=True)
class Kernel:
    """One native kernel.

    ``name``: the layers' ``kernel``; its C function is ``ofa_<name>`` (``prototype``) and its
    parameter struct ``ofa_<name>_params`` with ``fields`` (``(ctype, name)``; an ``[N]`` suffix
    on the name makes an array). ``c_file``: its source in ``firmware/native`` (None for
    kernels that make no call, e.g. reshape aliases). ``ops``: TFLite ops it lowers, with
    ``lower(ctx, op)``; when several kernels list an op, the first whose ``accepts(ctx, op)`` is
    true, by descending ``priority``, lowers it. ``emit(layer, cx) -> (declarations, call)``.
    ``features(layer) -> {feature: value}`` feeds the latency model. ``fuse(layers, graph_in,
    graph_out, policy) -> layers`` is a graph pass (run in ``fuse_order``). ``c_types``: extra C
    declarations the struct needs; ``depends``: kernels whose types or functions it uses;
    ``pad_folding``: its ops take a preceding spatial zero-point PAD inside the kernel;
    ``config(layers) -> str``: C definitions for ``ofa_kernels.h`` from the model's layers of this
    kernel (which specialised variants to compile).
    """

    name: str
    c_file: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    prototype: str = ""
    c_types: str = ""
    ops: tuple[str, ...] = ()
    lower: Callable | None = None
    accepts: Callable | None = None
    priority: int = 0
    emit: Callable | None = None
    features: Callable | None = None
    fuse: Callable | None = None
    fuse_order: int = 0
    depends: tuple[str, ...] = ()
    pad_folding: bool = False
    config: Callable | None = None
    doc: str = ""


@functools.cache
def registry() -> dict[str, Kernel]:
    """Every kernel by name (the modules of this package)."""
    out: dict[str, Kernel] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        k = getattr(mod, "KERNEL", None)
        if k is None:
            continue
        if k.name in out:
            raise RuntimeError(f"two kernel modules define {k.name!r}")
        out[k.name] = k
    return out


def kernel(name: str) -> Kernel:
    """The kernel called ``name``."""
    return registry()[name]


@functools.cache
def supported_ops() -> tuple[str, ...]:
    """The TFLite builtin ops the native backend lowers, sorted."""
    return tuple(sorted({op for k in registry().values() for op in k.ops}))


def _candidates(opcode: str) -> list[Kernel]:
    return sorted((k for k in registry().values() if opcode in k.ops), key=lambda k: -k.priority)


def lowering_for(opcode: str) -> Callable | None:
    """``lower(ctx, op)`` for ``opcode`` (trying the candidate kernels in priority order), or
    None when no kernel lowers it."""
    cands = _candidates(opcode)
    if not cands:
        return None

    def lower(ctx, op):
        for k in cands:
            if k.accepts is None or k.accepts(ctx, op):
                return k.lower(ctx, op)
        raise UserError(f"{opcode} op {op.index} has a form no native kernel takes; {TFLM_HINT}")

    return lower


def unsupported_ops_error(missing: list[str]) -> UserError:
    """The one-line error for ops no kernel lowers, listing the ones the backend supports."""
    what = f"op {missing[0]} is" if len(missing) == 1 else f"ops {', '.join(missing)} are"
    return UserError(f"{what} not supported by the native backend (supported: {', '.join(supported_ops())}); "
                     f"{TFLM_HINT}")


def fusion_passes() -> list[Callable]:
    """The kernels' graph passes, in their ``fuse_order``."""
    ks = sorted((k for k in registry().values() if k.fuse is not None), key=lambda k: (k.fuse_order, k.name))
    return [k.fuse for k in ks]


__all__ = ["Kernel", "TFLM_HINT", "fusion_passes", "kernel", "lowering_for", "registry", "supported_ops",
           "unsupported_ops_error"]
