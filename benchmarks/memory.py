"""Peak memory of ``hourglass train`` on a large ``.npy``: held in memory, and streamed from disk.

Run: ``python benchmarks/memory.py [--rows 2500000]``. Writes a float32 ``.npy`` of random 7x7
"images" (2.5M x 49 = 467 MiB by default) to a temporary folder, trains one epoch on it with the
real command line, and samples the process's own memory (``RssAnon`` in ``/proc/PID/status``: the
pages of a memory-mapped file are the page cache's, not the process's) every 20 ms. The streamed
run sets ``HOURGLASS_MEMORY_LIMIT`` below the file's size. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MiB = 1 << 20


def rss_anon(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) << 10 for line in f if line.startswith("RssAnon:"))
    except (OSError, StopIteration):
        return 0


def peak_train(data: Path, out: Path, env: dict[str, str]) -> tuple[int, float]:
    """Peak RssAnon in bytes and wall seconds of one ``hourglass train`` epoch."""
    cmd = [sys.executable, "-m", "hourglass", "train", str(data), "--epochs", "1", "--quiet", "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, rss_anon(proc.pid))
        time.sleep(0.02)
    if proc.returncode:
        raise SystemExit(f"train failed: {proc.stderr.read() if proc.stderr else ''}")
    return peak, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_500_000)
    parser.add_argument("--stream-limit", default="128M", help="HOURGLASS_MEMORY_LIMIT for the streamed run")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HOURGLASS_MEMORY_LIMIT", None)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.npy"
        rows = np.lib.format.open_memmap(data, mode="w+", dtype=np.float32, shape=(args.rows, 7, 7))
        rng = np.random.default_rng(0)
        for i in range(0, args.rows, 250_000):
            rows[i : i + 250_000] = rng.random((min(250_000, args.rows - i), 7, 7), dtype=np.float32)
        rows.flush()
        del rows
        size = data.stat().st_size
        probe = (
            "import hourglass.cli.train, torch, sklearn, pandas, os; print(open(f'/proc/{os.getpid()}/status').read())"
        )
        status = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout
        base = next(int(line.split()[1]) << 10 for line in status.splitlines() if line.startswith("RssAnon:"))
        results = [("in memory", *peak_train(data, Path(tmp) / "m1", env))]
        streamed = {**env, "HOURGLASS_MEMORY_LIMIT": args.stream_limit}
        results.append((f"streamed (limit {args.stream_limit})", *peak_train(data, Path(tmp) / "m2", streamed)))
    print(f"file: {args.rows:,} x 49 float32 = {size / MiB:.0f} MiB; process after imports: {base / MiB:.0f} MiB\n")
    print("| run | peak RssAnon (MiB) | above the file's size (MiB) | wall (s) |")
    print("|---|---:|---:|---:|")
    for name, peak, secs in results:
        print(f"| {name} | {peak / MiB:,.0f} | {(peak - size) / MiB:+,.0f} | {secs:.1f} |")
    print("\ntargets: in memory <= file + 600 MiB; streamed < 1,024 MiB")


if __name__ == "__main__":
    main()
