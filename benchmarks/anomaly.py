"""Anomaly detection on two ADBench families: hourglass's detector beside PyOD's defaults, and scoring speed.

Run: ``python benchmarks/anomaly.py`` (both families; ``--family classical`` or ``embedding`` for one;
``--data DIR --family NAME`` for another folder of ``.npz`` files with X, y); ``--speed`` for the speed table.

Protocol (ADBench, Han et al., NeurIPS 2022, unsupervised setting): for each dataset and seed 1, 2, 3, a
stratified 70/30 split; min-max scaling fitted on the training split; every detector is fitted on the
training split as it is (anomalies included, labels unused) and scored on the test split by ROC-AUC. Every
method runs with its library defaults, the same for all datasets: PyOD's IForest (``random_state=seed``),
KNN (distance to the 5th neighbour), LOF, ECOD, COPOD and PCA. Families: ``classical`` (the 20 shared tables,
``../shared/data/adbench``, and with ``--more DIR`` the other ADBench classical tables, each cut to ``--cap``
rows first, stratified with ``random_state=0``, and skipped when fewer than 5 anomalies remain) and
``embedding`` (12 sets of ResNet18/RoBERTa features, ``../shared/data/adbench-emb``).

hourglass columns, all from one fit of ``AnomalyDetector(seed=seed)`` (the defaults: the autoencoders' error
plus 1.5 times the nearest-neighbour distance, as robust z-scores; ``benchmarks/anomaly_recipe.py`` chose it):
its score (``hourglass``), its terms alone (``AE only``, what ``knn_weight=0`` scores; ``kNN only``), the
isolation forest it would add with ``iforest=True`` alone (``forest only``) and the previous default, the
error plus the forest (``AE + forest``, what ``knn_weight=0, iforest=True`` scores). The forest draws no
torch random numbers, so every column shares the same autoencoders.

``--speed``: scoring rows/s of each term and of the whole score, on 49 columns (mnist7 as a table) and on
512 (an embedding set), beside PyOD's KNN and scikit-learn's IsolationForest, median of ``--repeats``; and
what the nearest-neighbour term adds to a fitted detector's folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_terms import MIN_ANOMALIES, load

import hourglass as hg
from hourglass.anomaly import AnomalyDetector
from hourglass.anomaly.iforest import Forest
from hourglass.anomaly.scores import robust

try:
    from hourglass.training.batches import held_out_rows
except ImportError:  # the layout before issue 22's split
    from hourglass.engine.train import held_out_rows

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FAMILIES = {"classical": DATA / "adbench", "embedding": DATA / "adbench-emb"}
MORE = REPO.parent / "data" / "adbench-more"  # the other ADBench classical sets, where they were extracted
PEERS = ("IForest", "KNN", "LOF", "ECOD", "COPOD", "PCA")
OURS = ("hourglass", "AE only", "kNN only", "forest only", "AE + forest")


def peer(name: str, seed: int):
    """PyOD's detector with its defaults (seeded where it draws random numbers); higher = more anomalous."""
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from pyod.models.pca import PCA

    makers = {"IForest": lambda: IForest(random_state=seed), "PCA": lambda: PCA(random_state=seed)}
    return makers.get(name, {"KNN": KNN, "LOF": LOF, "ECOD": ECOD, "COPOD": COPOD}.get(name))()


def hourglass_scores(seed: int, X_tr: np.ndarray, X_te: np.ndarray) -> dict[str, np.ndarray]:
    """The detector's score, its terms alone, the forest's and the previous default (AE + forest), from one fit
    (higher = more anomalous)."""
    det = AnomalyDetector(seed=seed).fit(X_tr)
    parts = det._parts(X_te)
    _, kept = held_out_rows(len(X_tr), float(det.validation_fraction), seed)
    forest = Forest.fit(X_tr, seed, kept)  # as iforest=True fits it, its z-score from the same rows
    (ae_median, _), (ae_spread, _) = det.fusion_
    forest_median, forest_spread = robust(forest.score(X_tr[kept]))
    z = {"ae": (parts[:, 0] - ae_median) / ae_spread, "forest": (forest.score(X_te) - forest_median) / forest_spread}
    return {
        "hourglass": -det.score_samples(X_te),
        "AE only": parts[:, 0],
        "kNN only": parts[:, 1],
        "forest only": forest.score(X_te),
        "AE + forest": z["ae"] + z["forest"],
    }


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    # PyOD's PCA scores every test row +inf on one vertebral split (it divides by a zero eigenvalue): an
    # infinite score ranks as the largest, and ties count half, as in anomaly_recipe.py's cached scores.
    top = np.finfo(np.float64).max
    return roc_auc_score(y, np.nan_to_num(np.asarray(scores, np.float64), posinf=top, neginf=-top))


