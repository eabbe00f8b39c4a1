"""Which boards the native backend builds firmware for, and how (``templates/native/targets.toml``).

A board's ``[build] native`` names its target: ``baremetal`` (the project's own Makefile with
arm-none-eabi-gcc, the bare-metal BSP, the Cortex-M startup and a generated linker script) or
``pico-sdk`` (a Pico SDK CMake project: the SDK's boot2, clock set-up and UF2). A board without
one is refused up front, in one line naming the boards that have one.
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ofa_mcu.boards import Board, list_boards
from ofa_mcu.errors import UserError

from ..paths import templates_dir


@dataclass(frozen=True)
class NativeTarget:
    """One way of building native firmware (a table of ``targets.toml``)."""

    name: str
    build_system: str
    render: Mapping[str, str]
    copy: Mapping[str, str]
    artifacts: Mapping[str, str]
    linker_script: str | None = None

    def artifacts_for(self, board_name: str) -> dict[str, str]:
        """The artifacts' paths in a project for ``board_name``."""
        return {k: v.format(board=board_name) for k, v in self.artifacts.items()}


@functools.cache
def targets() -> dict[str, NativeTarget]:
    """Every native target by name."""
    data = tomllib.loads((templates_dir() / "native" / "targets.toml").read_text(encoding="utf-8"))
    return {name: NativeTarget(name, t["build_system"], MappingProxyType(dict(t["render"])),
                               MappingProxyType(dict(t["copy"])), MappingProxyType(dict(t["artifacts"])),
                               t.get("linker_script"))
            for name, t in data.items()}


def supported_boards() -> list[str]:
    """Names of the catalog boards the native backend builds firmware for."""
    return [b.name for b in list_boards() if b.native_target]


def target_for(board: Board) -> NativeTarget:
    """The board's native target; a board without one is a UserError naming those that have one."""
    if not board.native_target:
        raise UserError(f"the native backend cannot build firmware for {board.name} ({board.core}, built with "
                        f"{board.default_build_system}); it targets {', '.join(supported_boards())}: use --backend "
                        "tflm for this board")
    return targets()[board.native_target]


__all__ = ["NativeTarget", "supported_boards", "target_for", "targets"]
