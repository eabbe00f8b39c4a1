"""The one checkpoint reader and strict loading, with one-line errors naming the first wrong
key or shape.

Every command that reads supernet weights goes through :func:`read_checkpoint`: any file name
(``.pth``, ``.pt``, ...), a bare state_dict or the lab's ``{"state_dict": ...}`` (or a
training checkpoint's ``{"model": ...}``), a DataParallel ``module.`` prefix, fp16 or fp32
tensors (floating tensors come back as fp32).
"""
from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..errors import UserError


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The state_dict in a checkpoint file (see the module docstring), floating tensors as fp32."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"checkpoint {str(path)!r} is a folder; pass the .pth/.pt file")
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist; check the path")
    with open(path, "rb") as f:
        head = f.read(4)
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise UserError(f"{str(path)!r} is not a PyTorch checkpoint (or it is truncated); pass a .pth file written "
                        f"by torch.save(net.state_dict(), path)")
    try:
        with warnings.catch_warnings():  # a plain pickle's protocol warning would add lines before the error
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; the first line is what matters
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{str(path)!r} could not be loaded safely ({first[:160]}); re-save it with "
                        f"torch.save(net.state_dict(), path) (tensors only)") from None
    return unwrap_state(obj, str(path))


# Keys under which checkpoints keep their state_dict: the lab's, then a training checkpoint's.
STATE_KEYS = ("state_dict", "model")


def unwrap_state(obj, where: str = "checkpoint") -> dict:
    """The state_dict inside ``obj`` (itself, or under one of :data:`STATE_KEYS`), with a
    DataParallel ``module.`` prefix stripped and floating tensors as fp32."""
    if isinstance(obj, Mapping):
        for key in STATE_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise UserError(f"{where} holds a {type(obj).__name__}, not a state_dict; "
                        f"save the supernet with torch.save(net.state_dict(), path)")
    keys = list(obj)
    if keys and all(isinstance(k, str) and k.startswith("module.") for k in keys):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in obj.items()}


def state_mismatch(expected: Mapping[str, torch.Tensor], state: Mapping) -> str | None:
    """The first difference between a model's state_dict and a checkpoint's, as one line, or
    ``None`` when keys, shapes and dtype kinds (float / integer) all match."""
    for key, want in expected.items():
        if key not in state:
            return f"checkpoint lacks key {key!r} (shape {tuple(want.shape)})"
        got = state[key]
        if not isinstance(got, torch.Tensor):
            return f"checkpoint key {key!r} holds a {type(got).__name__}, not a tensor"
        if tuple(got.shape) != tuple(want.shape):
            return f"checkpoint key {key!r} has shape {tuple(got.shape)}; expected {tuple(want.shape)}"
        if got.is_floating_point() != want.is_floating_point():
            return f"checkpoint key {key!r} has dtype {got.dtype}; expected {want.dtype}"
    extra = [k for k in state if k not in expected]
    if extra:
        return f"checkpoint has unexpected key {extra[0]!r}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
    return None


def load_supernet_state(net: nn.Module, state_or_path) -> None:
    """Load a checkpoint (a path, or a state_dict / ``{"state_dict": ...}``) into ``net`` with
    ``strict=True``; a mismatch raises :class:`UserError` naming the first bad key or shape."""
    if isinstance(state_or_path, (str, os.PathLike)):
        state = read_checkpoint(state_or_path)
        where = str(state_or_path)
    else:
        state = unwrap_state(state_or_path)
        where = "checkpoint"
    cfg = getattr(net, "cfg", None)
    space = f" of space {cfg.name!r}" if cfg is not None else ""
    problem = state_mismatch(net.state_dict(), state)
    if problem is not None:
        raise UserError(f"{where} does not fit the supernet{space}: {problem}; "
                        f"use a checkpoint of this space (or pick the matching --space)")
    bad = next((k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
                and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise UserError(f"{where} holds NaN or infinite values (key {bad!r}): the weights are damaged, e.g. by a "
                        f"diverged run; use an earlier checkpoint")
    net.load_state_dict(state, strict=True)
