"""Accuracy predictors: a numpy MLP on an arch encoding, trained with torch on measured pairs.

``load_predictor("vww")`` gives the shipped VWW predictor; ``load_predictor(path)`` one written
by ``ofa-mcu predictor fit``. Training lives in :mod:`.train` (imports torch lazily).
"""
from .model import AccuracyPredictor, load_predictor, shipped_predictors
from .pairs import Pairs, load_pairs, split_indices
from .recipes import RECIPES, Recipe, get_recipe

__all__ = ["AccuracyPredictor", "load_predictor", "shipped_predictors", "Pairs", "load_pairs",
           "split_indices", "RECIPES", "Recipe", "get_recipe"]
