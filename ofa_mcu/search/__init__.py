"""Search under efficiency budgets: feasible sampling, random and evolutionary strategies."""
from .constraints import Constraints, check_satisfiable, smallest_metrics
from .result import SearchResult, pareto_front
from .strategies import STRATEGIES, EvolutionParams, evolution_search, get_strategy, random_search

__all__ = ["Constraints", "check_satisfiable", "smallest_metrics", "SearchResult", "pareto_front", "STRATEGIES",
           "EvolutionParams", "evolution_search", "get_strategy", "random_search"]