def split(file: Path, seed: int, cap: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = load(file, cap)
    X_tr, X_te, _, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    scaler = MinMaxScaler().fit(X_tr)
    return scaler.transform(X_tr).astype(np.float32), scaler.transform(X_te).astype(np.float32), y_te


def run_family(family: str, folders: dict[Path, int], seeds: list[int]) -> dict[str, list[float]]:
    """``folders``: each folder of ``.npz`` files and the row cap its sets are cut to (0: none)."""
    caps = {f: cap for folder, cap in folders.items() for f in folder.glob("*.npz")}
    for folder in folders:
        if not any(folder.glob("*.npz")):
            sys.exit(f"no .npz files in {folder}")
    skipped = sorted(f.stem for f, cap in caps.items() if load(f, cap)[1].sum() < MIN_ANOMALIES)
    files = sorted((f for f in caps if f.stem not in skipped), key=lambda p: p.stem)
    names = [*OURS, *PEERS]
    print(f"\n## {family}: ROC-AUC on {len(files)} sets (test split, mean of seeds {', '.join(map(str, seeds))})\n")
    for folder, cap in folders.items():
        print(f"{folder}: {sum(f.parent == folder for f in files)} sets" + (f", cut to {cap:,} rows" if cap else ""))
    if skipped:
        print(f"skipped (fewer than {MIN_ANOMALIES} anomalies): {', '.join(skipped)}")
    print()
    print("| dataset | rows | features | anomalies | " + " | ".join(names) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(names))
    table: dict[str, list[float]] = {n: [] for n in names}
    fit_s = dict.fromkeys(["hourglass", *PEERS], 0.0)
    for file in files:
        aucs: dict[str, list[float]] = {n: [] for n in names}
        for seed in seeds:
            X_tr, X_te, y_te = split(file, seed, caps[file])
            t = time.perf_counter()
            for name, s in hourglass_scores(seed, X_tr, X_te).items():
                aucs[name].append(auc(y_te, s))
            fit_s["hourglass"] += time.perf_counter() - t
            for name in PEERS:
                t = time.perf_counter()
                aucs[name].append(auc(y_te, peer(name, seed).fit(X_tr).decision_function(X_te)))
                fit_s[name] += time.perf_counter() - t
        row = {n: float(np.mean(a)) for n, a in aucs.items()}
        for n in names:
            table[n].append(row[n])
        best = max(row.values())
        cells = [f"**{row[n]:.3f}**" if row[n] == best else f"{row[n]:.3f}" for n in names]
        X, y = load(file, caps[file])
        shape, rate = X.shape, y.mean()
        print(f"| {file.stem} | {shape[0]} | {shape[1]} | {rate:.1%} | " + " | ".join(cells) + " |", flush=True)
    means = {n: float(np.mean(v)) for n, v in table.items()}
    print(f"| **mean {family}** | | | | " + " | ".join(f"**{m:.4f}**" for m in means.values()) + " |\n")
    top = max(PEERS, key=means.get)
    print(f"best PyOD default on {family}: {top} {means[top]:.4f}")
    best_peer = np.max([table[n] for n in PEERS], axis=0)
    for n in OURS:
        short = [f.stem for f, a, b in zip(files, table[n], best_peer, strict=True) if a < b - 0.05]
        versus = f"{means[n] - means[top]:+.4f} vs {top}" + (
            f", {means[n] - means['IForest']:+.4f} vs IForest" if top != "IForest" else ""
        )
        print(
            f"{n}: mean {means[n]:.4f} ({versus}); within 0.05 of the best peer on "
            f"{len(files) - len(short)} of {len(files)} sets" + (f" (not on {', '.join(short)})" if short else "")
        )
    print("fit + score time, all sets and seeds: " + ", ".join(f"{n} {s:.1f} s" for n, s in fit_s.items()))
    return table


# ------------------------------------------------------------------------------------------------ speed
def rows_per_s(score, X: np.ndarray, repeats: int) -> float:
    score(X[:256])  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        score(X)
        times.append(time.perf_counter() - t)
    return len(X) / statistics.median(times)


def speed_rows(name: str, X: np.ndarray, n_rows: int, knn_rows: int, repeats: int) -> None:
    rows = np.ascontiguousarray(np.tile(X, (-(-n_rows // len(X)), 1))[:n_rows])
    few = rows[:knn_rows]
    det = AnomalyDetector().fit(X)
    ae_only = AnomalyDetector(knn_weight=0).fit(X)  # the same weights (see the module docstring)
    with_forest = AnomalyDetector(knn_weight=0, iforest=True).fit(X)
    print(f"\n### {name}: {X.shape[1]} columns, fitted on {len(X):,} rows ({det.knn_.n_reference:,} reference rows)\n")
    print("| what scores | rows | rows/s |\n|---|---:|---:|")

    def line(label: str, score, data: np.ndarray) -> None:
        speed = rows_per_s(score, data, repeats)
        print(f"| {label} | {len(data):,} | {speed:,.0f} |", flush=True)

    line("hourglass default (AE + kNN)", det.score_samples, few)
    line("  AE term (knn_weight=0)", ae_only.score_samples, rows)
    line("  kNN term", det.knn_.score, few)
    line("AE + forest (knn_weight=0, iforest=True; the previous default)", with_forest.score_samples, rows)
    line("  forest term", with_forest.forest_.score, rows)
    line("PyOD KNN (defaults)", peer("KNN", 0).fit(X).decision_function, few)
    forest = IsolationForest(random_state=0).fit(X)
    line("scikit-learn IsolationForest (defaults)", forest.score_samples, rows[: min(n_rows, 100_000)])
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {label: folder_bytes(d.save(Path(tmp) / label)) for label, d in (("knn", det), ("ae", ae_only))}
    grown = sizes["knn"] - sizes["ae"]
    print(
        f"\nfolder: {sizes['knn'] / 2**20:.2f} MiB with the kNN term, {sizes['ae'] / 2**20:.2f} MiB without; "
        f"the {det.knn_.n_reference:,} reference rows add {grown / 2**20:.2f} MiB "
        f"({grown / det.knn_.n_reference / X.shape[1]:.2f} bytes per reference row and column)"
    )


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir())


def run_speed(n_rows: int, knn_rows: int, repeats: int, wide: Path) -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"## Scoring speed, median of {repeats}, {torch.get_num_threads()} torch thread(s)")
    X = np.asarray(hg.load_dataset("mnist7").X, np.float32).reshape(5000, -1)
    speed_rows("mnist7 as a table", MinMaxScaler().fit_transform(X).astype(np.float32), n_rows, knn_rows, repeats)
    with np.load(wide) as z:
        X = MinMaxScaler().fit_transform(z["X"]).astype(np.float32)
    speed_rows(wide.stem, X, n_rows, knn_rows, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", choices=["classical", "embedding", "all"], default="all")
    p.add_argument("--data", type=Path, help="another folder of .npz files, run as --family (not 'all')")
    p.add_argument("--more", type=Path, default=MORE, help="more classical sets, where present (default: %(default)s)")
    p.add_argument("--cap", type=int, default=2_000, help="rows --more's and --data's sets are cut to (0: no cut)")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated split seeds (default: %(default)s)")
    p.add_argument("--speed", action="store_true", help="the speed table instead of the ROC-AUC tables")
    p.add_argument("--rows", type=int, default=200_000, help="rows the fast terms score in --speed")
    p.add_argument("--knn-rows", type=int, default=10_000, help="rows the nearest-neighbour scorers score")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each speed measurement")
    p.add_argument("--wide", type=Path, default=FAMILIES["embedding"] / "CIFAR10_4.npz", help="512-column set")
    args = p.parse_args()
    warnings.filterwarnings("ignore")  # PyOD and torch print deprecation chatter
    torch.set_num_threads(1)
    t = time.perf_counter()
    if args.speed:
        run_speed(args.rows, args.knn_rows, args.repeats, args.wide)
    else:
        if args.data is not None and args.family == "all":
            p.error("--data needs --family classical or embedding (the name its rows print under)")
        families = {f: {folder: 0} for f, folder in FAMILIES.items()}
        if args.more.is_dir():
            families["classical"][args.more] = args.cap
        families = {args.family: {args.data: args.cap}} if args.data else families
        families = families if args.family == "all" else {args.family: families[args.family]}
        seeds = [int(s) for s in args.seeds.split(",")]
        for family, folders in families.items():
            run_family(family, folders, seeds)
    print(f"\ntotal {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
