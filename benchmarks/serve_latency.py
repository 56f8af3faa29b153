"""How long `hourglass serve` takes to answer one decode: idle, and right after clients that ask for the page and
hang up at once (each costs the server one failed send).

It trains a small model on mnist7, starts ``python -m hourglass serve`` on it and the full mnist7 map (the page is
about 0.5 MB, as on a model's training data) in a fresh process, and prints a Markdown table of the first, median
and slowest of ``--repeat`` decodes of two codes, idle and after ``--hang-ups`` hang-ups from four threads.
(tests/test_reliability_server.py checks, in the slow tier, that those hang-ups leave the server answering
correctly with flat memory; this measures how fast.)

    .venv/bin/python benchmarks/serve_latency.py            # about half a minute
"""

from __future__ import annotations

import argparse
import json
import re
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

import hourglass as hg


def decode_seconds(port: int, repeat: int) -> list[float]:
    body = json.dumps({"codes": [[0.5, -1.0], [2.0, 0.0]]}).encode()
    seconds = []
    for _ in range(repeat):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/decode", body, {"Content-Type": "application/json"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        seconds.append(time.perf_counter() - start)
    return seconds


def hang_up(port: int, count: int) -> None:
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hang-ups", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = hg.load_dataset("mnist7")
        hg.Autoencoder(hidden=(32,), epochs=15, seed=0).fit(data.X[:1000]).save(Path(tmp) / "model")
        np.save(Path(tmp) / "data.npy", data.X)
        cmd = [sys.executable, "-m", "hourglass", "serve", f"{tmp}/model", f"{tmp}/data.npy", "--port", "0"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stdout.readline() if ready else "")
            if not match:
                raise SystemExit("the server did not start")
            port = int(match.group(1))
            decode_seconds(port, 3)  # warm-up: the first request imports and allocates
            idle = decode_seconds(port, args.repeat)
            threads = [threading.Thread(target=hang_up, args=(port, args.hang_ups // 4)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = decode_seconds(port, args.repeat)
        finally:
            proc.terminate()
            proc.wait(30)
    print("| decode of 2 codes | first ms | median ms | slowest ms |")
    print("|---|---|---|---|")
    for what, seconds in (("idle", idle), (f"after {args.hang_ups:,} hang-ups", after)):
        ms = [1000 * s for s in seconds]
        print(f"| {what} | {ms[0]:.1f} | {statistics.median(ms):.1f} | {max(ms):.1f} |")


if __name__ == "__main__":
    main()
