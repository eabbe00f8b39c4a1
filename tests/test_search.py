"""Search: feasibility, determinism, the infeasible-budget error, and the CLI contract."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ofa_mcu.efficiency import get_efficiency_model
from ofa_mcu.errors import UserError
from ofa_mcu.predictor import load_predictor
from ofa_mcu.search import Constraints, EvolutionParams, evolution_search, pareto_front, random_search
from ofa_mcu.search.sampler import sample_feasible
from ofa_mcu.space import validate_arch

LAB_BUDGET = Constraints({"macs": 50e6, "sram_bytes": 256 * 1024})
SMALL = EvolutionParams(population=40, generations=30)


@pytest.fixture(scope="module")
def predictor():
    return load_predictor("vww")


@pytest.fixture(scope="module")
def analytic():
    return get_efficiency_model("analytic")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ofa_mcu", *args], capture_output=True, text=True, timeout=300)


def test_feasible_sampling_meets_a_tight_budget_and_ends(analytic):
    # 75 KB is just above the smallest possible peak (72 KB): almost no uniform sample fits
    tight = Constraints({"sram_bytes": 75 * 1024})
    batch, metrics = sample_feasible(np.random.default_rng(0), 200, analytic, tight)
    assert len(batch) == 200 and (metrics["sram_bytes"] <= 75 * 1024).all()
    recomputed = analytic.evaluate_batch(batch)
    assert (recomputed["sram_bytes"] == metrics["sram_bytes"]).all()


def test_evolution_respects_budget_beats_random_and_is_deterministic(predictor, analytic):
    a = evolution_search(predictor, analytic, LAB_BUDGET, params=SMALL, seed=3)
    b = evolution_search(predictor, analytic, LAB_BUDGET, params=SMALL, seed=3)
    c = evolution_search(predictor, analytic, LAB_BUDGET, params=SMALL, seed=4)
    assert a.best_arch == b.best_arch and a.best_accuracy == b.best_accuracy
    assert a.best_arch != c.best_arch
    validate_arch(a.best_arch)
    m = analytic.evaluate(a.best_arch)
    assert m["macs"] <= 50e6 and m["sram_bytes"] <= 256 * 1024 and m == a.best_metrics
    assert a.best_accuracy == pytest.approx(predictor.predict(a.best_arch))
    assert (LAB_BUDGET.feasible(a.candidate_metrics)).all()  # every candidate ever made fits
    assert all(x <= y for x, y in zip(a.history, a.history[1:]))
    r = random_search(predictor, analytic, LAB_BUDGET, samples=a.evaluated // 4, seed=3)
    assert a.best_accuracy >= r.best_accuracy


def test_infeasible_budget_errors_at_once_with_the_smallest_figure(predictor, analytic):
    with pytest.raises(UserError) as exc:
        evolution_search(predictor, analytic, Constraints({"sram_bytes": 50 * 1024}), params=SMALL)
    assert "smallest possible is 72.0 KB" in str(exc.value)
    r = _cli("search", "--space", "vww", "--max-macs", "1000000", "--json")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "smallest possible is 7,237,104 MACs" in r.stderr


def test_pareto_front():
    acc = np.array([1.0, 2.0, 1.5, 3.0, 2.5])
    cost = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert pareto_front(acc, cost).tolist() == [0, 1, 3]


def test_cli_json_contract_and_outputs(tmp_path):
    out = tmp_path / "s"
    r = _cli("search", "--space", "vww", "--strategy", "evolution", "--population", "30", "--generations", "20", "--max-macs",
             "30000000", "--max-sram-kb", "200", "--seed", "1", "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    validate_arch(res["arch"])
    assert res["efficiency"]["macs"] <= 30e6 and res["efficiency"]["sram_bytes"] <= 200 * 1024
    assert 80 < res["predicted_accuracy"] < 100
    assert json.loads((out / "best_arch.json").read_text()) == res["arch"]
    assert (out / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = _cli("search", "--space", "vww", "--population", "30", "--generations", "20", "--max-macs", "30000000",
                 "--max-sram-kb", "200", "--seed", "1", "--json")
    assert json.loads(again.stdout)["arch"] == res["arch"]
    r = _cli("search", "--space", "vww", "--strategy", "random", "--samples", "200", "--max-params", "600000", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["efficiency"]["params"] <= 600000


def test_limits_are_checked_and_record_where_they_came_from():
    from ofa_mcu.boards import load_board
    from ofa_mcu.config import FASHION_MNIST
    from ofa_mcu.search.budget import budget_limits
    from ofa_mcu.search.strategies import EvolutionParams

    board = load_board("stm32f746g-disco")
    c = budget_limits(board=board, cfg=FASHION_MNIST, max_flash_kb=10_000, max_macs=5e6)
    assert c.sources == {"macs": "--max-macs 5,000,000", "flash_bytes": "board stm32f746g-disco",
                         "sram_bytes": "board stm32f746g-disco"}  # the board's flash is tighter
    assert budget_limits(board=board, cfg=FASHION_MNIST, max_flash_kb=100.5).sources["flash_bytes"] == \
        "--max-flash-kb 100.5"
    for bad in (float("nan"), float("inf"), 0, -3):
        with pytest.raises(UserError, match="--max-sram-kb must be a finite number > 0"):
            budget_limits(max_sram_kb=bad)
    for field, value in (("mutation_prob", 2), ("parent_ratio", 0), ("population", 1), ("generations", 0),
                         ("resolution_mutation_prob", float("nan"))):
        with pytest.raises(UserError, match=f"--{field.replace('_', '-')} must be"):
            EvolutionParams(**{field: value})
