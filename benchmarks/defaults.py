"""Choose the Autoencoder's defaults on many datasets, never on one: leave-one-dataset-out.

Run: ``python benchmarks/defaults.py`` (about 10 minutes on one core). For every dataset (80/20
split, seed 0) and every candidate setting it fits ``Autoencoder(latent_dim=2, **setting)`` and
prints held-out MSE (in the units the data's own scaling gives, so datasets are comparable as
ratios to PCA's MSE at the same width) and fit time, beside PCA-2 and the plain PyTorch loop of
``benchmarks/train_speed.py``. Then, for each dataset, it picks the setting with the best mean
log-ratio to PCA on the *other* datasets and reports how that choice does on the held-out one.

Datasets: mnist7 (7x7 images), scikit-learn's digits as flat rows in [0, 1], Fashion-MNIST (a
2,000-image subset, when installed), scikit-learn's breast-cancer and diabetes tables, and the
normal rows of six ADBench tables from ``../shared/data/adbench``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from train_speed import reference_fit  # the plain loop, beside this script

import hourglass as hg
from hourglass.errors import HourglassError

CANDIDATES = {
    "relu lr 1e-2": {"activation": "relu", "lr": 1e-2},
    "relu lr 3e-3": {"activation": "relu", "lr": 3e-3},
    "gelu lr 1e-2": {"activation": "gelu", "lr": 1e-2},
    "gelu lr 3e-3": {"activation": "gelu", "lr": 3e-3},
    "silu lr 1e-2": {"activation": "silu", "lr": 1e-2},
    "silu lr 3e-3": {"activation": "silu", "lr": 3e-3},
}
ADBENCH = ("6_cardio", "30_satellite", "27_PageBlocks", "2_annthyroid", "23_mammography", "47_yeast")


def datasets(adbench: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"mnist7": hg.load_dataset("mnist7").X}
    out["digits rows"] = (load_digits().data / 16).astype(np.float32)
    try:
        fashion = hg.load_dataset("fashion").X
        out["fashion 2k"] = fashion[np.random.default_rng(0).choice(len(fashion), 2000, replace=False)]
    except HourglassError:
        print("fashion: not installed, skipped")
    out["breast cancer"] = load_breast_cancer().data.astype(np.float32)
    out["diabetes"] = load_diabetes(scaled=False).data.astype(np.float32)
    for name in ADBENCH:
        file = adbench / f"{name}.npz"
        if file.exists():
            data = np.load(file)
            X = data["X"][data["y"] == 0].astype(np.float32)
            out[name.split("_", 1)[1]] = X[np.random.default_rng(0).permutation(len(X))[:10_000]]
    return out


def scaled_mse(model: hg.Autoencoder, X: np.ndarray, rebuilt: np.ndarray) -> float:
    """MSE in the model's scaled units, so every dataset's numbers are on a comparable footing."""
    flat = lambda a: a.reshape(len(a), -1).astype(np.float32)  # noqa: E731
    s = model.scaler_
    return float(np.mean(((flat(rebuilt) - flat(X)) / s.scale) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adbench", nargs="?", default=Path(__file__).parents[2] / "shared/data/adbench", type=Path)
    parser.add_argument("--no-reference", action="store_true", help="skip the plain PyTorch loop (slow)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    mse: dict[tuple[str, str], float] = {}
    secs: dict[tuple[str, str], float] = {}
    names = list(CANDIDATES)
    sets = datasets(args.adbench)
    for dname, X in sets.items():
        Xtr, Xte = train_test_split(X, test_size=0.2, random_state=0)
        for cname, setting in CANDIDATES.items():
            start = time.perf_counter()
            model = hg.Autoencoder(latent_dim=2, seed=0, **setting).fit(Xtr)
            secs[dname, cname] = time.perf_counter() - start
            mse[dname, cname] = scaled_mse(model, Xte, model.reconstruct(Xte))
        scaler = model.scaler_
        Str = scaler.transform(Xtr.reshape(len(Xtr), -1))
        Ste = scaler.transform(Xte.reshape(len(Xte), -1))
        start = time.perf_counter()
        pca = PCA(2).fit(Str)
        secs[dname, "PCA-2"] = time.perf_counter() - start
        mse[dname, "PCA-2"] = float(np.mean((pca.inverse_transform(pca.transform(Ste)) - Ste) ** 2))
        if not args.no_reference:
            start = time.perf_counter()
            ref = reference_fit(Str, sigmoid=False)
            secs[dname, "reference"] = time.perf_counter() - start
            with torch.no_grad():
                mse[dname, "reference"] = float(torch.mean((ref(torch.as_tensor(Ste)) - torch.as_tensor(Ste)) ** 2))
        row = " ".join(f"{c}={mse[dname, c]:.4f}/{secs[dname, c]:.1f}s" for c in [*names, "PCA-2"])
        print(f"{dname} ({X.shape[0]} rows, scaling {scaler.kind}): {row}", flush=True)

    columns = [*names, "PCA-2"] + ([] if args.no_reference else ["reference"])
    print("\nHeld-out MSE in scaled units (fit seconds), latent 2, seed 0\n")
    print("| dataset | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for dname in sets:
        cells = [f"{mse[dname, c]:.4f} ({secs[dname, c]:.1f})" for c in columns]
        print(f"| {dname} | " + " | ".join(cells) + " |")

    def score(cname: str, among: list[str]) -> float:
        """Mean log of MSE relative to PCA-2: lower is better, every dataset weighs the same."""
        return statistics.mean(math.log(mse[d, cname] / mse[d, "PCA-2"]) for d in among)

    print("\nLeave-one-dataset-out: the setting chosen without each dataset, and how it does on it\n")
    print("| held out | chosen on the rest | its MSE / best MSE on the held-out set | best there |")
    print("|---|---|---:|---|")
    for dname in sets:
        rest = [d for d in sets if d != dname]
        chosen = min(names, key=lambda c: score(c, rest))
        best = min(names, key=lambda c: mse[dname, c])
        print(f"| {dname} | {chosen} | {mse[dname, chosen] / mse[dname, best]:.3f} | {best} |")
    everything = list(sets)
    print("\nMean log-ratio to PCA-2 over all datasets (lower is better):")
    for cname in sorted(names, key=lambda c: score(c, everything)):
        total = sum(secs[d, cname] for d in everything)
        print(f"  {cname}: {score(cname, everything):+.3f}  (total fit {total:.0f} s)")


if __name__ == "__main__":
    main()
