"""How long the ``hourglass`` command line makes a user wait: for an answer to a mistake, and for small jobs.

Run: ``python benchmarks/cli_start.py [--repeat 5] [--only train,encode] [--before OLD/src] [--imports]``.

It writes scikit-learn's breast-cancer table as a CSV (569 rows, the text label ``diagnosis``) and a
1,000-row CSV drawn from it, trains a model and a detector on them in a temporary folder, then times each
case in a fresh process (``python -m hourglass``, what the ``hourglass`` script runs) and prints a Markdown
table of the median wall time against its target:

- usage errors (a misspelt flag, a bad value) and missing paths (model folder, data file) for several
  commands: answered within ``ERROR_TARGET`` seconds;
- ``train`` of the 569-row table: within ``TRAIN_TARGET``;
- ``encode`` and ``score`` of the 1,000 rows: within ``INFERENCE_TARGET``.

``--before OLD/src`` times a second source tree too (e.g. ``git archive HEAD~5 src | tar -x -C /tmp/old``),
run by run interleaved with this one, so both share the machine's load. ``--imports`` adds the start-up
table: ``--help``, every ``<command> --help``, ``info``, and the inference commands on mnist7, with the
median import times ``python -X importtime`` reports, all and per top-level package (the sum of its
modules' own times, so that what torch imports of numpy counts as numpy's).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hourglass.cli import COMMANDS

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
PACKAGES = ("torch", "sklearn", "scipy", "pandas", "matplotlib", "hourglass")
ERROR_TARGET, TRAIN_TARGET, INFERENCE_TARGET = 0.3, 3.0, 2.5


def hourglass(
    *args: str, src: str | None = None, importtime: bool = False, code: int = 0
) -> subprocess.CompletedProcess:
    """Run ``python -m hourglass ARGS`` (from ``src`` when given) and check it exits with ``code``."""
    flags = ["-X", "importtime"] if importtime else []
    env = {**ENV, "PYTHONPATH": src} if src else ENV
    done = subprocess.run([sys.executable, *flags, "-m", "hourglass", *args], capture_output=True, text=True, env=env)
    if done.returncode != code:
        raise SystemExit(f"hourglass {' '.join(args)} exited {done.returncode}, not {code}:\n{done.stderr[-2000:]}")
    return done


def timed(args: list[str], src: str | None, code: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run: on a loaded machine the CPU time is the steadier of the two."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    hourglass(*args, src=src, code=code)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def make_tables(folder: Path) -> tuple[Path, Path]:
    """breast_cancer.csv (569 rows, 30 numbers and the label ``diagnosis``, M or B) and 1,000 rows drawn from it."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["diagnosis"] = np.where(bunch.target == 0, "M", "B")
    small, large = folder / "breast_cancer.csv", folder / "rows1000.csv"
    frame.to_csv(small, index=False)
    frame.iloc[np.random.default_rng(0).integers(0, len(frame), 1000)].to_csv(large, index=False)
    return small, large


def target_cases(
    tmp: Path, table: Path, rows: Path, model: Path, detector: Path
) -> list[tuple[str, list[str], int, float]]:
    """(what, arguments, exit code, target seconds) for every timed case; ``{n}`` in an argument is the run's number."""
    t, r, m, d, gone = str(table), str(rows), str(model), str(detector), str(tmp / "no-such")
    label = ["--label", "diagnosis"]
    error = [
        ("misspelt flag", ["train", t, "--latnet", "2"]),
        ("misspelt flag", ["encode", m, t, "-o", str(tmp / "z.csv"), "--lable", "diagnosis"]),
        ("misspelt flag", ["score", d, t, "-o", str(tmp / "s.csv"), "--alhpa", "0.1"]),
        ("misspelt flag", ["sample", m, "-o", str(tmp / "s.npy"), "--seeed", "1"]),
        ("missing model folder", ["encode", gone, t, "-o", str(tmp / "z.csv")]),
        ("missing model folder", ["score", gone, t, "-o", str(tmp / "s.csv")]),
        ("missing model folder", ["sample", gone, "-o", str(tmp / "s.npy")]),
        ("missing model folder", ["plot", gone, t, "-o", str(tmp / "figures")]),
        ("missing model folder", ["info", gone]),
        ("missing data file", ["train", gone + ".csv"]),
        ("missing data file", ["encode", m, gone + ".csv", "-o", str(tmp / "z.csv")]),
        ("missing data file", ["score", d, gone + ".csv", "-o", str(tmp / "s.csv")]),
        ("bad value", ["train", t, "--epochs", "-1"]),
        ("bad value", ["train", t, "--lr", "fast"]),
        ("bad value", ["sample", m, "-n", "0", "-o", str(tmp / "s.npy")]),
        ("bad value", ["fit-detector", t, "--members", "0"]),
    ]
    work = [
        ("train 569 rows", ["train", t, *label, "--quiet", "--out", str(tmp / "trained-{n}")], 0, TRAIN_TARGET),
        ("encode 1,000 rows", ["encode", m, r, *label, "-o", str(tmp / "codes-{n}.csv")], 0, INFERENCE_TARGET),
        ("score 1,000 rows", ["score", d, r, *label, "-o", str(tmp / "scores-{n}.csv")], 0, INFERENCE_TARGET),
    ]
    return [(what, args, 2, ERROR_TARGET) for what, args in error] + work


