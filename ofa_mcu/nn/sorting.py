"""Channel importance sorting of the supernet (OFA's ``re_organize_middle_weights``, plus
width sorting of every elastic stream).

Elastic width and expand ratio keep the *first* channels of each layer, so before shrinking,
channels are permuted to put the important ones first. Every permutation is applied to all
producers and consumers of the permuted channels, so it relabels channels without changing
any function of the network at full width: the largest subnet computes the same output (up to
float summation order) and only narrower subnets change.

What is sorted:

- **Middle (expanded) channels of each MBConv** (OFA): importance = L1 norm of the project
  conv's weights over each middle channel. Permuted consistently: expand conv output rows and
  its BN, depthwise weights and BN, SE reduce input columns, SE expand output rows and bias,
  project input columns. Then the **SE reduce channels**: importance = L1 of SE expand weights
  over each reduce channel; permuted: SE reduce rows and bias, SE expand input columns.
- **Width streams** (MCUNet's elastic width; a stream is a tensor whose channel count shrinks
  with ``wid``): the first conv's output, block 0's output, each stage's output and, when
  the space has a width multiplier above 1, the feature mix's output. A stage's output is
  written by the project conv (+BN) of *every* block in the stage (the residual adds carry
  the same channels through), and read by the expand conv of every block in the stage but
  the first, and by the next stage's first expand conv (or the feature mix, or the
  classifier). Importance = sum over all readers of the L1 norm of their weights over each
  channel. All writers' output rows + BN and all readers' input columns are permuted; the
  residual adds need nothing more, since both operands carry the same permutation.

Call it between training phases and build the optimizer afterwards (momentum buffers are
not permuted).
"""
from __future__ import annotations

import torch
from torch import nn

from .elastic_layers import DynamicBatchNorm2d, DynamicConvBN, DynamicMBConvLayer


def _permute_rows(t: torch.Tensor, idx: torch.Tensor) -> None:
    t.copy_(t.index_select(0, idx))


def _permute_cols(t: torch.Tensor, idx: torch.Tensor) -> None:
    t.copy_(t.index_select(1, idx))


def _permute_bn(bn: DynamicBatchNorm2d, idx: torch.Tensor) -> None:
    b = bn.bn
    for t in (b.weight, b.bias, b.running_mean, b.running_var):
        _permute_rows(t, idx)


def _l1_over(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """L1 norm of ``weight`` per index of ``dim`` (summed over every other dim)."""
    dims = tuple(d for d in range(weight.dim()) if d != dim)
    return weight.abs().sum(dim=dims)


def _order(importance: torch.Tensor) -> torch.Tensor:
    """Indices of the channels, most important first (stable for ties)."""
    return torch.sort(importance, descending=True, stable=True).indices


def sort_middle(layer: DynamicMBConvLayer) -> None:
    """OFA's middle-channel sort of one MBConv layer (and of its SE reduce channels)."""
    if layer.inverted_bottleneck is None:
        return
    idx = _order(_l1_over(layer.point_linear.conv.conv.weight, 1))
    _permute_cols(layer.point_linear.conv.conv.weight, idx)
    _permute_rows(layer.depth_conv.conv.conv.weight, idx)
    _permute_bn(layer.depth_conv.bn, idx)
    _permute_rows(layer.inverted_bottleneck.conv.conv.weight, idx)
    _permute_bn(layer.inverted_bottleneck.bn, idx)
    se = layer.depth_conv.se
    if se is not None:
        red, exp = se.fc.reduce, se.fc.expand
        _permute_cols(red.weight, idx)
        _permute_rows(exp.weight, idx)
        _permute_rows(exp.bias, idx)
        se_idx = _order(_l1_over(exp.weight, 1))
        _permute_cols(exp.weight, se_idx)
        _permute_rows(red.weight, se_idx)
        _permute_rows(red.bias, se_idx)


def sort_stream(writers: list[DynamicConvBN], readers: list[torch.Tensor]) -> torch.Tensor:
    """Sort one width stream: ``writers`` produce its channels (conv rows + BN), ``readers``
    are the weights consuming it (input channels on dim 1). Returns the permutation."""
    importance = sum(_l1_over(w, 1) for w in readers)
    idx = _order(importance)
    for m in writers:
        _permute_rows(m.conv.conv.weight, idx)
        _permute_bn(m.bn, idx)
    for w in readers:
        _permute_cols(w, idx)
    return idx


def width_streams(net) -> list[tuple[list[DynamicConvBN], list[torch.Tensor]]]:
    """The (writers, readers) of every elastic width stream of ``net``, in forward order."""
    cfg = net.cfg
    blocks = [b.mobile_inverted_conv for b in net.blocks]
    streams = [([net.first_conv], [blocks[0].point_linear.conv.conv.weight])]
    by_stage: list[list[int]] = [[] for _ in range(cfg.n_stages)]
    for slot, stage in enumerate(cfg.slot_stage):
        by_stage[stage].append(slot + 1)
    streams.append(([blocks[0].point_linear], [blocks[by_stage[0][0]].inverted_bottleneck.conv.conv.weight]))
    for s, members in enumerate(by_stage):
        writers = [blocks[j].point_linear for j in members]
        readers = [blocks[j].inverted_bottleneck.conv.conv.weight for j in members[1:]]
        if s + 1 < cfg.n_stages:
            readers.append(blocks[by_stage[s + 1][0]].inverted_bottleneck.conv.conv.weight)
        else:
            readers.append(net.feature_mix_layer.conv.conv.weight)
        streams.append((writers, readers))
    if len({cfg.widths(i)["feature_mix"] for i in range(len(cfg.width_mult_list))}) > 1:
        streams.append(([net.feature_mix_layer], [net.classifier.linear.linear.weight]))
    return streams


@torch.no_grad()
def sort_channels(net: nn.Module) -> None:
    """Width streams, then every MBConv's middle and SE channels (all in place)."""
    for writers, readers in width_streams(net):
        sort_stream(writers, readers)
    for block in net.blocks:
        sort_middle(block.mobile_inverted_conv)
