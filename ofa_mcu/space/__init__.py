"""The OFA-MCUNet search space: arch dicts, the per-layer table, batches and encodings."""
# The space every command uses unless told otherwise: the one whose trained supernet, pairs
# and predictor ship in the package (ofa_mcu/assets).
DEFAULT_SPACE = "fashion_mnist"

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
    "DEFAULT_SPACE",
    "active_slots", "arch_key", "canonical", "crossover", "largest_arch", "mutate",
    "sample_arch", "smallest_arch", "validate_arch", "ArchTable", "BlockSpec", "ConvSpec",
    "build_table",
]
