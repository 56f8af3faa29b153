"""Which range ``scaling="auto"`` gives bounded data (pixels): candidate rules on many datasets.

Run: ``python benchmarks/scaling.py`` (a few minutes on one core). For every dataset (80/20 split, seed 0)
and every candidate rule it scales the data as the rule says, fits ``Autoencoder(latent_dim=2)`` on the
scaled rows (``scaling="none"``; a sigmoid output where the rule min-max scales, as ``auto`` does) for a
few epochs, and prints the held-out MSE **in the data's own units**, beside predicting the training mean
and PCA at the same width (also fitted in the data's units). Rules that scale a dataset the same way share
one fit. Then, leaving each dataset out in turn, it picks the rule with the best geometric-mean ratio to
the best rule on the *other* datasets (the simpler rule when within 1%) and reports how it does on the one
left out. The last column says which rule the library's own ``Scaler.fit(X, "auto")`` matches.

The rules differ in two things: which data counts as bounded (scaled by one global range, as pixels;
everything else is standardised per feature), and which range it gets:

- ``old``: bounded = images, uint8, values in [0, 1], or integers in [0, 255] over >= 16 columns; the
  nominal [0, 1] or [0, 255] whenever the data lies within it (the rule before issue 20), else its own.
- ``fill``: bounded as ``old``; the nominal range only when the data fills it (its own range spans at
  least half of it), else the data's own global min and max.
- ``own``: bounded as ``old``; always the data's own global min and max.
- ``zero``: bounded as ``old``; [0, max] for non-negative data (black stays 0), else its own min and max.
- ``pad``, ``pad2``: bounded as ``old``; its own min and max widened by 5% (2%) of their span on each
  side, so that no training value sits on an asymptote of the sigmoid output, where its slope vanishes.
- ``own+ints``: ``own``, and also non-negative integer data of any size over >= 16 columns counts as
  bounded (0..1000 counts, 12-bit pixels stored as flat rows).

Datasets: mnist7 and digits8 (``hg.load_dataset``), scikit-learn's bundled sets (digits as flat float
rows 0..16 and in [0, 1], breast cancer, wine, diabetes, iris), the normal rows of ADBench tables from
``../shared/data/adbench``, and mnist7 transformed: to -1..1 floats (images and rows), 12-bit and 16-bit
uint16 (images; 12-bit also as rows), 0..1000 integer rows, dark images (max 100), [0, 1] float rows and
thermal images in kelvin (293..313, floats).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn import datasets as skd
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

import hourglass as hg
from hourglass.data.scaling import Scaler

PIXEL_MIN_COLUMNS = 16
ADBENCH = ("30_satellite", "4_breastw", "6_cardio", "18_Ionosphere", "2_annthyroid", "27_PageBlocks", "43_WDBC")
# Simplest first: on a near-tie (within TIE) the earlier rule wins.
RULES = ("own", "zero", "pad2", "pad", "fill", "own+ints", "old")
TIE = 0.01

# A rule maps (training rows (n, features) as float64, whether the estimator sees images) to
# ("minmax", lo, hi) for one global range, or ("standard", None, None) for per-feature standardising.
Rule = Callable[[np.ndarray, bool], tuple[str, float | None, float | None]]


def _integers(X: np.ndarray) -> bool:
    return bool(np.all(np.round(X) == X))


def _bounded_old(X: np.ndarray, images: bool) -> bool:
    low, high = X.min(), X.max()
    unit = low >= 0 and high <= 1
    pixels = _integers(X) and low >= 0 and high <= 255 and X.shape[1] >= PIXEL_MIN_COLUMNS
    return bool(images or unit or pixels)


def _nominal(X: np.ndarray) -> tuple[float, float] | None:
    low, high = X.min(), X.max()
    if low >= 0 and high <= 1:
        return 0.0, 1.0
    if low >= 0 and high <= 255 and _integers(X):
        return 0.0, 255.0
    return None


def rule_old(X: np.ndarray, images: bool) -> tuple[str, float | None, float | None]:
    if not _bounded_old(X, images):
        return "standard", None, None
    return "minmax", *(_nominal(X) or (X.min(), X.max()))


def rule_fill(X: np.ndarray, images: bool) -> tuple[str, float | None, float | None]:
    if not _bounded_old(X, images):
        return "standard", None, None
    nominal = _nominal(X)
    if nominal is not None and X.max() - X.min() >= (nominal[1] - nominal[0]) / 2:
        return "minmax", *nominal
    return "minmax", X.min(), X.max()


def rule_own(X: np.ndarray, images: bool) -> tuple[str, float | None, float | None]:
    if not _bounded_old(X, images):
        return "standard", None, None
    return "minmax", X.min(), X.max()


def rule_zero(X: np.ndarray, images: bool) -> tuple[str, float | None, float | None]:
    if not _bounded_old(X, images):
        return "standard", None, None
    return "minmax", min(X.min(), 0.0), X.max()


def padded(share: float) -> Rule:
    def rule(X: np.ndarray, images: bool) -> tuple[str, float | None, float | None]:
        if not _bounded_old(X, images):
            return "standard", None, None
        margin = share * (X.max() - X.min())
        return "minmax", X.min() - margin, X.max() + margin

    return rule


def rule_own_ints(X: np.ndarray, images: bool) -> tuple[str, float | None, float | None]:
    counts = _integers(X) and X.min() >= 0 and X.shape[1] >= PIXEL_MIN_COLUMNS
    if not (_bounded_old(X, images) or counts):
        return "standard", None, None
    return "minmax", X.min(), X.max()


CANDIDATES: dict[str, Rule] = {
    "old": rule_old,
    "fill": rule_fill,
    "own": rule_own,
    "zero": rule_zero,
    "pad": padded(0.05),
    "pad2": padded(0.02),
    "own+ints": rule_own_ints,
}


def datasets(adbench: Path) -> dict[str, np.ndarray]:
    """Name -> X as a user would pass it (dtype and shape matter: uint8 and ndim > 2 mean images)."""
    mnist = hg.load_dataset("mnist7").X
    m = mnist.astype(np.float64) / 255
    out: dict[str, np.ndarray] = {
        "mnist7": mnist,
        "digits8": hg.load_dataset("digits8").X,
        "sk digits rows 0..16": skd.load_digits().data,
        "sk digits rows [0,1]": skd.load_digits().data / 16,
        "breast cancer": skd.load_breast_cancer().data,
        "wine": skd.load_wine().data,
        "diabetes": skd.load_diabetes(scaled=False).data,
        "iris": skd.load_iris().data,
    }
    for name in ADBENCH:
        file = adbench / f"{name}.npz"
        if file.exists():
            data = np.load(file)
            X = data["X"][data["y"] == 0]  # the stored dtype: satellite and breastw are uint8
            out["ad " + name.split("_", 1)[1]] = X[np.random.default_rng(0).permutation(len(X))[:5_000]]
        else:
            print(f"{file}: not found, skipped")
    out |= {
        "mnist7 -1..1 images": (2 * m - 1).astype(np.float32),
        "mnist7 -1..1 rows": (2 * m - 1).astype(np.float32).reshape(len(m), -1),
        "mnist7 12-bit images": np.round(4095 * m).astype(np.uint16),
        "mnist7 12-bit rows": np.round(4095 * m).astype(np.uint16).reshape(len(m), -1),
        "mnist7 16-bit images": np.round(65535 * m).astype(np.uint16),
        "mnist7 0..1000 rows": np.round(1000 * m).astype(np.int64).reshape(len(m), -1),
        "mnist7 dark (max 100)": np.round(100 * m).astype(np.uint8),
        "mnist7 [0,1] rows": m.astype(np.float32).reshape(len(m), -1),
        # thermal images in kelvin: a 20 K span far from 0, where a range anchored at 0 is the digits bug again
        "mnist7 thermal 293..313 K": (293 + 20 * m).astype(np.float32),
    }
    return out


def _sees_images(X: np.ndarray) -> bool:
    """What the estimator treats as images (``Autoencoder.fit``): uint8, or ndim > 2."""
    return X.dtype == np.uint8 or X.ndim > 2


def scaler_for(decision: tuple[str, float | None, float | None], train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offset, scale) per feature for a rule's decision on the flat training rows."""
    kind, lo, hi = decision
    if kind == "standard":
        s = Scaler.fit(train, "standard", clip=False)
        return s.offset.astype(np.float64), s.scale.astype(np.float64)
    assert lo is not None and hi is not None
    n = train.shape[1]
    return np.full(n, lo), np.full(n, (hi - lo) if hi > lo else 1.0)


