"""Training speed and quality: hourglass defaults vs a plain PyTorch loop vs PCA-2, on two datasets.

Run: ``python benchmarks/train_speed.py`` (``--repeats 3`` for medians; ``--ablation`` adds what each
step of the recipe buys on digits: the defaults with one step undone at a time). Prints a Markdown table per
dataset: mnist7 (uint8 7x7 images) and scikit-learn's digits as flat rows in [0, 1] (``X = data / 16``,
64 columns, the way a scikit-learn user passes them). The reference is the loop a PyTorch user writes
first: features-128-64-2 ReLU MLP, sigmoid output, Adam 1e-3, batch 64, 100 epochs, batches sliced from
one tensor (no DataLoader). Both run on one thread so the comparison is about the training recipe, not
thread contention.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import platform
import statistics
import time
from typing import ClassVar

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from torch import nn

import hourglass as hg
from hourglass.training import schedule, train

# The defaults with one step of the recipe undone: TrainConfig fields, estimator parameters, or "fused".
ABLATIONS: dict[str, dict] = {
    "defaults": {},
    "Adam not fused (foreach, as the reference)": {"fused": False},
    "no learning-rate warmup": {"warmup": 1},
    "no learning-rate cut on plateaus": {"lr_patience": 0},
    "stop on 0.1% progress (min_delta 1e-3)": {"min_delta": 1e-3},
    "batch 64 (the reference's)": {"batch_size": 64},
    "lr 1e-3 (the reference's)": {"lr": 1e-3},
    "ReLU (the reference's)": {"activation": "relu"},
}


class _Ablated(hg.Autoencoder):
    """The estimator with some TrainConfig fields overridden (not parameters a user sets)."""

    overrides: ClassVar[dict] = {}

    def _train_config(self) -> train.TrainConfig:
        return dataclasses.replace(super()._train_config(), **self.overrides)


def reference_fit(
    X_train: np.ndarray, epochs: int = 100, batch: int = 64, seed: int = 0, sigmoid: bool = True
) -> nn.Module:
    """The loop a PyTorch user writes first (``sigmoid=False``: identity output, for standardised tables)."""
    torch.manual_seed(seed)
    widths = [X_train.shape[1], 128, 64, 2]
    enc, dec = [], []
    for a, b in itertools.pairwise(widths):
        enc += [nn.Linear(a, b), nn.ReLU()]
    for a, b in itertools.pairwise(widths[::-1]):
        dec += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*enc[:-1], *dec[:-1], nn.Sigmoid() if sigmoid else nn.Identity())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X = torch.as_tensor(X_train)
    for _ in range(epochs):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), batch):
            xb = X[perm[i : i + batch]]
            loss = nn.functional.mse_loss(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def timed_reference(X_train: np.ndarray, X_test: np.ndarray, seed: int) -> tuple[float, float]:
    """Seconds to fit the reference loop on ``X_train``, and its held-out MSE on ``X_test``."""
    start = time.perf_counter()
    ref = reference_fit(X_train, seed=seed)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        return seconds, float(torch.mean((ref(torch.as_tensor(X_test)) - torch.as_tensor(X_test)) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (median reported)")
    parser.add_argument("--encode-rows", type=int, default=1_000_000)
    parser.add_argument("--ablation", action="store_true", help="also time the recipe with one step undone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.ablation:
        ablation((load_digits().data / 16).astype(np.float32), args.repeats)

    mnist7 = compare("mnist7 (uint8 7x7 images)", hg.load_dataset("mnist7").X, 255.0, 3.0, args.repeats)
    digits = (load_digits().data / 16).astype(np.float32)
    compare("digits as flat rows in [0, 1]", digits, 1.0, 2.5, args.repeats)
    encode_speed(mnist7, args)


def compare(name: str, X: np.ndarray, unit: float, target: float, repeats: int) -> hg.Autoencoder:
    """Reference loop, hourglass defaults and PCA-2 on one dataset, in one run; prints the table."""
    X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
    Xtr = X_train.reshape(len(X_train), -1).astype(np.float32) / unit
    Xte = X_test.reshape(len(X_test), -1).astype(np.float32) / unit

    # Interleaved, reference then hourglass for each seed, so that a change in the machine's load falls on
    # both alike (this shared machine's load swings the time of a fit by 2x over minutes).
    times: dict[str, list[float]] = {"reference": [], "hourglass": []}
    mses: dict[str, list[float]] = {"reference": [], "hourglass": []}
    epochs = []
    for r in range(repeats):
        seconds, mse = timed_reference(Xtr, Xte, seed=r)
        times["reference"].append(seconds)
        mses["reference"].append(mse)
        start = time.perf_counter()
        model = hg.Autoencoder(latent_dim=2, seed=r).fit(X_train)
        times["hourglass"].append(time.perf_counter() - start)
        mses["hourglass"].append(float(np.mean(((model.reconstruct(X_test) - X_test) / unit) ** 2)))
        epochs.append(len(model.history_.train))
    ref_time, hg_time = statistics.median(times["reference"]), statistics.median(times["hourglass"])
    n_seen = statistics.median(epochs) * len(Xtr) * (1 - model.validation_fraction)
    rows = [
        (
            "PyTorch reference (100 epochs, batch 64)",
            ref_time,
            100 * len(Xtr) / ref_time,
            statistics.median(mses["reference"]),
            "100",
        ),
        (
            "hourglass defaults (early stop)",
            hg_time,
            n_seen / hg_time,
            statistics.median(mses["hourglass"]),
            f"{statistics.median(epochs):.0f}",
        ),
    ]

    start = time.perf_counter()
    pca = PCA(2).fit(Xtr)
    pca_time = time.perf_counter() - start
    pca_mse = float(np.mean((pca.inverse_transform(pca.transform(Xte)) - Xte) ** 2))
    rows.append(("PCA, 2 components", pca_time, float("nan"), pca_mse, "-"))

    print(
        f"\n### {name}\n\nmachine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"torch thread(s), torch {torch.__version__}, hourglass {hg.__version__}, {repeats} repeats (medians)\n"
    )
    print("| method | wall time (s) | samples/s | held-out MSE per pixel | epochs |")
    print("|---|---:|---:|---:|---:|")
    for name, t, sps, mse, ep in rows:
        sps_text = "-" if np.isnan(sps) else f"{sps:,.0f}"
        print(f"| {name} | {t:.2f} | {sps_text} | {mse:.5f} | {ep} |")
    verdict = "met" if hg_time <= ref_time / target and rows[1][3] <= rows[0][3] else "NOT met"
    print(
        f"\nspeed-up {ref_time / hg_time:.1f}x at MSE ratio {rows[1][3] / rows[0][3]:.3f} "
        f"(target: >= {target}x and ratio <= 1): {verdict}"
    )
    return model


@contextlib.contextmanager
def _recipe(step: dict):
    """Undo one step: patch the optimiser or the warmup for the duration, return what the estimator takes."""
    step = dict(step)
    saved = train.make_optimizer, schedule.WARMUP_STEPS
    if not step.pop("fused", True):
        train.make_optimizer = lambda model, lr, wd: torch.optim.Adam(  # type: ignore[assignment]
            model.parameters(), lr=lr, weight_decay=wd, foreach=True
        )
    schedule.WARMUP_STEPS = step.pop("warmup", schedule.WARMUP_STEPS)
    fields = {f.name for f in dataclasses.fields(train.TrainConfig)}
    params = set(hg.Autoencoder().get_params())
    _Ablated.overrides = {k: v for k, v in step.items() if k in fields and k not in params}
    try:
        yield {k: v for k, v in step.items() if k in params}
    finally:
        train.make_optimizer, schedule.WARMUP_STEPS = saved
        _Ablated.overrides = {}


def ablation(X: np.ndarray, repeats: int) -> None:
    """Digits rows: fit time and held-out MSE of the defaults and of each one-step-undone variant, with the
    reference loop in the same run; medians over seeds 0..repeats-1, the variants interleaved per seed."""
    X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
    times: dict[str, list[float]] = {name: [] for name in ["reference", *ABLATIONS]}
    mses: dict[str, list[float]] = {name: [] for name in times}
    epochs: dict[str, list[int]] = {name: [] for name in times}
    for seed in range(repeats):
        seconds, mse = timed_reference(X_train, X_test, seed=seed)
        times["reference"].append(seconds)
        mses["reference"].append(mse)
        epochs["reference"].append(100)
        for name, step in ABLATIONS.items():
            with _recipe(step) as params:
                start = time.perf_counter()
                model = _Ablated(latent_dim=2, seed=seed, **params).fit(X_train)
                times[name].append(time.perf_counter() - start)
            mses[name].append(float(np.mean((model.reconstruct(X_test) - X_test) ** 2)))
            epochs[name].append(len(model.history_.train))
    ref_time = statistics.median(times["reference"])
    base = statistics.median(times["defaults"])
    print(f"\n### What each step buys (digits rows, medians of {repeats} seeds, one run)\n")
    print("| recipe | fit s | speed-up over the reference | time vs defaults | held-out MSE | epochs |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in times:
        t = statistics.median(times[name])
        print(
            f"| {name} | {t:.2f} | {ref_time / t:.2f}x | {t / base:.2f}x | {statistics.median(mses[name]):.4f} "
            f"| {statistics.median(epochs[name]):.0f} |"
        )


def encode_speed(model: hg.Autoencoder, args: argparse.Namespace) -> None:
    """Rows/s of ``transform`` for the 49-pixel model."""
    big = np.random.default_rng(0).integers(0, 256, size=(args.encode_rows, 49)).astype(np.float32)
    model.transform(big[:1000])
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.transform(big)
        times.append(time.perf_counter() - start)
    t = statistics.median(times)
    print(
        f"\nencode: {args.encode_rows:,} rows x 49 features in {t:.3f} s = {args.encode_rows / t:,.0f} rows/s "
        f"(target >= 1,000,000 rows/s)"
    )


if __name__ == "__main__":
    main()
