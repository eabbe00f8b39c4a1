"""Efficiency of subnets from the arch dict alone: analytic arithmetic and calibrated models."""
from .analytic import AnalyticEfficiency, lab_peak_bytes, table_macs, table_params
from .base import EfficiencyModel, get_efficiency_model, register_efficiency_model

__all__ = ["AnalyticEfficiency", "EfficiencyModel", "get_efficiency_model", "register_efficiency_model",
           "lab_peak_bytes", "table_macs", "table_params"]
