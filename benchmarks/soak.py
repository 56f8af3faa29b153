"""Soak: train, score, save, load and render repeatedly for a bounded time; report memory growth.

Run: ``python benchmarks/soak.py --seconds 60``. Target: no RSS growth beyond noise after warm-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import hourglass as hg
from hourglass.explorer import write_explorer


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_round(X: np.ndarray, y: np.ndarray, folder: Path, seed: int) -> None:
    model = hg.Autoencoder(hidden=(32,), epochs=5, seed=seed).fit(X)
    model.transform(X)
    model.score_samples(X)
    model.save(folder / "model")
    again = hg.load(folder / "model")
    again.sample(16, seed=seed)
    write_explorer(again, X[:500], y[:500], folder / "explorer.html")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="rounds before the baseline is taken")
    args = parser.parse_args()

    data = hg.load_dataset("mnist7")
    X, y = data.X[:2000], data.y[:2000]
    start_rss = rss_mib()
    readings = []
    with tempfile.TemporaryDirectory() as tmp:
        deadline = time.perf_counter() + args.seconds
        i = 0
        while time.perf_counter() < deadline or i < args.warmup + 2:
            one_round(X, y, Path(tmp), seed=i)
            readings.append(rss_mib())
            i += 1
    base = readings[args.warmup - 1]
    growth = readings[-1] - base
    per_round = growth / max(len(readings) - args.warmup, 1)
    print("| rounds | RSS start (MiB) | after warm-up | end | growth after warm-up | per round |")
    print("|---:|---:|---:|---:|---:|---:|")
    cells = [f"{len(readings)}", f"{start_rss:.1f}", f"{base:.1f}", f"{readings[-1]:.1f}", f"{growth:+.1f} MiB"]
    print(f"| {' | '.join(cells)} | {per_round:+.3f} MiB |")
    verdict = "met" if growth < 10 else "NOT met"
    print(f"\ntarget: no growth beyond noise (< 10 MiB after warm-up): {verdict}")


if __name__ == "__main__":
    main()
