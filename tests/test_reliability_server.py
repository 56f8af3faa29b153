"""`hourglass serve` under hostile and heavy traffic: 127.0.0.1 only, bounded in count and time.

The load test runs the real CLI (`python -m hourglass serve`) in a subprocess so that its memory and thread
count can be read from /proc without the 1,000 client threads mixed in.
"""

import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import hourglass as hg
from hourglass.cli import main
from hourglass.errors import HourglassError
from hourglass.explorer.server import MAX_BODY, MAX_ROWS, make_server

N_CONCURRENT = 1000
ROUNDS = 4  # the first is the warm-up: imports, arenas and caches settle there
RSS_NOISE_MIB = 20


def _proc(pid: int, field: str) -> int:
    """A number from /proc/PID/status (VmRSS in KiB, Threads as a count)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture(scope="module")
def served(small_model, mnist7, tmp_path_factory):
    """`python -m hourglass serve` on a free port; yields (port, pid, the same model loaded here)."""
    root = tmp_path_factory.mktemp("serve")
    small_model.save(root / "model")
    np.savez(root / "data.npz", X=mnist7.X[:500], y=mnist7.y[:500])
    cmd = [sys.executable, "-m", "hourglass", "serve", str(root / "model"), str(root / "data.npz"), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"server did not start: {line!r} {proc.poll()}"
        yield int(match.group(1)), proc.pid, hg.load(root / "model")
        assert proc.poll() is None, "the server died under test"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err and "hourglass serve:" not in err, err


def _request(port, path, body=None, headers=None, method="POST"):
    """(status, parsed JSON reply) over a fresh connection; every reply of the API must be JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body, headers if headers is not None else {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


BAD = [
    # (path, body, headers or None for JSON, status, words the one-line error must hold)
    ("/api/decode", b"{not json", None, 400, "Expecting property name"),
    ("/api/decode", b"", None, 400, "Expecting value"),
    ("/api/decode", b'{"codes": [[0, 0]]}\xff', None, 400, "utf-8"),
    ("/api/decode", b"[" * 100_000 + b"]" * 100_000, None, 400, "nested too deeply"),
    ("/api/decode", b"[[0, 0]]", None, 400, 'expected a JSON object {"codes"'),
    ("/api/decode", b'{"codes": []}', None, 400, "non-empty list"),
    ("/api/decode", b'{"codes": [[0, 0, 0]]}', None, 400, "list of 2 numbers (the model's code width); row 0 has 3"),
    ("/api/decode", b'{"codes": [[0, 0], [1]]}', None, 400, "row 1 has 1 numbers"),
    ("/api/decode", b'{"codes": [0, 0]}', None, 400, "row 0 has a JSON int"),
    ("/api/encode", json.dumps({"rows": [[0] * 48]}).encode(), None, 400, "49 numbers (the model's feature count)"),
    ("/api/decode", b'{"codes": [["1.5", 0]]}', None, 400, 'only numbers; row 0 is ["1.5", 0]'),
    ("/api/decode", b'{"codes": [[true, null]]}', None, 400, "only numbers; row 0 is [true, null]"),
    ("/api/decode", b'{"codes": [[[1], [2]]]}', None, 400, "only numbers"),
    ("/api/decode", b'{"codes": [[NaN, 0]]}', None, 400, "NaN or infinite"),
    ("/api/decode", b'{"codes": [[0, -Infinity]]}', None, 400, "NaN or infinite"),
    ("/api/decode", b'{"codes": [[1e400, 0]]}', None, 400, "NaN or infinite"),
    ("/api/decode", b'{"codes": [[1e39, 0]]}', None, 400, "beyond float32"),  # finite in JSON, not in float32
    ("/api/decode", b'{"codes": [[1' + b"0" * 400 + b", 0]]}", None, 400, "beyond float32"),
    ("/api/decode", json.dumps({"codes": [[0, 0]] * (MAX_ROWS + 1)}).encode(), None, 413, f"at most {MAX_ROWS}"),
    ("/api/decode", b'{"codes": [[0, 0]]}', {"Content-Type": "text/plain"}, 415, "application/json"),
    ("/api/decode", b'{"codes": [[0, 0]]}', {"Content-Type": "application/x-www-form-urlencoded"}, 415, "json"),
    ("/api/decode", b'{"codes": [[0, 0]]}', {}, 415, "application/json"),
    ("/api/decode/../../etc/passwd", b'{"codes": [[0, 0]]}', None, 404, "not found"),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "words"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_request_gets_its_status_and_one_clear_line(served, path, body, headers, status, words):
    port, _, _ = served
    got, reply = _request(port, path, body, headers)
    assert got == status, reply
    assert words in reply["error"] and "\n" not in reply["error"], reply


def test_oversized_body_refused_from_its_length_unread(served):
    port, _, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/api/decode")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()  # no body follows: the answer must come from the header alone
    response = conn.getresponse()
    assert response.status == 413 and f"body over {MAX_BODY} bytes" in json.loads(response.read())["error"]
    conn.close()


def test_body_without_a_length_is_refused(served):
    port, _, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /api/decode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n")
        head = s.makefile("rb").readline()
    assert b" 411 " in head


def test_stalled_client_times_out_and_others_are_served(small_model, mnist7):
    srv = make_server(small_model, mnist7.X[:200], port=0, timeout=0.5)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            head = b"POST /api/decode HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            head += b"Content-Length: 100\r\n\r\n"
            stalled.sendall(head + b'{"codes": [[0,')  # 15 of the 100 bytes promised, then silence
            # While one thread waits on the stalled body, another client is answered at once.
            status, reply = _request(port, "/api/decode", json.dumps({"codes": [[0.0, 0.0]]}))
            assert status == 200 and len(reply["rows"][0]) == 49
            start = time.perf_counter()
            answer = stalled.makefile("rb").read()
        assert b" 408 " in answer.split(b"\r\n", 1)[0] and b"not received within 0.5 s" in answer
        assert time.perf_counter() - start < 5
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:  # says nothing at all
            assert idle.recv(1) == b""  # closed by the server, not left holding a thread forever
    finally:
        srv.shutdown()
        srv.server_close()


def _burst(port: int, model, X: np.ndarray, seed: int) -> tuple[Counter, float, float]:
    """N_CONCURRENT requests released together from as many threads; each reply checked against the model.

    Mix: 80% decodes of 1-4 random codes, 10% encodes of real rows, 10% malformed (must get 400).
    Returns the outcome counts, the wall time and the slowest request's seconds.
    """
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["decode", "encode", "bad"], size=N_CONCURRENT, p=[0.8, 0.1, 0.1])
    jobs = []
    for kind in kinds:
        if kind == "decode":
            codes = rng.normal(0, 3, size=(rng.integers(1, 5), 2)).astype(np.float32)
            jobs.append(("/api/decode", {"codes": codes.tolist()}, 200, ("rows", model.inverse_transform(codes))))
        elif kind == "encode":
            rows = X[rng.choice(len(X), size=rng.integers(1, 5))]
            want = model.transform(rows)
            jobs.append(("/api/encode", {"rows": rows.reshape(len(rows), -1).tolist()}, 200, ("codes", want)))
        else:
            jobs.append(("/api/decode", {"codes": [[0.0, 0.0, 0.0]]}, 400, None))
    outcomes: list[str] = [""] * N_CONCURRENT
    seconds = [0.0] * N_CONCURRENT
    gate = threading.Barrier(N_CONCURRENT + 1)

    def one(i: int) -> None:
        path, body, status, check = jobs[i]
        data = json.dumps(body)
        gate.wait()
        start = time.perf_counter()
        try:
            got, reply = _request(port, path, data)
        except Exception as e:  # a reset or refused connection is a failure to count, not to hide
            outcomes[i] = type(e).__name__
            return
        finally:
            seconds[i] = time.perf_counter() - start
        if got != status:
            outcomes[i] = f"status {got}"
        elif check is not None and not np.allclose(reply[check[0]], check[1], rtol=1e-5, atol=1e-4):
            outcomes[i] = "wrong numbers"
        else:
            outcomes[i] = "ok"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(N_CONCURRENT)]
    for t in threads:
        t.start()
    gate.wait()
    start = time.perf_counter()
    for t in threads:
        t.join(timeout=120)
    return Counter(outcomes), time.perf_counter() - start, max(seconds)


