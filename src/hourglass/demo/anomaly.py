"""The demo's anomaly story: a detector trained on digits, tested on held-out digits plus some turned on their side.

Turning a digit keeps its ink and strokes but not its shape, so only a model of what digits look
like can tell the two apart; no label is used to train the detector. The worst flagged rows are shown
beside their nearest normal (``AnomalyDetector.nearest_normal``): what the detector would have drawn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from hourglass.anomaly import AnomalyDetector, NearestNormal
from hourglass.demo.report import Section, table
from hourglass.params import DETECTOR
from hourglass.viz import error_gallery, score_histogram
from hourglass.viz.anomaly import nearest_normal_triples

if TYPE_CHECKING:
    from hourglass.demo.run import DemoResult, DemoRun

N_NEAREST = 8  # flagged rows shown beside their nearest normal
N_PIXELS = 5  # pixels ranked for the worst of them


@dataclass
class AnomalyDemo:
    detector: AnomalyDetector
    X: np.ndarray  # the test set: held-out digits, then the turned ones
    y: np.ndarray  # digit labels of the test rows (shown in notes only, never used to train)
    is_turned: np.ndarray  # the planted anomalies
    score: np.ndarray  # the detector's score per row (score_samples: higher = more normal)
    flagged: np.ndarray  # rows the detector's own threshold calls anomalies
    auc: float
    ap: float
    seconds: float  # fit time
    histogram: Figure
    gallery: Figure
    shown: np.ndarray  # the worst flagged rows (indices into X), worst first
    nearest: NearestNormal  # their nearest normals
    triples: Figure

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
    score = detector.score_samples(X)
    flagged = detector.verdicts(score) == -1
    auc, ap = float(roc_auc_score(is_turned, -score)), float(average_precision_score(is_turned, -score))
    title = f"Held-out digits vs turned ones: ROC-AUC {auc:.3f}, AP {ap:.3f}"
    histogram = score_histogram(detector, score, is_turned, title)
    worst = np.argsort(score, kind="stable")[:n_show]
    notes = [f"{'turned' if is_turned[i] else 'digit'} {y[i]}\nscore {score[i]:.1f}" for i in worst]
    gallery = error_gallery(
        detector, X[worst], notes, f"The {n_show} test rows scored most anomalous, with where their error lies"
    )
    shown = np.argsort(np.where(flagged, score, np.inf), kind="stable")[: min(N_NEAREST, int(flagged.sum()))]
    nearest = detector.nearest_normal(X[shown])
    triples = nearest_normal_triples(
        detector,
        nearest,
        [f"{'turned' if is_turned[i] else 'digit'} {y[i]}" for i in shown],
        f"The {len(shown)} worst flagged rows, their nearest normal, and what would have to change",
    )
    return AnomalyDemo(
        detector, X, y, is_turned, score, flagged, auc, ap, seconds, histogram, gallery, shown, nearest, triples
    )


def nearest_normal_html(a: AnomalyDemo, run: DemoRun) -> str:
    """The report's nearest-normal part: the image triples, and the worst row's pixels ranked, in words."""
    if not len(a.shown):
        return ""
    found = a.nearest
    caption = (
        "Each flagged row (top), the nearest row the detector's decoder draws that the detector scores normal "
        "(middle: a code searched to come as close to the row as it can), and the row minus it (bottom: red is "
        "ink the row has and the normal lacks, blue ink the normal has and the row lacks)."
    )
    worst = a.shown[0]
    text = (
        f"<p>The nearest normal of the worst row ({'turned' if a.is_turned[worst] else 'a real digit'} "
        f"{a.y[worst]}) lies {found.distance[0]:.2f} from it (root mean square, pixels in [0, 1]); its score "
        f"{found.score[0]:.2f} passes the threshold {a.detector.offset_:.2f}. The pixels it would change most:</p>"
    )
    rows = [(d.feature, f"{d.value:.0f}", f"{d.normal:.0f}", d.phrase) for d in found.ranked(0, N_PIXELS)]
    return (
        run.figure("anomaly_nearest.png", a.triples, caption)
        + text
        + table(("pixel", "row", "nearest normal", "in words"), rows)
    )


def anomaly_section(run: DemoRun) -> Section:
    a = anomaly_demo(run.result, epochs=run.epochs)
    n_turned, n_flagged = int(a.is_turned.sum()), int(a.flagged.sum())
    hits = int((a.flagged & a.is_turned).sum())
    # What the real digits it flags have in common, measured rather than assumed: their labels and ink.
    real = a.flagged & ~a.is_turned
    ink = a.X.reshape(len(a.X), -1).sum(axis=1, dtype=np.float64)
    normal_ink = np.sort(ink[~a.is_turned])
    flagged_real = ""
    if real.any():
        inkier = np.searchsorted(normal_ink, ink[real].min()) / len(normal_ink)
        kinds = " and ".join(f"{d}s" for d in np.unique(a.y[real]))
        flagged_real = (
            f" The {int(real.sum())} real digits it flags are {kinds}, each inkier than {inkier:.0%} of the held-out "
            "digits: error grows with ink, so bold strokes look odd too, not only badly written digits."
        )
    text = (
        f"<p>Fit the toolkit's anomaly detector (its defaults; {a.seconds:.1f} s) on the {len(run.result.X_train):,} "
        f"training digits, labels never used. Then hide {n_turned} held-out digits turned on their side among the "
        f"{len(a.X) - n_turned:,} held-out ones: the same ink, the wrong shape. Ranked by the detector's score, a "
        f"turned digit scores as more anomalous than a normal one with probability {a.auc:.2f} (ROC-AUC; 0.5 is "
        f"chance). At its own threshold (scored worse than 99% of the training digits) it flags {n_flagged} rows, "
        f"{hits} of them turned.{flagged_real}</p>"
    )
    rows = [
        ("test rows (planted anomalies)", f"{len(a.X):,} ({n_turned})"),
        ("ROC-AUC", f"{a.auc:.3f}"),
        ("average precision", f"{a.ap:.3f} (chance {n_turned / len(a.X):.3f})"),
        ("flagged at the threshold", f"{n_flagged}"),
        ("precision / recall at the threshold", f"{a.precision:.2f} / {a.recall:.2f}"),
    ]
    html = (
        text
        + run.figure(
            "anomaly_histogram.png",
            a.histogram,
            "The detector's score (higher = more normal: its reconstruction error and nearest-neighbour distance, as "
            "robust z-scores) of the held-out digits and the turned ones; rows left of the dashed threshold are "
            "flagged.",
        )
        + run.figure(
            "anomaly_gallery.png",
            a.gallery,
            "The test rows the detector scores most anomalous (top) and their per-pixel squared reconstruction "
            "error (bottom); under each, turned or a real digit, its label, and its score.",
        )
        + nearest_normal_html(a, run)
        + table(("measure", "value"), rows)
    )
    return Section("Anomalies: what the model cannot rebuild", html)
