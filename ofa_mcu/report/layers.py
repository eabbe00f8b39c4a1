"""The ``model`` fields of a results dict from the per-layer table of an arch."""
from __future__ import annotations

from typing import Mapping

from ..config import SpaceConfig
from ..space.table import ArchTable, build_table


def layers_from_table(table: ArchTable) -> list[dict]:
    """``model.layers``: one JSON row per conv/linear of ``table`` in forward order, with the
    block's residual flag on the rows of blocks that add their input."""
    rows = []
    for conv in table.convs:
        row = {"block": conv.block, "role": conv.role, "kind": conv.kind, "in_ch": conv.in_ch, "out_ch": conv.out_ch,
               "kernel": conv.kernel, "stride": conv.stride, "groups": conv.groups, "in_hw": conv.in_hw,
               "out_hw": conv.out_hw, "act": conv.act, "macs": conv.macs, "params": conv.params}
        if conv.block >= 0:
            row["residual"] = table.blocks[conv.block].residual
        rows.append(row)
    return rows


def model_fields(arch: Mapping, cfg: SpaceConfig) -> dict:
    """``{"space", "arch", "layers", "macs", "params"}`` of ``arch`` (validated) for ``results["model"]``."""
    table = build_table(arch, cfg)
    layers = layers_from_table(table)
    return {"space": cfg.name, "arch": dict(table.arch), "layers": layers,
            "macs": sum(r["macs"] for r in layers), "params": sum(r["params"] for r in layers)}
