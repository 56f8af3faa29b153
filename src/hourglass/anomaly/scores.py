"""The terms of the detector's score, per row, and how they are put on one footing.

``parts`` gives each row's mean squared reconstruction error (the ensemble's members averaged), then, where
the detector has them, the isolation forest's anomaly score and the nearest-neighbour distance; ``robust`` is
a term's training median and spread; ``combine`` turns the terms into ``score_samples`` (higher = more normal).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from hourglass.anomaly.iforest import Forest
from hourglass.anomaly.knn import Neighbors
from hourglass.inference import InferenceModel
from hourglass.models.ensemble import EnsembleMLP
from hourglass.runtime.forward import batch_invariant

SCORE_BLOCK = 4096  # rows per fused scoring step
FLOAT64_MAX = float(np.finfo(np.float64).max)


def parts(runner: InferenceModel, forest: Forest | None, knn: Neighbors | None, flat: np.ndarray) -> np.ndarray:
    """Per checked row: the mean squared reconstruction error, then the forest's score and the mean distance to the
    nearest reference rows where the detector has them (float64, (n, 1 to 3), in that order)."""
    row_errors = errors(runner, per_row=True)
    width = 1 + (forest is not None) + (knn is not None)

    def terms(x: torch.Tensor) -> torch.Tensor:
        # Blocks small enough that the members' activations stay in cache: 2-3x the rows/s of
        # one pass over the whole chunk (benchmarks/anomaly.py measures it).
        out = torch.empty(x.shape[0], width, dtype=torch.float64)
        for i in range(0, x.shape[0], SCORE_BLOCK):
            part = x[i : i + SCORE_BLOCK]
            out[i : i + part.shape[0], 0] = row_errors(part).cpu()
        if forest is not None:  # on the rows as given: the forest was fitted on them unscaled
            out[:, 1] = torch.from_numpy(forest.score(x.cpu().numpy()))
        if knn is not None:  # on the rows as given too: it has its own min-max units
            out[:, -1] = torch.from_numpy(knn.score(x))
        return out

    return runner.run(terms, flat, width, np.float64, scale_input=False)


def feature_errors(runner: InferenceModel, flat: np.ndarray) -> np.ndarray:
    """Per checked row and feature, the members' squared error in scaled units (float64, (n, features))."""
    return runner.run(errors(runner, per_row=False), flat, runner.n_features_in_, np.float64, scale_input=False)


def errors(runner: InferenceModel, per_row: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rows as given -> the members' squared errors in scaled units, float64: per row (n,), or per feature (n, f).

    float32 serves every row the model was meant for, and fast. A row far enough out overflows it on the
    way (its scaled values, its squared error, or inf - inf = NaN in a layer); those rows alone are computed
    again in float64, where the error of every finite float32 row is finite and grows with its distance, so
    a row 1e30 out scores as more anomalous than one 1e19 out. Each row's path depends on that row alone:
    its result is the same bits in any batch.
    """
    model = runner.model_
    assert isinstance(model, EnsembleMLP)  # the only network a detector builds
    scaler = runner.scaler_
    wide: list[EnsembleMLP] = []  # the float64 copy of the members, made on first need

    def squared(x: torch.Tensor) -> torch.Tensor:
        offset = torch.as_tensor(scaler.offset, device=x.device)
        scale = torch.as_tensor(scaler.scale, device=x.device)
        out = batch_invariant(model.row_errors if per_row else model.squared_errors, (x - offset) / scale)
        out = out.double()
        bad = ~torch.isfinite(out.reshape(len(out), -1)).all(dim=1)
        if bad.any():
            if not wide:
                wide.append(copy.deepcopy(model).double())
            exact = wide[0].row_errors if per_row else wide[0].squared_errors
            scaled = (x[bad].double() - offset.double()) / scale.double()
            # Beyond float64 too (weights or scales no fit leaves) is as anomalous as a number can say.
            out[bad] = torch.nan_to_num(batch_invariant(exact, scaled), nan=FLOAT64_MAX, posinf=FLOAT64_MAX)
        return out

    return squared


def combine(terms: np.ndarray, fusion: np.ndarray | None, weights: np.ndarray | None = None) -> np.ndarray:
    """``score_samples`` from ``parts``: minus the error alone, or with more terms (``fusion`` not None: row 0 the
    terms' training medians, row 1 their spreads) minus the weighted sum of their robust z-scores (``weights``,
    one per term; all 1 when None)."""
    if fusion is None:
        return -terms[:, 0]
    z = (terms - fusion[0]) / fusion[1]
    weights = np.ones(z.shape[1]) if weights is None else weights
    # Term by term, not a matrix product: each row's sum is then the same bits in any batch.
    total = z[:, 0] * weights[0]
    for j in range(1, z.shape[1]):
        total = total + z[:, j] * weights[j]
    return -total


def weights(forest: Forest | None, knn: Neighbors | None, knn_weight: float) -> np.ndarray:
    """Each term's weight in the score, in ``parts``' order: the error's and the forest's 1, the distance's
    ``knn_weight``."""
    return np.array([1.0, *([1.0] if forest is not None else []), *([knn_weight] if knn is not None else [])])


def robust(values: np.ndarray) -> tuple[float, float]:
    """Median and interquartile range of training values. A zero IQR (over half the rows score alike,
    e.g. duplicates) falls back to the mean absolute deviation from the median, then to 1, so a term
    never divides by zero and stays in proportion to its own spread."""
    values = values[np.isfinite(values)]  # a row too far out to measure (inf) says nothing about the spread
    if not len(values):
        return 0.0, 1.0
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else np.mean(np.abs(values - median))
    return float(median), float(spread) if spread > 0 else 1.0