def shown(args: list[str], tmp: Path, names: dict[str, str]) -> str:
    """The command as a reader would type it: the temporary paths by their role."""
    words = []
    for a in args:
        for path, name in names.items():
            a = a.replace(path, name)
        words.append(a.replace(str(tmp) + "/", "").replace("-{n}", ""))
    return "hourglass " + " ".join(words)


def targets(tmp: Path, repeat: int, before: str | None, only: set[str] | None) -> None:
    table, rows = make_tables(tmp)
    model, detector = tmp / "model", tmp / "detector"
    # Written by the older tree when there is one: folders of an older version load in a newer one.
    hourglass("train", str(table), "--label", "diagnosis", "--epochs", "5", "--quiet", "--out", str(model), src=before)
    hourglass(
        "fit-detector",
        str(table),
        "--label",
        "diagnosis",
        "--epochs",
        "3",
        "--quiet",
        "--out",
        str(detector),
        src=before,
    )
    names = {str(model): "MODEL", str(detector): "DETECTOR", str(table): "breast_cancer.csv", str(rows): "rows1000.csv"}
    sources = {"now": None, **({"before": before} if before else {})}
    head = " | ".join(f"{name} wall s | {name} CPU s" for name in sources)
    print(f"| case | command | target s | {head} | met |")
    print(f"|---|---|---:|{'---:|---:|' * len(sources)}---|")
    run = 0
    for what, args, code, target in target_cases(tmp, table, rows, model, detector):
        if only and args[0] not in only:
            continue
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
        for _ in range(repeat):  # interleaved, so both trees share the machine's load
            for name, src in sources.items():
                run += 1
                times[name].append(timed([a.replace("{n}", str(run)) for a in args], src, code))
        medians = {name: [statistics.median(column) for column in zip(*t, strict=True)] for name, t in times.items()}
        cells = " | ".join(f"{wall:.2f} | {cpu:.2f}" for wall, cpu in medians.values())
        met = "yes" if medians["now"][0] <= target else "**no**"
        print(f"| {what} | `{shown(args, tmp, names)}` | {target:.1f} | {cells} | {met} |", flush=True)
    print(
        f"\nMedians of {repeat} runs each, wall and CPU (user + system) time of a fresh process; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; targets are on wall time."
    )


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


def imports(tmp: Path, repeat: int, only: set[str] | None) -> None:
    model, codes = str(tmp / "digits"), str(tmp / "codes.npy")
    hourglass("train", "mnist7", "--hidden", "8", "--epochs", "1", "--quiet", "--out", model)
    hourglass("encode", model, "mnist7", "-o", codes)  # what decode reads
    rows = [
        ["--help"],
        *([c, "--help"] for c in COMMANDS),
        ["info", model],
        ["encode", model, "mnist7", "-o", str(tmp / "z.npy")],
        ["decode", model, codes, "-o", str(tmp / "decoded.npy")],
        ["reconstruct", model, "mnist7", "-o", str(tmp / "rebuilt.npy")],
    ]
    print(f"\n| command | wall | imports | {' | '.join(PACKAGES)} |")
    print(f"|---|---:|---:|{'---:|' * len(PACKAGES)}")
    for row in rows:
        if only and row[0] not in only:
            continue
        wall = statistics.median(timed(row, None, 0)[0] for _ in range(repeat))
        runs = [import_seconds(row) for _ in range(repeat)]
        medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        cells = " | ".join(f"{medians[key]:.2f} s" for key in ("all", *PACKAGES))
        print(f"| {shown(row, tmp, {model: 'MODEL'})} | {wall:.2f} s | {cells} |", flush=True)
    print(f"\nMedians of {repeat} runs each; a package's column is its modules' own import time.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case; the median is shown")
    parser.add_argument("--only", help="comma-separated commands to time (e.g. train,encode,--help)")
    parser.add_argument("--before", metavar="SRC", help="another source tree to time beside this one")
    parser.add_argument("--imports", action="store_true", help="also the start-up table with import times")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory() as tmp:
        targets(Path(tmp), args.repeat, args.before and str(Path(args.before).resolve()), only)
        if args.imports:
            imports(Path(tmp), args.repeat, only)


if __name__ == "__main__":
    main()
