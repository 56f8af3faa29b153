"""Multi-process training: ``torchrun --nproc-per-node N -m hourglass train`` against one process.

Run: ``python benchmarks/distributed.py`` (uses Fashion-MNIST when Debian's dataset-fashion-mnist is
installed, else mnist7 tiled to 60,000 rows). Every run is the real command line with the same total
batch (1 x 128 against N x 128/N), a fixed epoch budget and no early stop, so the runs do the same
number of optimiser steps on the same data. "train s" is the training loop's own time (from the saved
history), "wall s" includes start-up, the process group and the model write; held-out MSE is per pixel
in [0, 1] on data no run trained on. Each configuration runs ``--repeats`` times; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import hourglass as hg


def data() -> tuple[str, np.ndarray, np.ndarray]:
    try:
        return "fashion (28x28, MLP)", hg.load_dataset("fashion").X, hg.load_dataset("fashion-test").X
    except hg.HourglassError:
        X = hg.load_dataset("mnist7").X
        return "mnist7 tiled (7x7)", np.tile(X[:4000], (15, 1, 1)), X[4000:]


def run(processes: int, folder: Path, epochs: int, batch: int, seed: int) -> tuple[float, float, hg.Autoencoder]:
    out = folder / f"p{processes}-s{seed}"
    args = ["-m", "hourglass", "train", "train.npy", "--out", str(out), "--model", "mlp", "--quiet"]
    args += ["--epochs", str(epochs), "--patience", "0", "--batch-size", str(batch // processes), "--seed", str(seed)]
    if processes > 1:
        args = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes), *args]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=folder, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{processes}-process run failed (exit {done.returncode})")
    wall = time.perf_counter() - start
    model = hg.load(out)
    return wall, model.history_.seconds, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2", help="process counts to compare (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=128, help="total batch over all processes")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration, seeds 0.. (medians)")
    args = parser.parse_args()

    name, X, X_test = data()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.save(folder / "train.npy", X)
        for n in (int(p) for p in args.processes.split(",")):
            walls, trains, errors = [], [], []
            for seed in range(args.repeats):
                wall, seconds, model = run(n, folder, args.epochs, args.batch, seed)
                rebuilt = model.reconstruct(X_test).astype(np.float64)
                walls.append(wall)
                trains.append(seconds)
                errors.append(float(np.mean(((rebuilt - X_test) / 255.0) ** 2)))
            rows.append((n, statistics.median(walls), statistics.median(trains), statistics.median(errors)))

    print(
        f"{name}: {len(X):,} training rows, {args.epochs} epochs, total batch {args.batch}, medians of "
        f"{args.repeats}; {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, 1 thread/process"
    )
    print()
    print("| processes | batch per process | wall s | train s | samples/s | speed-up | held-out MSE |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[0][2]
    for n, wall, seconds, error in rows:
        rate = len(X) * 0.9 * args.epochs / seconds  # the 10% validation split is not trained on
        print(
            f"| {n} | {args.batch // n} | {wall:.1f} | {seconds:.1f} | {rate:,.0f} | {base / seconds:.2f}x "
            f"| {error:.5f} |"
        )


if __name__ == "__main__":
    main()
