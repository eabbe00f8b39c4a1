"""Efficiency of subnets from the arch dict alone: analytic arithmetic and calibrated models."""
from .analytic import AnalyticEfficiency, lab_peak_bytes, table_macs, table_params
from .base import EfficiencyModel, get_efficiency_model, register_efficiency_model
from .tflm_model import TFLMEfficiency  # noqa: F401 - registers "tflm"

__all__ = ["AnalyticEfficiency", "TFLMEfficiency", "EfficiencyModel", "get_efficiency_model", "register_efficiency_model",
           "lab_peak_bytes", "table_macs", "table_params"]
