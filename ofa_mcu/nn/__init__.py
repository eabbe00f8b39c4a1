"""The torch side of the search space: the OFA-MCUNet supernet with its elastic operations,
static subnets (extraction, BN folding, ONNX export), checkpoint loading and hook counters."""
from .checkpoint import load_supernet_state, read_checkpoint
from .init import init_model, randomize_bn
from .resolution import resize_batch, sample_resolution
from .static_layers import StaticSubnet
from .supernet import OFAMCUNet

__all__ = ["OFAMCUNet", "StaticSubnet", "load_supernet_state", "read_checkpoint", "sample_resolution",
           "resize_batch", "init_model", "randomize_bn"]
