"""How well any predictor can rank measured subnets: the label-noise ceiling of Kendall tau.

A measured accuracy is the subnet's accuracy on one finite image sample after BN statistics
estimated on one finite calibration sample. Two subnets' measured difference therefore carries
two errors: the eval sample's (which images each gets right; it shrinks with more images) and the
calibration's (it shrinks with more calibration images). A predictor that knew every subnet's
true accuracy would still disagree with the labels on the pairs those errors flip. For
Gaussian true values and errors, the expected tau between the truth and the labels is
``(2 / pi) * asin(rho)`` with ``rho = sd_true / sd_measured`` (Greiner's relation). All in
accuracy points; pure numpy.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ..errors import UserError


def eval_noise_sd(correct: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Sampling error (sd, points) of the difference of two subnets' accuracies on the same images.

    ``correct`` is ``(k, n)`` boolean: subnet ``i`` classified image ``j`` correctly. For one pair
    the variance of the mean difference of ``n`` paired outcomes is ``(disagree - diff^2) / (n - 1)``;
    the result is the root of its mean over the pairs of the ``k`` subnets, only pairs in the same
    group when ``groups`` (``(k,)``, e.g. the resolution) is given: subnets at one resolution
    disagree on fewer images than subnets at two.
    """
    c = np.asarray(correct, dtype=bool)
    if c.ndim != 2 or c.shape[0] < 2 or c.shape[1] < 2:
        raise UserError(f"eval noise needs at least 2 subnets x 2 images of outcomes, got shape {c.shape}")
    g = np.zeros(c.shape[0]) if groups is None else np.asarray(groups)
    n = c.shape[1]
    var = []
    for i, j in itertools.combinations(range(c.shape[0]), 2):
        if g[i] != g[j]:
            continue
        disagree = float(np.mean(c[i] != c[j]))
        diff = float(c[i].mean() - c[j].mean())
        var.append((disagree - diff * diff) / (n - 1))
    if not var:
        raise UserError("eval noise needs two subnets in one group; measure more subnets per resolution")
    return 100.0 * math.sqrt(max(float(np.mean(var)), 0.0))


def calibration_noise_sd(acc_a: np.ndarray, acc_b: np.ndarray) -> float:
    """Calibration error (sd, points) of the difference of two subnets' accuracies, from each
    subnet measured twice with disjoint calibration samples (``acc_a``, ``acc_b``): the
    difference of two subnets' errors has the variance of one subnet's ``a - b``."""
    a, b = np.asarray(acc_a, dtype=float), np.asarray(acc_b, dtype=float)
    if a.shape != b.shape or a.size < 2:
        raise UserError(f"calibration noise needs two equal-length lists of at least 2 accuracies, "
                        f"got {a.size} and {b.size}")
    return float(np.std(a - b, ddof=1))


def tau_ceiling(acc: np.ndarray, noise_diff_sd: float) -> float:
    """Expected Kendall tau between true accuracies and these measured ones ``acc`` (points, one
    resolution), when a measured difference of two subnets has error sd ``noise_diff_sd``.

    The measured spread is the true one plus the noise (per subnet: ``noise_diff_sd / sqrt 2``);
    a spread no wider than the noise gives 0."""
    a = np.asarray(acc, dtype=float)
    if a.size < 2:
        raise UserError(f"a tau ceiling needs at least 2 measured accuracies, got {a.size}")
    var = float(np.var(a))
    noise_var = noise_diff_sd ** 2 / 2.0
    if var <= noise_var:
        return 0.0
    rho = math.sqrt(1.0 - noise_var / var)
    return 2.0 / math.pi * math.asin(rho)


def disattenuated_tau(tau_observed: float, tau_ceiling_of_labels: float) -> float:
    """Estimated Kendall tau between a predictor and the *true* accuracies, from its tau against
    noisy labels and those labels' ceiling (Spearman's correction for attenuation on the
    Gaussian scale): correlations multiply along truth -> labels, so
    ``rho(pred, truth) = rho(pred, labels) / rho(truth, labels)``, each ``rho = sin(pi/2 * tau)``.
    Capped at 1; an estimate, as uncertain as both inputs."""
    if not 0.0 < tau_ceiling_of_labels <= 1.0:
        raise UserError(f"a tau ceiling must lie in (0, 1], got {tau_ceiling_of_labels}")
    rho = math.sin(math.pi / 2.0 * tau_observed) / math.sin(math.pi / 2.0 * tau_ceiling_of_labels)
    return 2.0 / math.pi * math.asin(max(-1.0, min(1.0, rho)))


def tau_ceiling_by_resolution(acc: np.ndarray, resolution: np.ndarray, noise_diff_sd: float) -> dict:
    """:func:`tau_ceiling` per resolution (keys: the resolution as a string) and their unweighted
    mean (key ``"mean"``), the figure to set beside a predictor's mean within-resolution tau."""
    acc, resolution = np.asarray(acc, dtype=float), np.asarray(resolution)
    out = {str(int(r)): tau_ceiling(acc[resolution == r], noise_diff_sd) for r in np.unique(resolution)}
    out["mean"] = float(np.mean(list(out.values())))
    return out


def pack_correct(correct: np.ndarray) -> str:
    """One subnet's per-image outcomes (boolean ``[n]``) as the hex of their packed bits, the
    form a label-noise row keeps them in (``correct_a``)."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def row_noise_sd(rows: list[dict], images: slice = slice(None), acc: tuple[str, str] = ("acc_a", "acc_b")
                 ) -> tuple[float, float]:
    """Eval-sample and calibration error (sd of a difference, points) of label-noise rows: each
    row one subnet's ``arch``, ``n_images``, ``correct_a`` (:func:`pack_correct`) and its
    accuracies under two disjoint calibration samples (the keys ``acc``). ``images`` picks the
    part of the images those accuracies were measured on."""
    n = rows[0]["n_images"]
    correct = np.stack([np.unpackbits(np.frombuffer(bytes.fromhex(r["correct_a"]), np.uint8))[:n][images]
                        for r in rows])
    ev = eval_noise_sd(correct.astype(bool), np.array([r["arch"]["image_size"] for r in rows]))
    return ev, calibration_noise_sd([r[acc[0]] for r in rows], [r[acc[1]] for r in rows])
