"""``OFAMCUNet``: the Once-for-All supernet over the OFA-MCUNet search space.

With the VWW config its ``state_dict`` equals the lab's (``state_dict_manifest.json``: keys,
order, shapes, dtypes), so the lab's ``vww_supernet.pth`` loads with ``strict=True``.
``set_active(arch)`` selects a subnet; ``forward`` then runs it at whatever resolution the
input has (elastic resolution is the caller's choice of input size per batch).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..config import VWW, SpaceConfig, make_divisible
from ..space.arch import largest_arch, validate_arch
from ..space.table import ArchTable, build_table
from .elastic_layers import DynamicConvBN, DynamicLinearLayer, DynamicMBBlock, DynamicMBConvLayer
from .init import init_model
from .ops import global_avg_pool
from .static_layers import StaticSubnet


def _max_widths(cfg: SpaceConfig) -> dict:
    """Per-position maximum channel count over every width of the space."""
    all_w = [cfg.widths(i) for i in range(len(cfg.width_mult_list))]
    return {
        "first": max(w["first"] for w in all_w),
        "block0": max(w["block0"] for w in all_w),
        "stages": tuple(max(w["stages"][s] for w in all_w) for s in range(cfg.n_stages)),
        "feature_mix": max(w["feature_mix"] for w in all_w),
    }


class OFAMCUNet(nn.Module):
    """The supernet. Public API: ``set_active``, ``set_max``, ``active_arch``,
    ``active_table``, ``sort_channels``, ``extract``; ``forward(x)`` runs the active subnet."""

    def __init__(self, cfg: SpaceConfig = VWW):
        """The supernet for ``cfg`` (OFA ``he_fout`` init, identity kernel matrices, largest
        subnet active)."""
        super().__init__()
        self.cfg = cfg
        eps, mom = cfg.bn_eps, cfg.bn_momentum
        mw = _max_widths(cfg)
        self.first_conv = DynamicConvBN(cfg.in_channels, mw["first"], 3, cfg.first_stride, "relu6", eps, mom)
        blocks = [DynamicMBBlock(DynamicMBConvLayer(mw["first"], 0, mw["block0"], cfg.ks_list, 1, 0,
                                                    cfg.se_reduce_act, eps, mom, fused=True), residual=False)]
        in_ch = mw["block0"]
        slot_se = cfg.slot_se
        for slot, (stage, pos) in enumerate(zip(cfg.slot_stage, cfg.slot_index_in_stage)):
            out_ch = mw["stages"][stage]
            stride = cfg.stage_strides[stage] if pos == 0 else 1
            mid = make_divisible(round(in_ch * max(cfg.expand_ratio_list)), 8)
            se_mid = in_ch // 4 if slot_se[slot] else 0
            layer = DynamicMBConvLayer(in_ch, mid, out_ch, cfg.ks_list, stride, se_mid, cfg.se_reduce_act, eps, mom)
            blocks.append(DynamicMBBlock(layer, residual=stride == 1 and in_ch == out_ch))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.feature_mix_layer = DynamicConvBN(in_ch, mw["feature_mix"], 1, 1, "relu6", eps, mom)
        self.classifier = DynamicLinearLayer(mw["feature_mix"], cfg.n_classes)
        self._table: ArchTable | None = None
        init_model(self)
        self.set_max()

    # ---- the active subnet ---------------------------------------------------------------
    def set_active(self, arch: Mapping) -> None:
        """Select the subnet ``arch`` (validated against the config; UserError if invalid)."""
        self._table = build_table(validate_arch(arch, self.cfg), self.cfg, validate=False)

    def set_max(self) -> None:
        """Select the largest subnet (widest width, largest kernels and expands, deepest)."""
        self.set_active(largest_arch(self.cfg))

    @property
    def active_arch(self) -> dict:
        """A copy of the active arch dict."""
        a = self._table.arch
        return {"wid": a["wid"], "ks": list(a["ks"]), "e": list(a["e"]), "d": list(a["d"]),
                "image_size": a["image_size"]}

    @property
    def active_table(self) -> ArchTable:
        """The per-layer table of the active subnet (shapes at its ``image_size``)."""
        return self._table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the active subnet for ``x (N, in_channels, H, W)``, any H and W."""
        t = self._table
        x = self.first_conv(x, t.first_conv.out_ch)
        for spec in t.blocks:
            x = self.blocks[spec.supernet_index](x, spec)
        x = self.feature_mix_layer(x, t.feature_mix.out_ch)
        return self.classifier(global_avg_pool(x))

    # ---- extraction and sorting ----------------------------------------------------------
    def active_state(self, table: ArchTable) -> dict[str, torch.Tensor]:
        """The weights of subnet ``table`` under :class:`StaticSubnet`'s key names (views)."""
        state = {f"first_conv.{k}": v for k, v in
                 self.first_conv.active_state(table.first_conv.in_ch, table.first_conv.out_ch).items()}
        for i, spec in enumerate(table.blocks):
            for k, v in self.blocks[spec.supernet_index].active_state(spec).items():
                state[f"blocks.{i}.{k}"] = v
        fm = table.feature_mix
        state.update({f"feature_mix_layer.{k}": v for k, v in self.feature_mix_layer.active_state(fm.in_ch, fm.out_ch).items()})
        state.update({f"classifier.{k}": v for k, v in self.classifier.active_state(table.classifier.in_ch).items()})
        return state

    def extract(self, arch: Mapping | None = None) -> StaticSubnet:
        """A plain ``nn.Module`` with copies of the weights of ``arch`` (default: the active
        subnet). It computes what the supernet computes with that arch active, in train and
        eval mode alike, and its ``training`` flag follows the supernet's."""
        table = self._table if arch is None else build_table(validate_arch(arch, self.cfg), self.cfg, validate=False)
        with torch.device("meta"):  # no storage, no init: the weights are assigned below
            sub = StaticSubnet(table)
        with torch.no_grad():
            state = {k: v.detach().clone(memory_format=torch.contiguous_format)
                     for k, v in self.active_state(table).items()}
        sub.load_state_dict(state, strict=True, assign=True)
        sub.train(self.training)
        return sub

    def sort_channels(self) -> None:
        """Importance sorting of every elastic channel dimension, in place (see
        :mod:`ofa_mcu.nn.sorting`); the largest network computes the same function after it."""
        from .sorting import sort_channels

        sort_channels(self)
