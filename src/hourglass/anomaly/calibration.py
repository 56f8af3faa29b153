"""Conformal p-values from the held-out rows' scores: what ``AnomalyDetector.p_values``, ``predict(alpha=...)``
and ``threshold(alpha)`` compute, on the sorted anomaly scores (``-score_samples``) that ``fit`` keeps.

A row's p-value is the share of held-out training rows that scored at least as anomalous,
``(1 + #{calibration >= s}) / (n + 1)``. The calibration rows are the ones the members held out for their early
stop (``validation_fraction``), kept out of the forest and the z-scores' statistics too. If the new rows and the
training rows are exchangeable (drawn from one distribution, in no particular order), a new *normal* row gets
``p < alpha`` with probability at most ``alpha``: ``predict(X, alpha=0.01)`` flags at most 1% of normal data,
whatever the contamination, with no rate to guess. What breaks it: drift (new normal data unlike the training
data), training data with many anomalies (they raise the calibration scores, so true anomalies look less rare),
and a slight optimism from the members' early stop having looked at those rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hourglass.errors import HourglassError
from hourglass.schema import Real, validate

# Held-out scores kept: a random subset of exchangeable rows is still exchangeable, and 2,000 resolve p down to
# 1/2001 while config.json stays small.
MAX_CALIBRATION = 2_000
FLOAT64_MAX = float(np.finfo(np.float64).max)


def keep(anomaly: np.ndarray, seed: int) -> np.ndarray:
    """The held-out rows' anomaly scores as a detector keeps them: at most ``MAX_CALIBRATION``, sorted."""
    if len(anomaly) > MAX_CALIBRATION:
        anomaly = np.random.default_rng(seed).choice(anomaly, MAX_CALIBRATION, replace=False)
    # No finite row scores -inf; a pathological model's overflow would rank last, not fail.
    return np.sort(np.nan_to_num(anomaly, posinf=FLOAT64_MAX))


def usable(calibration: np.ndarray, where: str) -> np.ndarray:
    """``calibration``, refused when it is empty (no held-out rows to compare with)."""
    if not len(calibration):
        raise HourglassError(
            f"{where}: this detector has no held-out rows to calibrate p-values (fitted with "
            "validation_fraction=0 or on fewer than 10 rows); refit it"
        )
    return calibration


def p_values(calibration: np.ndarray, scores: Any) -> np.ndarray:
    """The p-value of each score (``score_samples``'s, higher = more normal)."""
    anomaly = -np.asarray(scores, np.float64)
    at_least = len(calibration) - np.searchsorted(calibration, anomaly, side="left")
    return (1 + at_least) / (len(calibration) + 1)


def threshold(calibration: np.ndarray, alpha: float) -> float:
    """The score below which ``p_values < alpha``: minus the anomaly score of the held-out row where the
    p-value first falls below ``alpha``."""
    n = len(calibration)
    # The most held-out rows that may score at least as anomalous for p < alpha, computed as p_values does.
    most = int(np.sum((1 + np.arange(n + 1)) / (n + 1) < alpha)) - 1
    return float(-calibration[n - 1 - most])


def check_alpha(calibration: np.ndarray, alpha: Any, where: str, validation_fraction: float) -> None:
    """Refuse an ``alpha`` outside (0, 1), or at or below the smallest p-value ``1 / (n + 1)``, where no row could
    be flagged (``HourglassError``, naming the floor and the held-out rows it would need)."""
    validate(alpha, Real(0, 1, open="lo"), where, "alpha")
    n = len(usable(calibration, where))
    if alpha > 1 / (n + 1):
        return
    # p < alpha needs 1 / (n + 1) < alpha, i.e. more than 1 / alpha - 1 held-out rows.
    floor = f"{where}: alpha={alpha:g} can flag nothing: with {n} held-out rows the smallest p-value is "
    floor += f"1/{n + 1} = {1 / (n + 1):.4g}; use an alpha above it"
    if alpha <= 1 / (MAX_CALIBRATION + 1):  # more rows cannot help: fit keeps this many scores at most
        raise HourglassError(
            f"{floor} (a detector keeps at most {MAX_CALIBRATION:,} held-out scores, so no p-value is "
            f"below 1/{MAX_CALIBRATION + 1} = {1 / (MAX_CALIBRATION + 1):.4g})"
        )
    need = math.floor(1 / alpha - 1) + 1
    rows = f", about {math.ceil(need / validation_fraction):,} training rows at validation_fraction="
    rows += f"{validation_fraction:g}" if validation_fraction > 0 else ""
    raise HourglassError(
        f"{floor}, or refit on more rows (alpha={alpha:g} needs {need:,} held-out rows"
        f"{rows if validation_fraction > 0 else ''})"
    )
