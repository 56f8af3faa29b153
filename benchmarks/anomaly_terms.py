"""Each anomaly term's scores on both ADBench families, computed once per (dataset, seed) and cached (issue 23).

Run: ``python benchmarks/anomaly_terms.py --workers 2`` (skips cached files), then
``python benchmarks/anomaly_recipe.py`` searches fusions of the cached terms without refitting anything.
``--data DIR --family classical --cap 2000`` caches another folder of ``.npz`` files (X, y) as members of that
family: each set of more than ``--cap`` rows is first cut to ``--cap`` rows (stratified, ``random_state=0``,
the same rows for every seed and method, as the 22 unseen ADBench sets were in ``anomaly_defaults.py``), and a
set left with fewer than ``MIN_ANOMALIES`` anomalies is skipped (smtp).

Protocol: that of ``benchmarks/anomaly.py`` (stratified 70/30 split per seed 1, 2, 3; min-max fitted on
the training split; every detector fits the contaminated training split, labels unused). Per file, for
the training rows and the test rows:

- ``ae``, ``forest``: the default ``AnomalyDetector(seed=seed)``'s two terms (``_parts``);
- ``knn_<space>``: the sorted Euclidean distances to the ``KMAX`` nearest reference rows, where the
  reference rows are the training rows the members trained on (not the held-out ones, as for the forest);
  a training row in the reference set does not count itself. Spaces: ``raw`` (rows as given), ``std``
  (the detector's own standardised units), ``code`` (the members' codes side by side);
- ``knn_<space>_cap<c>``: the same against a random ``c``-row sample of the reference rows, where there are more;
- ``wide_ae``, ``wide_knn_code``: with ``--wide``, a detector whose code and hidden layer grow with the
  column count (``latent_dim = max(4, round(sqrt(d)))``, ``hidden = (max(32, 2 * latent),)``);
- ``ecod``: PyOD's ECOD (per-column empirical tails) fitted on the reference rows;
- ``peer_<name>``: the test scores of PyOD's defaults (IForest with ``random_state=seed``, KNN, LOF, ECOD,
  COPOD, PCA), higher = more anomalous.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import MinMaxScaler

REPO = Path(__file__).resolve().parents[1]
FAMILIES = {
    "classical": REPO.parent / "shared" / "data" / "adbench",
    "embedding": REPO.parent / "shared" / "data" / "adbench-emb",
}
OUT = Path("/tmp/anomaly23/terms")
SEEDS = (1, 2, 3)
KMAX = 20
CAPS = (2_000, 5_000, 10_000)
PEERS = ("IForest", "KNN", "LOF", "ECOD", "COPOD", "PCA")
MIN_ANOMALIES = 5  # a test split of one or two anomalies measures nothing (smtp cut to 2,000 rows keeps 0-1)


def load(file: Path, cap: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A set's rows and labels, cut to ``cap`` rows (stratified, fixed seed) when it has more and ``cap`` > 0."""
    with np.load(file) as z:
        X, y = z["X"].astype(np.float64), z["y"].astype(int)
    if cap and len(y) > cap:
        X, _, y, _ = train_test_split(X, y, train_size=cap, stratify=y, random_state=0)
    return X, y


