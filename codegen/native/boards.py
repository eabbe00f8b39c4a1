"""The board facts the native backend needs (name, QEMU machine, compiler flags, cycles per
instruction, memory regions), from the boards catalog (``ofa_mcu.boards``), a ``Board`` or a plain
mapping."""
from __future__ import annotations

from typing import Any, Mapping

from ofa_mcu.errors import UserError

# QEMU machine -> catalog board, for callers that name the machine.
MACHINE_BOARDS = {"mps2-an386": "qemu-mps2-an386", "mps2-an500": "qemu-mps2-an500"}


def resolve_board(board: Any) -> dict:
    """``{"name", "qemu_machine", "cpu_flags", "cycles_per_instruction", "core", "memory", "mcu",
    "clock_hz", "catalog"}`` for a catalog name (or a QEMU machine name), a ``Board`` object or a
    mapping (``catalog``: the name is a catalog board, so ``ofa-mcu flash`` can load it)."""
    if isinstance(board, str):
        from ofa_mcu.boards import load_board

        board = load_board(MACHINE_BOARDS.get(board, board))
    if isinstance(board, Mapping):
        get = board.get
    else:
        def get(k, default=None):
            return getattr(board, k, default)
    name = get("name")
    flags = get("cpu_flags")
    if not name or not flags:
        raise UserError("the board needs a name and cpu_flags; pass a catalog board name (ofa-mcu boards lists them)")
    core = get("core", "") or ""
    mem = get("memory")
    if mem is not None and not isinstance(mem, Mapping):
        mem = {k: getattr(mem, k) for k in ("flash_origin", "flash_length", "ram_origin", "ram_length")}
    from ofa_mcu.boards import board_names

    return {"name": str(name), "qemu_machine": get("qemu_machine"), "cpu_flags": [str(f) for f in flags],
            "cycles_per_instruction": float(get("cycles_per_instruction", 1.0) or 1.0), "core": str(core),
            "memory": dict(mem) if mem else None, "mcu": str(get("mcu", name) or name),
            "clock_hz": get("clock_hz"), "catalog": str(name) in board_names()}
