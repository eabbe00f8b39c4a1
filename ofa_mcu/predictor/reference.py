"""A predictor scored against reference labels: its held-out subnets re-measured with less noise.

A shipped label (one calibration sample, 10,000 holdout images) carries enough noise to cap the
within-resolution tau any predictor can show (:mod:`.ceiling`). ``scripts/reference_labels.py``
re-measures the subnets a predictor held out of its fit on more images under two calibration
samples; each row holds one subnet's ``arch``, its shipped ``label``, its top-1 under calibration
``a`` and ``b`` on all the images (``acc_a``, ``acc_b``), which images ``a`` got right
(``correct_a``, ``n_images``) and the ``reference`` label, the mean of ``acc_a`` and ``acc_b``.
"""
from __future__ import annotations

import numpy as np

from .ceiling import disattenuated_tau, row_noise_sd, tau_ceiling_by_resolution
from .metrics import regression_metrics

_KEEP = ("n", "mae", "bias", "kendall_tau", "kendall_tau_by_resolution", "mean_kendall_tau_within_resolution")


def reference_noise_sd(rows: list[dict], images: slice = slice(None), acc: tuple[str, str] = ("acc_a", "acc_b")
                       ) -> tuple[float, float, float]:
    """``(eval, calibration, total)`` error (sd of a difference, points) of labels that average the
    two calibrations' accuracies ``acc`` measured on the part ``images`` of the rows' images: the
    eval sample's from which of those images calibration ``a`` got right, one calibration sample's
    from the two accuracies' difference, halved in variance by the average
    (:func:`.ceiling.row_noise_sd`)."""
    ev, cal = row_noise_sd(rows, images, acc)
    return ev, cal, float(np.hypot(ev, cal / np.sqrt(2.0)))


def reference_summary(rows: list[dict], predicted: np.ndarray, shipped_noise_sd: float,
                      n_holdout: int | None = None) -> dict:
    """The metrics of ``predicted`` (one value per row, points) against the rows' shipped labels,
    their reference labels and, when the rows hold them (``acc_a_test``, ``acc_b_test``, with
    ``correct_a`` covering ``n_holdout`` holdout images first), their test-images-only labels;
    the tau ceiling of each kind of label (the shipped ones' noise is ``shipped_noise_sd``, the sd
    of a difference that ``scripts/label_noise.py`` measured); and from each an estimate of the
    predictor's mean within-resolution tau against the true accuracies
    (:func:`.ceiling.disattenuated_tau`, per resolution, then averaged). The test-only estimate
    is the one whose labels share no image with the predictor's training labels."""
    y = np.asarray(predicted, dtype=float)
    res = np.array([r["arch"]["image_size"] for r in rows])
    shipped = np.array([r["label"] for r in rows], dtype=float)
    reference = np.array([r["reference"] for r in rows], dtype=float)
    ev, cal, total = reference_noise_sd(rows)

    def scored(labels: np.ndarray) -> dict:
        return {k: v for k, v in regression_metrics(y, labels, res).items() if k in _KEEP}

    ceilings = {"shipped": tau_ceiling_by_resolution(shipped, res, shipped_noise_sd),
                "reference": tau_ceiling_by_resolution(reference, res, total)}
    metrics = {"shipped": scored(shipped), "reference": scored(reference)}
    with_test = n_holdout is not None and all("acc_a_test" in r for r in rows)
    if with_test:
        test = np.array([(r["acc_a_test"] + r["acc_b_test"]) / 2.0 for r in rows])
        test_noise = reference_noise_sd(rows, slice(n_holdout, None), ("acc_a_test", "acc_b_test"))[2]
        ceilings["test"] = tau_ceiling_by_resolution(test, res, test_noise)
        metrics["test"] = scored(test)

    def truth_estimate(kind: str) -> float:
        taus, ceiling = metrics[kind]["kendall_tau_by_resolution"], ceilings[kind]
        return float(np.mean([disattenuated_tau(taus[r], ceiling[r]) for r in taus]))

    out = {
        "subnets": len(rows), "eval_images": int(rows[0]["n_images"]),
        "eval_noise_sd_of_difference": ev, "calibration_noise_sd_of_difference_one_sample": cal,
        "reference_noise_sd_of_difference": total, "shipped_noise_sd_of_difference": float(shipped_noise_sd),
        "shipped_tau_ceiling": ceilings["shipped"], "reference_tau_ceiling": ceilings["reference"],
        "predictor_vs_shipped_labels": metrics["shipped"],
        "predictor_vs_reference_labels": metrics["reference"],
        "predictor_vs_truth_estimated_from_shipped_labels": truth_estimate("shipped"),
        "predictor_vs_truth_estimated_from_reference_labels": truth_estimate("reference"),
    }
    if with_test:
        out.update({"test_noise_sd_of_difference": test_noise, "test_tau_ceiling": ceilings["test"],
                    "predictor_vs_test_labels": metrics["test"],
                    "predictor_vs_truth_estimated_from_test_labels": truth_estimate("test")})
    return out
