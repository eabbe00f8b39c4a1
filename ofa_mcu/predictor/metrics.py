"""Predictor quality metrics, in accuracy points: MAE, RMSE, Kendall tau, Spearman (overall and
within each resolution, since a search compares candidates mostly at one resolution)."""
from __future__ import annotations

import numpy as np


def _finite_or_none(x: float) -> float | None:
    # JSON has no NaN: an undefined correlation (fewer than 2 points, constant input) is null
    return float(x) if np.isfinite(x) else None


def _kendall(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import kendalltau

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return _finite_or_none(kendalltau(a, b).statistic)


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return _finite_or_none(spearmanr(a, b).statistic)


def _mean_defined(values) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def regression_metrics(pred: np.ndarray, true: np.ndarray, resolution: np.ndarray) -> dict:
    """All metrics of predictions ``pred`` against measured ``true`` (both in points).

    Keys: ``n``, ``mae``, ``rmse``, ``bias``, ``kendall_tau``, ``spearman``,
    ``kendall_tau_by_resolution`` and ``spearman_by_resolution`` (dicts keyed by the resolution
    as a string, JSON-friendly), ``n_by_resolution``, ``mean_kendall_tau_within_resolution`` and
    ``mean_spearman_within_resolution`` (unweighted means over resolutions). A correlation that
    is undefined (fewer than two points, or constant values) is ``None``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    resolution = np.asarray(resolution)
    err = pred - true
    tau_r, rho_r, n_r = {}, {}, {}
    for r in np.unique(resolution):
        m = resolution == r
        tau_r[str(int(r))] = _kendall(pred[m], true[m])
        rho_r[str(int(r))] = _spearman(pred[m], true[m])
        n_r[str(int(r))] = int(m.sum())
    return {
        "n": int(len(true)),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "bias": float(err.mean()),
        "kendall_tau": _kendall(pred, true),
        "spearman": _spearman(pred, true),
        "kendall_tau_by_resolution": tau_r,
        "spearman_by_resolution": rho_r,
        "n_by_resolution": n_r,
        "mean_kendall_tau_within_resolution": _mean_defined(tau_r.values()),
        "mean_spearman_within_resolution": _mean_defined(rho_r.values()),
    }