def split(file: Path, seed: int, cap: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark's split: stratified 70/30, min-max fitted on the training rows, float32."""
    X, y = load(file, cap)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    mm = MinMaxScaler().fit(X_tr)
    return mm.transform(X_tr).astype(np.float32), mm.transform(X_te).astype(np.float32), y_tr, y_te


def peer(name: str, seed: int):
    """PyOD's detector with its defaults (seeded where it draws random numbers)."""
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from pyod.models.pca import PCA

    return {
        "IForest": lambda: IForest(random_state=seed),
        "KNN": KNN,
        "LOF": LOF,
        "ECOD": ECOD,
        "COPOD": COPOD,
        "PCA": lambda: PCA(random_state=seed),
    }[name]()


def knn_distances(ref: np.ndarray, query: np.ndarray, in_ref: np.ndarray, k: int) -> np.ndarray:
    """Sorted distances from each query row to its ``k`` nearest reference rows (float32, (n, k)); a query row
    flagged ``in_ref`` is one of the reference rows, and its own zero distance is dropped."""
    k = min(k, len(ref) - 1)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(ref)
    dist, _ = nn.kneighbors(query, n_neighbors=k + 1)
    out = np.where(in_ref[:, None], dist[:, 1:], dist[:, :-1])  # self is at distance 0, hence first
    return out.astype(np.float32)


def detector_terms(
    prefix: str, det, X_tr: np.ndarray, X_te: np.ndarray, rows: np.ndarray, full: bool
) -> dict[str, np.ndarray]:
    import torch

    out = {}
    parts_tr, parts_te = det._parts(X_tr), det._parts(X_te)
    out[f"{prefix}ae_tr"], out[f"{prefix}ae_te"] = parts_tr[:, 0], parts_te[:, 0]
    if parts_tr.shape[1] > 1:
        out["forest_tr"], out["forest_te"] = parts_tr[:, 1], parts_te[:, 1]
    offset, scale = det.scaler_.offset, det.scaler_.scale
    with torch.no_grad():
        spaces = {}
        std_tr, std_te = (((X - offset) / scale).astype(np.float32) for X in (X_tr, X_te))
        for name, (A, B) in {"std": (std_tr, std_te), "raw": (X_tr, X_te)}.items():
            if full:
                spaces[name] = (A, B)
        codes = [
            det.model_.member_codes(torch.as_tensor(S)).permute(1, 0, 2).reshape(len(S), -1).numpy()
            for S in (std_tr, std_te)
        ]
        spaces["code"] = tuple(codes)
    in_ref = np.zeros(len(X_tr), bool)
    in_ref[rows] = True
    for name, (A, B) in spaces.items():
        ref = A[rows]
        out[f"{prefix}knn_{name}_tr"] = knn_distances(ref, A, in_ref, KMAX)
        out[f"{prefix}knn_{name}_te"] = knn_distances(ref, B, np.zeros(len(B), bool), KMAX)
        if not full or name == "code":
            continue
        for cap in CAPS:
            if len(rows) <= cap:
                continue
            pick = np.sort(np.random.default_rng(0).choice(len(rows), cap, replace=False))
            sub_in = np.zeros(len(X_tr), bool)
            sub_in[rows[pick]] = True
            out[f"knn_{name}_cap{cap}_tr"] = knn_distances(ref[pick], A, sub_in, KMAX)
            out[f"knn_{name}_cap{cap}_te"] = knn_distances(ref[pick], B, np.zeros(len(B), bool), KMAX)
    return out


def run_one(job: tuple[str, Path, int, bool, int]) -> None:
    import torch

    from hourglass.anomaly import AnomalyDetector

    try:
        from hourglass.training.batches import held_out_rows
    except ImportError:  # the layout before issue 22's split
        from hourglass.engine.train import held_out_rows

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    family, file, seed, wide, cap = job
    path = OUT / f"{file.stem}_s{seed}.npz"
    have = dict(np.load(path)) if path.exists() else None
    if have is not None and (not wide or "wide_ae_te" in have) and "ecod_te" in have:
        return
    t0 = time.perf_counter()
    X_tr, X_te, y_tr, y_te = split(file, seed, cap)
    _, rows = held_out_rows(len(X_tr), 0.1, seed)
    out: dict[str, np.ndarray] = {}
    if have is None:
        t = time.perf_counter()
        det = AnomalyDetector(seed=seed).fit(X_tr)
        out["fit_s"] = np.float64(time.perf_counter() - t)
        out |= detector_terms("", det, X_tr, X_te, np.sort(rows), full=True)
        for name in PEERS:
            t = time.perf_counter()
            m = peer(name, seed).fit(X_tr)
            out[f"peer_{name}_te"] = m.decision_function(X_te)
            out[f"peer_{name}_s"] = np.float64(time.perf_counter() - t)
        out |= {"y_te": y_te, "y_tr": y_tr, "rows": np.sort(rows), "family": np.array(family)}
        out |= {"folder": np.array(file.parent.name), "columns": np.int64(X_tr.shape[1]), "cap": np.int64(cap)}
    else:
        out = have
    if "ecod_te" not in out:  # per-column tails (PyOD's ECOD) fitted on the reference rows
        from pyod.models.ecod import ECOD

        m = ECOD().fit(X_tr[out["rows"]])
        out["ecod_tr"], out["ecod_te"] = m.decision_function(X_tr), m.decision_function(X_te)
    if wide and "wide_ae_te" not in out:
        d = X_tr.shape[1]
        latent = max(4, round(math.sqrt(d)))
        det = AnomalyDetector(latent_dim=latent, hidden=(max(32, 2 * latent),), seed=seed, iforest=False).fit(X_tr)
        out |= detector_terms("wide_", det, X_tr, X_te, np.sort(rows), full=False)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.rename(path)
    print(f"{file.stem} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--wide", action="store_true", help="also the wide-code detector's terms")
    p.add_argument("--only", default="", help="comma-separated dataset names")
    p.add_argument("--data", type=Path, help="another folder of .npz files (X, y), cached as --family")
    p.add_argument("--family", choices=sorted(FAMILIES), default="classical", help="the family --data belongs to")
    p.add_argument("--cap", type=int, default=0, help="cut --data's sets to this many rows first (0: no cut)")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    folders = {args.family: args.data} if args.data else FAMILIES
    cap = args.cap if args.data else 0
    jobs = []
    for family, folder in folders.items():
        for file in sorted(folder.glob("*.npz")):
            if args.only and file.stem not in args.only.split(","):
                continue
            if load(file, cap)[1].sum() < MIN_ANOMALIES:
                print(f"{file.stem}: fewer than {MIN_ANOMALIES} anomalies in {cap or 'all'} rows, skipped")
                continue
            jobs += [(family, file, seed, args.wide, cap) for seed in SEEDS]
    # Largest first, so the pool does not end on one long job.
    jobs.sort(key=lambda j: -os.path.getsize(j[1]))
    with mp.get_context("fork").Pool(args.workers) as pool:
        pool.map(run_one, jobs, chunksize=1)


if __name__ == "__main__":
    main()