@pytest.mark.slow  # a load test: 4,000 requests
def test_a_thousand_concurrent_requests_all_answered_correctly_memory_flat(served, mnist7):
    port, pid, model = served
    X = mnist7.X[:500]
    threads_idle = _proc(pid, "Threads")
    rss = [_proc(pid, "VmRSS") / 1024]
    report = []
    for round_ in range(ROUNDS):
        outcomes, wall, slowest = _burst(port, model, X, seed=round_)
        assert outcomes == Counter({"ok": N_CONCURRENT}), f"round {round_}: {dict(outcomes)}"
        # Handler threads end with their request: the count falls back to idle, none is left behind.
        deadline = time.monotonic() + 10
        while _proc(pid, "Threads") > threads_idle and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _proc(pid, "Threads") <= threads_idle
        rss.append(_proc(pid, "VmRSS") / 1024)
        report.append(f"round {round_}: {wall:.2f} s, slowest {slowest:.2f} s, RSS {rss[-1]:.1f} MiB")
    print(f"\nserver RSS before any load {rss[0]:.1f} MiB\n" + "\n".join(report))
    growth = rss[-1] - rss[1]  # after the warm-up round
    assert growth < RSS_NOISE_MIB, f"server RSS grew {growth:.1f} MiB after warm-up: {rss}"
    assert os.path.exists(f"/proc/{pid}")


