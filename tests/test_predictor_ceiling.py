"""The label-noise ceiling of a predictor's Kendall tau, pinned to hand arithmetic and to simulation."""
import numpy as np
import pytest
from scipy.stats import kendalltau

from ofa_mcu.errors import UserError
from ofa_mcu.predictor.ceiling import (calibration_noise_sd, disattenuated_tau, eval_noise_sd, pack_correct,
                                       row_noise_sd, tau_ceiling, tau_ceiling_by_resolution)


def test_eval_noise_hand_arithmetic():
    c = np.array([[1, 1, 0, 1], [1, 0, 0, 1]], dtype=bool)
    # disagree 1/4, diff 1/4: (0.25 - 0.0625) / 3
    assert eval_noise_sd(c) == pytest.approx(100 * np.sqrt((0.25 - 0.0625) / 3))


def test_eval_noise_predicts_the_spread_of_resampled_differences():
    rng = np.random.default_rng(0)
    population = 200_000
    base = rng.random(population) < 0.9                      # shared difficulty: subnets agree mostly
    flip = [rng.random(population) < p for p in (0.04, 0.05, 0.06)]
    subnets = np.stack([base ^ f for f in flip])
    n = 2000
    diffs = []
    for _ in range(400):
        idx = rng.integers(0, population, n)
        acc = 100 * subnets[:, idx].mean(axis=1)
        diffs.append([acc[0] - acc[1], acc[0] - acc[2], acc[1] - acc[2]])
    resampled = np.sqrt(np.mean(np.var(np.array(diffs), axis=0)))  # per pair, then pooled
    predicted = eval_noise_sd(subnets[:, rng.integers(0, population, n)])
    assert predicted == pytest.approx(resampled, rel=0.1)


def test_eval_noise_groups_compare_only_within_a_group():
    c = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 1], [0, 0, 0, 0, 1, 1]], dtype=bool)
    only_first_two = eval_noise_sd(c[:2])
    assert eval_noise_sd(c, groups=[32, 32, 48]) == pytest.approx(only_first_two)
    assert eval_noise_sd(c) > only_first_two               # the odd one out disagrees everywhere
    with pytest.raises(UserError, match="two subnets in one group"):
        eval_noise_sd(c, groups=[32, 40, 48])
    with pytest.raises(UserError, match="at least 2 subnets"):
        eval_noise_sd(c[:1])


def test_calibration_noise_is_the_spread_of_repeat_differences():
    a, b = np.array([90.0, 91.0, 92.0]), np.array([90.1, 90.8, 92.0])
    assert calibration_noise_sd(a, b) == pytest.approx(np.std([-0.1, 0.2, 0.0], ddof=1))
    with pytest.raises(UserError, match="equal-length"):
        calibration_noise_sd(a, b[:2])


def test_tau_ceiling_limits():
    acc = np.array([89.0, 90.0, 91.0, 92.0])
    assert tau_ceiling(acc, 0.0) == pytest.approx(1.0)
    assert tau_ceiling(acc, 10.0) == 0.0
    assert tau_ceiling(acc, 0.3) > tau_ceiling(acc, 0.6)
    with pytest.raises(UserError, match="at least 2"):
        tau_ceiling(acc[:1], 0.1)


def test_tau_ceiling_matches_simulated_perfect_predictor():
    rng = np.random.default_rng(1)
    noise_diff = 0.22
    taus, ceilings = [], []
    for _ in range(300):
        truth = rng.normal(91.0, 0.37, 200)
        labels = truth + rng.normal(0.0, noise_diff / np.sqrt(2), truth.size)
        taus.append(kendalltau(truth, labels).statistic)
        ceilings.append(tau_ceiling(labels, noise_diff))
    assert np.mean(ceilings) == pytest.approx(np.mean(taus), abs=0.01)


def test_tau_ceiling_by_resolution_means_the_resolutions():
    acc = np.array([89.0, 90.0, 91.0, 90.0, 90.2, 90.4])
    res = np.array([32, 32, 32, 48, 48, 48])
    out = tau_ceiling_by_resolution(acc, res, 0.2)
    assert set(out) == {"32", "48", "mean"}
    assert out["32"] > out["48"]                            # wider spread, same noise
    assert out["mean"] == pytest.approx((out["32"] + out["48"]) / 2)


def test_packed_rows_give_the_noise_of_their_outcomes():
    """Label-noise rows keep each subnet's outcomes as packed bits; unpacking ignores the padding
    of an image count that is no multiple of 8 and returns what the outcomes themselves give."""
    rng = np.random.default_rng(3)
    n = 1003
    truth = rng.random(n) < 0.9
    correct = np.array([np.where(rng.random(n) < 0.05, ~truth, truth) for _ in range(4)])
    res = [32, 32, 48, 48]
    acc_a, acc_b = [90.1, 90.4, 91.0, 91.3], [90.2, 90.1, 91.1, 91.4]
    rows = [{"arch": {"image_size": r}, "n_images": n, "correct_a": pack_correct(c), "acc_a": a, "acc_b": b}
            for r, c, a, b in zip(res, correct, acc_a, acc_b)]
    ev, cal = row_noise_sd(rows)
    assert ev == pytest.approx(eval_noise_sd(correct, groups=res), rel=1e-12)
    assert cal == pytest.approx(calibration_noise_sd(acc_a, acc_b), rel=1e-12)


def test_disattenuated_tau_recovers_the_tau_against_the_truth():
    """Simulated: a predictor with its own error, labels with theirs; correcting its tau against
    the labels by their ceiling gives its tau against the true values."""
    rng = np.random.default_rng(1)
    truth = rng.normal(92.0, 0.35, 20_000)
    pred = truth + rng.normal(0.0, 0.08, truth.size)
    labels = truth + rng.normal(0.0, 0.2 / np.sqrt(2.0), truth.size)  # sd of a difference 0.2
    observed = kendalltau(pred, labels).statistic
    ceiling = tau_ceiling(labels, 0.2)
    assert observed < ceiling
    assert disattenuated_tau(observed, ceiling) == pytest.approx(kendalltau(pred, truth).statistic, abs=0.01)
    assert disattenuated_tau(ceiling, ceiling) == pytest.approx(1.0)
    assert disattenuated_tau(0.9, 0.8) == 1.0              # chance above the ceiling is capped
    with pytest.raises(UserError, match="in \\(0, 1\\]"):
        disattenuated_tau(0.5, 0.0)