def fit_mse(X_train: np.ndarray, X_test: np.ndarray, decision: tuple, epochs: int, seed: int) -> tuple[float, int]:
    """(held-out MSE in the data's units, best epoch) for one way of scaling."""
    flat_train = X_train.reshape(len(X_train), -1).astype(np.float64)
    offset, scale = scaler_for(decision, flat_train)

    def scaled(X: np.ndarray) -> np.ndarray:
        return ((X.reshape(len(X), -1) - offset) / scale).astype(np.float32).reshape(X.shape)

    output = "sigmoid" if decision[0] == "minmax" else "identity"
    model = hg.Autoencoder(latent_dim=2, epochs=epochs, seed=seed, scaling="none", output_activation=output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the benchmark reads the numbers itself
        model.fit(scaled(X_train))
    rebuilt = model.reconstruct(scaled(X_test)).reshape(len(X_test), -1).astype(np.float64) * scale + offset
    flat_test = X_test.reshape(len(X_test), -1).astype(np.float64)
    return float(np.mean((rebuilt - flat_test) ** 2)), model.history_.best_epoch


def baselines(X_train: np.ndarray, X_test: np.ndarray, width: int) -> tuple[float, float]:
    """Held-out MSE of the training mean and of PCA at ``width`` components, in the data's units."""
    a = X_train.reshape(len(X_train), -1).astype(np.float64)
    b = X_test.reshape(len(X_test), -1).astype(np.float64)
    mean = float(np.mean((b - a.mean(axis=0)) ** 2))
    pca = PCA(min(width, *a.shape), random_state=0).fit(a)
    return mean, float(np.mean((pca.inverse_transform(pca.transform(b)) - b) ** 2))


def auto_matches(X_train: np.ndarray, decisions: dict[str, tuple]) -> str:
    """Which rules the library's ``Scaler.fit(X, "auto")`` agrees with on these rows."""
    flat = X_train.reshape(len(X_train), -1)
    auto = Scaler.fit(flat, "auto", images=_sees_images(X_train), clip=False)
    same = []
    for name, decision in decisions.items():
        offset, scale = scaler_for(decision, flat.astype(np.float64))
        alike = np.allclose(offset, auto.offset, rtol=1e-5) and np.allclose(scale, auto.scale, rtol=1e-5)
        if decision[0] == auto.kind and alike:
            same.append(name)
    return ",".join(same) or "none"


def _key(decision: tuple) -> tuple:
    return tuple(x if isinstance(x, str) or x is None else round(float(x), 9) for x in decision)


def choose(ratios: dict[str, dict[str, float]], among: list[str], rules: list[str]) -> str:
    """Of ``rules``, the one with the best geometric-mean ratio to each dataset's best rule over the datasets
    ``among`` (the simpler on a near-tie)."""
    score = {r: math.exp(np.mean([math.log(ratios[d][r]) for d in among])) for r in rules}
    best = min(score.values())
    return next(r for r in rules if score[r] <= best * (1 + TIE))


def baseline_cost() -> None:
    """What the held-out comparison every fit now makes (``engine.baselines``) adds to the fit's time."""
    from hourglass.training import train

    spent: list[float] = []
    original = train._against_baselines

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        spent.append(time.perf_counter() - start)
        return out

    rows = np.random.default_rng(0).integers(0, 256, size=(20_000, 784), dtype=np.uint8).astype(np.float32)
    cases = {
        "digits8 (defaults)": (hg.load_dataset("digits8").X, 200),
        "mnist7 (defaults)": (hg.load_dataset("mnist7").X, 200),
        "20,000 x 784 rows, 3 epochs": (rows, 3),
    }
    train._against_baselines = timed
    try:
        print("| data | fit s | of which the baselines, s | share |")
        print("|---|---:|---:|---:|")
        for name, (X, epochs) in cases.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = hg.Autoencoder(epochs=epochs, seed=0).fit(X)
            total = model.history_.seconds
            print(f"| {name} | {total:.2f} | {spent[-1]:.3f} | {spent[-1] / total:.1%} |", flush=True)
    finally:
        train._against_baselines = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adbench", nargs="?", default=Path(__file__).parents[2] / "shared/data/adbench", type=Path)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=1, help="fits per rule and dataset (the MSE is their mean)")
    parser.add_argument("--only", nargs="*", help="dataset names to run (default: all)")
    parser.add_argument("--cost", action="store_true", help="only time the baselines every fit computes")
    parser.add_argument("--among", nargs="*", default=list(RULES), help="the rules the choice may pick")
    args = parser.parse_args()
    if args.cost:
        baseline_cost()
        return

    sets = datasets(args.adbench)
    if args.only:
        sets = {k: v for k, v in sets.items() if k in args.only}
    mse: dict[str, dict[str, float]] = {}
    header = ["dataset", "shape", "range", *RULES, "mean", "PCA-2", "auto is"]
    rows = []
    for name, X in sets.items():
        X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
        flat = X_train.reshape(len(X_train), -1).astype(np.float64)
        decisions = {r: CANDIDATES[r](flat, _sees_images(X_train)) for r in RULES}
        fits: dict[tuple, tuple[float, int]] = {}  # rules that scale alike share a fit
        for decision in decisions.values():
            if _key(decision) not in fits:
                runs = [fit_mse(X_train, X_test, decision, args.epochs, seed) for seed in range(args.seeds)]
                # the mean MSE over seeds, and how many seeds kept epoch 1
                fits[_key(decision)] = float(np.mean([r[0] for r in runs])), sum(r[1] == 1 for r in runs)
        keyed = {r: fits[_key(d)] for r, d in decisions.items()}
        mse[name] = {r: keyed[r][0] for r in RULES}
        mean, pca = baselines(X_train, X_test, 2)
        best = min(mse[name].values())
        cells = []
        for r in RULES:
            value, dead = keyed[r]
            tag = "**" if value <= best * (1 + TIE) else ""
            kind = "mm" if decisions[r][0] == "minmax" else "std"
            cells.append(f"{tag}{value:.4g}{tag} ({kind}{f', {dead} at epoch 1' if dead else ''})")
        span = f"{X.min():g}..{X.max():g} {X.dtype}"
        row = [name, "x".join(map(str, X.shape)), span, *cells, f"{mean:.4g}", f"{pca:.4g}"]
        row.append(auto_matches(X_train, decisions))
        rows.append(row)
        print(" | ".join(row), flush=True)

    ratios = {d: {r: mse[d][r] / min(mse[d].values()) for r in RULES} for d in mse}
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * 3 + "---:|" * (len(RULES) + 2) + "---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("Held-out MSE in the data's units (mean of seeds); ** = within 1% of the dataset's best rule;")
    print("mm = one global min-max range, std = standardised per feature; 'k at epoch 1': k seeds kept epoch 1.")
    print()
    names = list(mse)
    eligible = [r for r in RULES if r in args.among]
    print("leave-one-dataset-out: rule chosen on the others, and its MSE / the best rule's on the one left out")
    chosen = {}
    for d in names:
        chosen[d] = choose(ratios, [o for o in names if o != d], eligible)
        print(f"  {d}: {chosen[d]} ({ratios[d][chosen[d]]:.3f})")
    for r in RULES:
        worst = max(ratios[d][r] for d in names)
        geo = math.exp(np.mean([math.log(ratios[d][r]) for d in names]))
        print(f"rule {r}: geometric-mean ratio to the best {geo:.3f}, worst {worst:.2f}")


if __name__ == "__main__":
    main()