HANG_UPS = 3000


@pytest.mark.slow  # a load test: 3,000 connections
def test_three_thousand_hang_ups_then_a_decode_is_answered(small_model, mnist7, tmp_path):
    """Clients that ask for the page and close at once: each costs one failed send, printed nowhere.

    The page is the full mnist7 map (about 0.5 MB), as `hourglass serve` on a model's training data sends it.
    """
    small_model.save(tmp_path / "model")
    np.save(tmp_path / "data.npy", mnist7.X)
    cmd = [sys.executable, "-m", "hourglass", "serve", str(tmp_path / "model"), str(tmp_path / "data.npy")]
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen([*cmd, "--port", "0"], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stdout.readline() if ready else "")
        assert match, f"server did not start: {(tmp_path / 'stderr.txt').read_text()}"
        port = int(match.group(1))
        rss_before = _proc(proc.pid, "VmRSS") / 1024

        def hang_up(count: int) -> None:
            for _ in range(count):
                with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

        threads = [threading.Thread(target=hang_up, args=(HANG_UPS // 4,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        codes = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
        status, reply = _request(port, "/api/decode", json.dumps({"codes": codes.tolist()}))
        assert status == 200 and np.allclose(reply["rows"], small_model.inverse_transform(codes), atol=1e-4)
        growth = _proc(proc.pid, "VmRSS") / 1024 - rss_before
        assert growth < RSS_NOISE_MIB, f"server RSS grew {growth:.1f} MiB over {HANG_UPS} hang-ups"
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
    assert (tmp_path / "stderr.txt").read_text() == ""  # no traceback, no line per client


@pytest.mark.parametrize("port", ["70000", "-1", "65536", "80.5", "x"])
def test_port_out_of_range_is_a_usage_error(port, capsys):
    assert main(["serve", "model", "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"hourglass: error: argument --port: expected an integer from 0 to 65,535, got '{port}' "
        "(see 'hourglass serve --help')"
    ]


def test_unbindable_address_is_one_line(small_model, mnist7, tmp_path, capsys):
    small_model.save(tmp_path / "model")
    np.save(tmp_path / "data.npy", mnist7.X[:50])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        for extra, words in (
            (["--port", str(used)], f"cannot listen on 127.0.0.1:{used} (Address already in use)"),
            (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1:8000 (Cannot assign requested address)"),
            (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid:8000"),
        ):
            assert main(["serve", str(tmp_path / "model"), str(tmp_path / "data.npy"), *extra]) == 2
            err = capsys.readouterr().err
            assert err.startswith("hourglass: error: ") and words in err and err.count("\n") == 1, err
    with pytest.raises(HourglassError, match="port must be a whole number from 0 to 65535; got 70000"):
        make_server(small_model, mnist7.X[:50], port=70000)
