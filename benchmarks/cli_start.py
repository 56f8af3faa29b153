"""Start-up time of the ``hourglass`` command line: what a user waits for before any work starts.

Run: ``python benchmarks/cli_start.py [--repeat 5] [--only info,encode]``. Trains a tiny model on
mnist7 in a temporary folder (for the commands that take one), then times each command in a fresh
process (``python -m hourglass``, what the ``hourglass`` script runs): ``--help``, every
``<command> --help``, ``info MODEL``, and the inference commands ``encode MODEL mnist7``,
``decode MODEL codes.npy`` and ``reconstruct MODEL mnist7``. Prints a Markdown table of the median wall
time and the median import times ``python -X importtime`` reports: all imports, and per top-level package
(torch, sklearn, scipy, pandas, hourglass) the sum of its modules' own times, so that what torch imports of
numpy counts as numpy's and a package's column is its own import alone.
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
PACKAGES = ("torch", "sklearn", "scipy", "pandas", "hourglass")


def hourglass(*args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run([sys.executable, *flags, "-m", "hourglass", *args], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"hourglass {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


def import_seconds(args: list[str]) -> dict[str, float]:
    """Seconds of import, from one run under ``-X importtime``: ``"all"``, and each of ``PACKAGES``' own
    (the self times of its modules, summed: every module's time counts once, for its own package)."""
    seconds = dict.fromkeys(("all", *PACKAGES), 0.0)
    for line in hourglass(*args, importtime=True).stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().partition(".")[0]
        seconds["all"] += int(own) / 1e6
        if package in seconds:
            seconds[package] += int(own) / 1e6
    return seconds


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
        model, codes = str(Path(tmp) / "model"), str(Path(tmp) / "codes.npy")
        hourglass("train", "mnist7", "--hidden", "8", "--epochs", "1", "--quiet", "--out", model)
        hourglass("encode", model, "mnist7", "-o", codes)  # what decode reads
        rows = [
            ["--help"],
            *([c, "--help"] for c in COMMANDS),
            ["info", model],
            ["encode", model, "mnist7", "-o", str(Path(tmp) / "z.npy")],
            ["decode", model, codes, "-o", str(Path(tmp) / "decoded.npy")],
            ["reconstruct", model, "mnist7", "-o", str(Path(tmp) / "rebuilt.npy")],
        ]
        only = set(args.only.split(",")) if args.only else None
        print(f"| command | wall | imports | {' | '.join(PACKAGES)} |")
        print(f"|---|---:|---:|{'---:|' * len(PACKAGES)}")
        for row in rows:
            if only and row[0] not in only:
                continue
            wall = wall_seconds(row, args.repeat)
            runs = [import_seconds(row) for _ in range(args.repeat)]
            imports = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            shown = " ".join("MODEL" if a == model else Path(a).name if a.startswith(tmp) else a for a in row)
            cells = " | ".join(f"{imports[key]:.2f} s" for key in ("all", *PACKAGES))
            print(f"| hourglass {shown} | {wall:.2f} s | {cells} |", flush=True)
        print(f"\nMedians of {args.repeat} runs each; a package's column is its modules' own import time.")


if __name__ == "__main__":
    main()
