"""How fast ``placement="neighbors"`` places new rows, stage by stage, and how well (issue 24, point 3).

Run: ``python benchmarks/placement_speed.py --datasets 30_satellite --scale 5000,20000,60000`` (one core).
Each dataset is fitted once with ``structure="neighbors", placement="neighbors"`` (``--models DIR`` keeps the
fitted folders there and reuses them on the next run); then ``transform`` of the test rows is timed in CPU
seconds, the encoder alone and the placement's stages beside it, and the test rows' placed codes are scored
by 1-NN against the training rows' codes (as ``benchmarks/map.py`` scores them). Datasets and splits are
``map.py``'s (``--model mlp`` or ``conv`` for Fashion-MNIST's 28x28 images). Columns: index s, the CPU
seconds of the first call, which builds the search over the kept rows; placed and encoder rows/s, the
least CPU time of ``--repeats`` calls with and without the placement; the stages' CPU seconds within one
placed call (the rest of it: the encoder, the input's checks and scaling).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier

import hourglass as hg
from hourglass.training import placement as placement_module

sys.path.insert(0, str(Path(__file__).resolve().parent))
from map import datasets  # this folder's map.py: the same data and splits

STAGES = ("nearest", "fuzzy_weights", "settle", "_find")  # the placement's steps, in the order they run


def fitted(name: str, X: np.ndarray, model: str, models: Path | None) -> hg.Autoencoder:
    folder = models / f"{name}-{model}" if models else None
    if folder is not None and folder.is_dir():
        return hg.load(folder)
    settings = {"structure": "neighbors", "placement": "neighbors", "latent_dim": 2, "model": model}
    fit = hg.Autoencoder(**settings, device="cpu", seed=0).fit(X)
    if folder is not None:
        fit.save(folder)
    return fit


def cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The least CPU time of ``repeats`` calls (the machine may be shared: the least is the least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def stage_seconds(model: hg.Autoencoder, X_test: np.ndarray) -> dict[str, float]:
    """CPU seconds in each placement stage during one ``transform``, by wrapping the stages in timers."""
    spent: dict[str, float] = defaultdict(float)
    kept = model.runner_.placement
    saved = {}

    def timer(name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.process_time()
            out = fn(*args, **kwargs)
            spent[name] += time.process_time() - start
            return out

        return timed

    present = [name for name in STAGES if hasattr(placement_module, name) or hasattr(kept, name)]
    for name in present:
        if hasattr(placement_module, name):  # module functions: the place step calls them by their global name
            saved[name] = getattr(placement_module, name)
            setattr(placement_module, name, timer(name, saved[name]))
        else:
            setattr(kept, name, timer(name, getattr(kept, name)))
    try:
        model.transform(X_test)
    finally:
        for name in present:
            if name in saved:
                setattr(placement_module, name, saved[name])
            else:
                delattr(kept, name)
    return dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist7,digits,30_satellite,6_cardio", help="comma-separated")
    parser.add_argument("--scale", default="", help="Fashion-MNIST 7x7 training sizes, e.g. 5000,20000,60000")
    parser.add_argument("--model", default="auto")
    parser.add_argument("--models", default="", help="a folder to keep the fitted models in and reuse them from")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = Path(args.models) if args.models else None
    if models:
        models.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.datasets.split(",") if n]
    scale = [int(n) for n in args.scale.split(",") if n]
    stages = " | ".join(f"{s.strip('_')} s" for s in STAGES)
    print(f"| data | kept rows | test rows | index s | placed rows/s | encoder rows/s | encoder s | {stages} | 1-NN |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(STAGES) + "---:|")
    for name, (X, X_test, y, y_test) in datasets(names, scale).items():
        model = fitted(name, X, args.model, models)
        kept = model.runner_.placement
        index = cpu_seconds(lambda: model.transform(X_test[:64]), 1)  # noqa: B023 (the first call builds the search)
        placed = cpu_seconds(lambda: model.transform(X_test), args.repeats)  # noqa: B023 (called here)
        model.runner_.placement = None
        encoder = cpu_seconds(lambda: model.transform(X_test), args.repeats)  # noqa: B023
        model.runner_.placement = kept
        spent = stage_seconds(model, X_test)
        score = KNeighborsClassifier(1).fit(model.transform(X), y).score(model.transform(X_test), y_test)
        times = " | ".join(f"{spent.get(s, 0.0):.4f}" for s in STAGES)
        print(
            f"| {name} | {len(kept.rows):,} | {len(X_test):,} | {index:.2f} | {len(X_test) / placed:,.0f} | "
            f"{len(X_test) / encoder:,.0f} | {encoder:.4f} | {times} | {score:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
