"""Start-up time of the ``hourglass`` command line: what a user waits for before any work starts.

Run: ``python benchmarks/cli_start.py [--repeat 5] [--only info,encode]``. Trains a tiny model on
mnist7 in a temporary folder (for ``info`` and ``encode``), then times each command in a fresh
process (``python -m hourglass``, what the ``hourglass`` script runs): ``--help``, every
``<command> --help``, ``info MODEL`` and ``encode MODEL mnist7``. Prints a Markdown table of the
median wall time, the total import time ``python -X importtime`` reports (the cumulative times of
the top-level imports, summed) and how much of it torch's own import took.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hourglass.cli import COMMANDS

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def hourglass(*args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run([sys.executable, *flags, "-m", "hourglass", *args], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"hourglass {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


def import_seconds(args: list[str]) -> tuple[float, float]:
    """(all imports, torch's) in seconds, from one run under ``-X importtime``."""
    total = torch = 0.0
    for line in hourglass(*args, importtime=True).stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name[1:].startswith(" "):  # a top-level import: its cumulative time holds its children's
            total += int(cumulative) / 1e6
        if name.strip() == "torch":
            torch = int(cumulative) / 1e6
    return total, torch


def wall_seconds(args: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        hourglass(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command; the median is shown")
    parser.add_argument("--only", help="comma-separated subset of the rows' first words (e.g. --help,info,encode)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = str(Path(tmp) / "model")
        hourglass("train", "mnist7", "--hidden", "8", "--epochs", "1", "--quiet", "--out", model)
        rows = [
            ["--help"],
            *([c, "--help"] for c in COMMANDS),
            ["info", model],
            ["encode", model, "mnist7", "-o", str(Path(tmp) / "codes.npy")],
        ]
        only = set(args.only.split(",")) if args.only else None
        print(f"| command | wall (median of {args.repeat}) | imports | of which torch |")
        print("|---|---:|---:|---:|")
        for row in rows:
            if only and row[0] not in only:
                continue
            wall = wall_seconds(row, args.repeat)
            total, torch = import_seconds(row)
            shown = " ".join("MODEL" if a == model else Path(a).name if a.startswith(tmp) else a for a in row)
            print(f"| hourglass {shown} | {wall:.2f} s | {total:.2f} s | {torch:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
