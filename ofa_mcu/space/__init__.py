"""The OFA-MCUNet search space: arch dicts, the per-layer table, batches and encodings."""
from .arch import (
    active_slots,
    arch_key,
    canonical,
    crossover,
    largest_arch,
    mutate,
    sample_arch,
    smallest_arch,
    validate_arch,
)
from .table import ArchTable, BlockSpec, ConvSpec, build_table

__all__ = [
    "active_slots", "arch_key", "canonical", "crossover", "largest_arch", "mutate",
    "sample_arch", "smallest_arch", "validate_arch", "ArchTable", "BlockSpec", "ConvSpec",
    "build_table",
]
