"""Anomaly detection on ADBench: hourglass defaults vs IsolationForest, PCA and PyOD's ECOD, KNN, COPOD, AutoEncoder.

Run: ``python benchmarks/anomaly.py`` (``--data DIR`` for another folder of ``.npz`` files with X, y).

Protocol (ADBench, Han et al., NeurIPS 2022, unsupervised setting): for each dataset and seed
1, 2, 3, a stratified 70/30 split; min-max scaling fitted on the training split; every detector is
fitted on the training split as it is (anomalies included, labels unused) and scored on the test
split by ROC-AUC. Every method runs with its library defaults, the same for all datasets.
PCA keeps the components that explain 90% of the variance and scores by reconstruction error.
With PyOD installed (``pip install -e '.[bench]'``) the table adds its strongest classical detectors
with their defaults, ECOD, KNN (5 neighbors, distance to the farthest) and COPOD, and its AutoEncoder.
``benchmarks/anomaly_defaults.py`` chooses the detector's defaults leave-one-dataset-out on these sets.

The ``hourglass AE only`` column is the default detector's autoencoder term alone (``iforest=False``).

Then scoring throughput (rows/s): hourglass and PyOD detectors fitted on mnist7 as a 49-feature
table score the same rows (``--pyod-rows`` of them), and hourglass alone (with and without its
isolation forest) scores ``--rows`` rows, beside scikit-learn's IsolationForest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

import hourglass as hg
from hourglass.anomaly import AnomalyDetector

REPO = Path(__file__).resolve().parents[1]


def pca_error(seed: int):
    class PCAError:
        def fit(self, X):
            self.pca = PCA(n_components=0.9, random_state=seed).fit(X)
            return self

        def score(self, X):  # higher = more anomalous
            return ((self.pca.inverse_transform(self.pca.transform(X)) - X) ** 2).sum(axis=1)

    return PCAError()


def hourglass_default(seed: int):
    class Hourglass:
        def fit(self, X):
            self.m = AnomalyDetector(seed=seed).fit(X)
            return self

        def score(self, X):
            return -self.m.score_samples(X)

        def ae_score(self, X):  # the autoencoder's term alone: what AnomalyDetector(iforest=False) scores
            return self.m._parts(np.asarray(X, np.float32))[:, 0]

    return Hourglass()


def isolation_forest(seed: int):
    class IF:
        def fit(self, X):
            self.m = IsolationForest(random_state=seed).fit(X)
            return self

        def score(self, X):
            return -self.m.score_samples(X)

    return IF()


def pyod_detector(name: str):
    """A PyOD detector with its defaults (``decision_function``: higher = more anomalous)."""

    def make(seed: int):
        import pyod.models.copod
        import pyod.models.ecod
        import pyod.models.knn

        cls = {"ECOD": pyod.models.ecod.ECOD, "KNN": pyod.models.knn.KNN, "COPOD": pyod.models.copod.COPOD}[name]

        class PyOD:
            def fit(self, X):
                self.m = cls().fit(X)  # deterministic: no seed to pass
                return self

            def score(self, X):
                return self.m.decision_function(X)

        return PyOD()

    return make


def pyod_autoencoder(seed: int):
    from pyod.models.auto_encoder import AutoEncoder

    class PyOD:
        def fit(self, X):
            self.m = AutoEncoder(random_state=seed, verbose=0).fit(X)
            return self

        def score(self, X):
            return self.m.decision_function(X)

    return PyOD()


def methods(use_pyod: bool, pyod_ae: bool = True) -> dict:
    out = {"hourglass": hourglass_default, "IsolationForest": isolation_forest, "PCA": pca_error}
    if use_pyod:
        out |= {name: pyod_detector(name) for name in ("ECOD", "KNN", "COPOD")}
        out |= {"PyOD AE": pyod_autoencoder} if pyod_ae else {}
    return out


# A column read off another method's fit: the default detector's autoencoder term alone is exactly what
# AnomalyDetector(iforest=False) scores (the forest is fitted after the autoencoders and draws no torch
# random numbers, so the weights are the same).
DERIVED = {"hourglass AE only": ("hourglass", "ae_score")}


def pyod_available() -> bool:
    try:
        import pyod.models.auto_encoder  # noqa: F401
    except ImportError:
        return False
    return True


def run_quality(folder: Path, seeds: list[int], use_pyod: bool, pyod_ae: bool) -> None:
    files = sorted(folder.glob("*.npz"), key=lambda p: p.stem)
    if not files:
        sys.exit(f"no .npz files in {folder}")
    names = [*methods(use_pyod, pyod_ae), *DERIVED]
    print(f"## ROC-AUC on {len(files)} ADBench datasets (test split, mean of seeds {', '.join(map(str, seeds))})\n")
    print("| dataset | rows | features | anomalies | " + " | ".join(names) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(names))
    table, fit_s = {n: [] for n in names}, {n: 0.0 for n in names if n not in DERIVED}
    for file in files:
        with np.load(file) as z:
            X, y = z["X"].astype(np.float64), z["y"].astype(int)
        aucs = {n: [] for n in names}
        for seed in seeds:
            X_tr, X_te, _, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
            scaler = MinMaxScaler().fit(X_tr)
            X_tr, X_te = scaler.transform(X_tr).astype(np.float32), scaler.transform(X_te).astype(np.float32)
            for name, make in methods(use_pyod, pyod_ae).items():
                t = time.perf_counter()
                detector = make(seed).fit(X_tr)
                fit_s[name] += time.perf_counter() - t
                aucs[name].append(roc_auc_score(y_te, detector.score(X_te)))
                for derived, (source, method) in DERIVED.items():
                    if source == name:
                        aucs[derived].append(roc_auc_score(y_te, getattr(detector, method)(X_te)))
        row = {n: float(np.mean(a)) for n, a in aucs.items()}
        for n in names:
            table[n].append(row[n])
        best = max(row.values())
        cells = [f"**{row[n]:.3f}**" if row[n] == best else f"{row[n]:.3f}" for n in names]
        print(f"| {file.stem} | {len(y)} | {X.shape[1]} | {y.mean():.1%} | " + " | ".join(cells) + " |", flush=True)
    means = {n: float(np.mean(table[n])) for n in names}
    top = max(means.values())
    print("| **mean** | | | | " + " | ".join(f"**{m:.4f}**" if m == top else f"{m:.4f}" for m in means.values()) + " |")
    print()
    for other in names[1:]:
        wins = sum(h >= o for h, o in zip(table["hourglass"], table[other], strict=True))
        print(f"hourglass >= {other} on {wins} of {len(files)} datasets")
    print("fit time, all datasets and seeds: " + ", ".join(f"{n} {fit_s[n]:.1f} s" for n in fit_s))


def rows_per_s(score, X: np.ndarray, repeats: int) -> float:
    score(X[:1000])  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        score(X)
        times.append(time.perf_counter() - t)
    return len(X) / statistics.median(times)


def run_throughput(n_rows: int, pyod_rows: int, repeats: int, use_pyod: bool) -> None:
    X = np.asarray(hg.load_dataset("mnist7").X, np.float32).reshape(5000, -1)
    X = MinMaxScaler().fit_transform(X).astype(np.float32)
    rows = np.ascontiguousarray(np.tile(X, (-(-n_rows // len(X)), 1))[:n_rows])
    hg_model = AnomalyDetector().fit(X)
    ae_only = AnomalyDetector(iforest=False).fit(X)
    print(f"\n## Scoring throughput, 49-feature model (mnist7 as a table), median of {repeats}\n")
    print("| detector | rows | rows/s |")
    print("|---|---:|---:|")
    big = rows_per_s(hg_model.score_samples, rows, repeats)
    print(f"| hourglass AnomalyDetector (defaults) | {n_rows:,} | {big:,.0f} |")
    big = rows_per_s(ae_only.score_samples, rows, repeats)
    print(f"| hourglass AnomalyDetector(iforest=False) | {n_rows:,} | {big:,.0f} |")
    forest = IsolationForest(random_state=0).fit(X)
    same = rows[: min(n_rows, 200_000)]
    theirs = rows_per_s(forest.score_samples, same, 1)
    print(f"| scikit-learn IsolationForest (defaults) | {len(same):,} | {theirs:,.0f} |")
    if use_pyod:
        same = rows[:pyod_rows]
        mine = rows_per_s(hg_model.score_samples, same, repeats)
        pyod_model = pyod_autoencoder(0).fit(X).m
        theirs = rows_per_s(pyod_model.decision_function, same, repeats)
        print(f"| hourglass AnomalyDetector (defaults) | {pyod_rows:,} | {mine:,.0f} |")
        print(f"| PyOD AutoEncoder (defaults) | {pyod_rows:,} | {theirs:,.0f} |")
        print(f"\nhourglass scores {mine / theirs:.1f}x the rows/s of PyOD's AutoEncoder on the same rows")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "adbench", help="folder of .npz")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated split seeds (default: %(default)s)")
    p.add_argument("--rows", type=int, default=1_000_000, help="rows for the throughput test")
    p.add_argument("--pyod-rows", type=int, default=100_000, help="rows both hourglass and PyOD score")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each throughput run")
    p.add_argument("--no-pyod", action="store_true", help="leave PyOD out even if it is installed")
    p.add_argument("--no-pyod-ae", action="store_true", help="leave out PyOD's AutoEncoder (the slowest to fit)")
    p.add_argument("--skip-quality", action="store_true", help="only the throughput test")
    p.add_argument("--skip-throughput", action="store_true", help="only the ROC-AUC table")
    args = p.parse_args()
    warnings.filterwarnings("ignore")  # PyOD and torch print deprecation chatter
    use_pyod = pyod_available() and not args.no_pyod
    if not use_pyod:
        print("(PyOD not installed or --no-pyod: its column is left out; pip install -e '.[bench]')\n")
    t = time.perf_counter()
    if not args.skip_quality:
        run_quality(args.data, [int(s) for s in args.seeds.split(",")], use_pyod, not args.no_pyod_ae)
    if not args.skip_throughput:
        run_throughput(args.rows, args.pyod_rows, args.repeats, use_pyod)
    print(f"\ntotal {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
