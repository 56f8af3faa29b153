"""The demo's anomaly story: a detector trained on digits, tested on held-out digits plus some turned on their side.

Turning a digit keeps its ink and strokes but not its shape, so only a model of what digits look
like can tell the two apart; no label is used to train the detector.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from hourglass.anomaly import AnomalyDetector
from hourglass.params import DETECTOR
from hourglass.viz import error_gallery, score_histogram

if TYPE_CHECKING:
    from hourglass.demo.story import DemoResult


@dataclass
class AnomalyDemo:
    detector: AnomalyDetector
    X: np.ndarray  # the test set: held-out digits, then the turned ones
    y: np.ndarray  # digit labels of the test rows (shown in notes only, never used to train)
    is_turned: np.ndarray  # the planted anomalies
    error: np.ndarray  # reconstruction error per row (higher = more anomalous)
    flagged: np.ndarray  # rows the detector's own threshold calls anomalies
    auc: float
    ap: float
    seconds: float  # fit time
    histogram: Figure
    gallery: Figure

    @property
    def precision(self) -> float:
        return float((self.flagged & self.is_turned).sum() / max(self.flagged.sum(), 1))

    @property
    def recall(self) -> float:
        return float((self.flagged & self.is_turned).sum() / max(self.is_turned.sum(), 1))


def anomaly_demo(
    demo: DemoResult, seed: int = 0, n_turned: int = 50, n_show: int = 12, epochs: int | None = None
) -> AnomalyDemo:
    """Fit a default ``AnomalyDetector`` on the demo's training digits and test it on planted anomalies.

    ``epochs`` overrides the detector's default (``hourglass demo --quick`` trains briefly).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    start = time.perf_counter()
    detector = AnomalyDetector(seed=seed, epochs=epochs or DETECTOR.epochs).fit(demo.X_train)
    seconds = time.perf_counter() - start
    pick = np.random.default_rng(seed).choice(len(demo.X_test), n_turned, replace=False)
    X = np.concatenate([demo.X_test, np.rot90(demo.X_test[pick], 1, axes=(1, 2))])
    y = np.concatenate([demo.y_test, demo.y_test[pick]])
    is_turned = np.arange(len(X)) >= len(demo.X_test)
    error = -detector.score_samples(X)
    flagged = detector.predict(X) == -1
    auc, ap = float(roc_auc_score(is_turned, error)), float(average_precision_score(is_turned, error))
    histogram = score_histogram(
        error, is_turned, -detector.offset_, f"Held-out digits vs turned ones: ROC-AUC {auc:.3f}, AP {ap:.3f}"
    )
    worst = np.argsort(-error, kind="stable")[:n_show]
    notes = [f"{'turned' if is_turned[i] else 'digit'} {y[i]}\n{error[i]:.3f}" for i in worst]
    gallery = error_gallery(
        detector, X[worst], notes, f"The {n_show} test rows rebuilt worst, with where their error lies"
    )
    return AnomalyDemo(detector, X, y, is_turned, error, flagged, auc, ap, seconds, histogram, gallery)
