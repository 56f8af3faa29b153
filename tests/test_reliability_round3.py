"""Reliability, round three: nothing a user has is lost, nothing is misread.

- a save refuses, before touching the folder, what a load would refuse (parameters changed after fit);
- extreme but finite float32 rows score finite and in order, with no raw numpy warning;
- slow clients cannot starve `hourglass serve`: every request has a whole-request deadline (loopback only,
  bounded in count and time);
- every bind checks the Host header, and a bind beyond loopback says so.
"""

import copy
import http.client
import json
import re
import select
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import hourglass as hg
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import main
from hourglass.errors import HourglassError
from hourglass.explorer.hosts import allowed_hosts, host_name, is_loopback
from hourglass.explorer.receive import request_size
from hourglass.explorer.server import make_server


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ 1. a save checks what a load checks
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"latent_dim": 7}, "params.latent_dim"),
        ({"hidden": (3,)}, "params.hidden"),
        ({"activation": "relu"}, "params.activation"),  # the model was fitted with gelu
        ({"latent_dim": -1}, "params.latent_dim"),
        ({"hidden": (0,)}, "params.hidden"),
        ({"lr": float("nan")}, "params.lr"),
        ({"activation": "nope"}, "params.activation"),
    ],
)
def test_a_save_that_could_not_load_leaves_the_folder_as_it_was(small_model, tmp_path, change, named):
    folder = tmp_path / "model"
    small_model.save(folder)
    before = _snapshot(folder)
    changed = copy.deepcopy(small_model).set_params(**change)
    with pytest.raises(HourglassError, match=re.escape(named)) as refused:
        changed.save(folder)
    message = str(refused.value)
    assert "\n" not in message and "not saved" in message and "refit" in message, message
    assert _snapshot(folder) == before  # same names, same bytes
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary left beside it
    assert hg.load(folder).get_params()["latent_dim"] == small_model.latent_dim


def test_a_refused_save_to_a_new_path_creates_nothing(small_model, tmp_path):
    with pytest.raises(HourglassError, match=r"params\.latent_dim"):
        copy.deepcopy(small_model).set_params(latent_dim=7).save(tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def detector():
    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # two epochs: no better than the mean, and it says so
        return AnomalyDetector(hidden=(8,), epochs=2, seed=0).fit(X)


@pytest.mark.parametrize(("change", "named"), [({"n_members": 5}, "params.n_members"), ({"iforest": True}, "iforest")])
def test_a_detector_save_that_could_not_load_is_refused(detector, tmp_path, change, named):
    folder = tmp_path / "det"
    detector.save(folder)
    before = _snapshot(folder)
    with pytest.raises(HourglassError, match=re.escape(named)):
        copy.deepcopy(detector).set_params(**change).save(folder)
    assert _snapshot(folder) == before
    assert isinstance(hg.load(folder), AnomalyDetector)


def test_a_save_with_unchanged_or_harmless_params_still_replaces_the_model(small_model, tmp_path):
    folder = tmp_path / "model"
    small_model.save(folder)
    copy.deepcopy(small_model).set_params(epochs=3).save(folder)  # a training option: the network is the same
    assert hg.load(folder).epochs == 3


# ------------------------------------------------------------------ 10. extreme finite rows score in order
MAGNITUDES = [10.0**e for e in range(10, 39, 2)] + [float(np.finfo(np.float32).max)]


def _extreme_corpus(n_features: int) -> tuple[np.ndarray, list[list[int]]]:
    """Rows at each magnitude, both signs, in one feature or in all; returns the rows and, per pattern, the row
    numbers in increasing magnitude."""
    rows, series = [], []
    for sign in (1.0, -1.0):
        for where in [*range(n_features), "all"]:
            indices = []
            for m in MAGNITUDES:
                row = np.zeros(n_features, np.float32)
                if where == "all":
                    row[:] = sign * m
                else:
                    row[where] = sign * m
                indices.append(len(rows))
                rows.append(row)
            series.append(indices)
    return np.array(rows, np.float32), series


@pytest.mark.parametrize("iforest", [True, False])
def test_extreme_rows_score_finite_and_in_order(detector, iforest):
    model = copy.deepcopy(detector)
    if not iforest:
        model.forest_ = model.fusion_ = None
    X, series = _extreme_corpus(model.n_features_in_)
    normal = np.random.default_rng(1).normal(size=(50, model.n_features_in_)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw overflow warning may reach the user
        scores = model.score_samples(np.concatenate([normal, X]))
        alone = model.score_samples(X[series[0]])
        verdicts = model.predict(X)
        p = model.p_values(X)
        names, errors = model.top_features(X, k=2)
        explained = model.explain(X)
    assert np.isfinite(scores).all()
    extreme = scores[len(normal) :]
    for indices in series:  # farther out is more anomalous: strictly lower scores
        assert (np.diff(extreme[indices]) < 0).all(), extreme[indices]
    assert extreme.max() < scores[: len(normal)].min()
    assert np.array_equal(alone, extreme[series[0]])  # a row's score is the same bits alone or in a batch
    assert (verdicts == -1).all() and np.isfinite(p).all()
    assert np.isfinite(errors).all() and (np.diff(errors, axis=1) <= 0).all() and len(names) == len(X)
    assert not np.isnan(explained).any()


def test_an_autoencoder_scores_extreme_rows_finite_and_in_order(small_model, mnist7):
    """Inputs are clipped before the network; the distance clipped away still counts, so rows beyond the window
    keep their order instead of tying at its edge, and rows inside it score as before."""
    magnitudes = [1e3, 1e6, 1e12, 1e19, 1e30, 3.4e38]
    X = np.repeat(mnist7.X[:1].reshape(1, -1), 2 * len(magnitudes) + 1, axis=0).astype(np.float32)
    for i, m in enumerate(magnitudes):
        X[1 + i, 10] = m  # one pixel far out
        X[1 + len(magnitudes) + i, :] = -m  # every pixel far out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = small_model.score_samples(X)
    assert np.isfinite(scores).all()
    one, every = scores[1 : 1 + len(magnitudes)], scores[1 + len(magnitudes) :]
    assert (np.diff(one) < 0).all() and (np.diff(every) < 0).all(), scores
    inside = mnist7.X[:50].reshape(50, -1)
    assert np.array_equal(small_model.scaler_.clipped_away(inside), np.zeros(50))


def test_the_page_scores_a_row_beyond_the_clip_window_as_python_does(small_model, mnist7):
    from hourglass.export.browser import run_in_browser, unavailable

    if unavailable(small_model):
        pytest.skip(unavailable(small_model))
    X = mnist7.X[:3].reshape(3, -1).astype(np.float32)
    X[1, 5], X[2, :] = 4000.0, -1e6
    page = run_in_browser(small_model, X, small_model.transform(X))
    assert page.scores is not None
    assert np.allclose(page.scores, small_model.score_samples(X), rtol=1e-5, atol=1e-7)


def test_score_command_with_one_extreme_row_among_300(detector, tmp_path, capsys):
    detector.save(tmp_path / "det")
    X = np.random.default_rng(2).normal(size=(300, 4)).astype(np.float32)
    X[5], X[7, 2], X[8, 2] = -3e38, 1e19, 1e30
    np.save(tmp_path / "rows.npy", X)
    out = tmp_path / "scores.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["score", str(tmp_path / "det"), str(tmp_path / "rows.npy"), "-o", str(out), "--explain", "2"])
    captured = capsys.readouterr()
    assert code == 0 and "warning" not in captured.err.lower(), captured.err
    import pandas as pd

    table = pd.read_csv(out)
    assert np.isfinite(table["score"]).all() and len(table) == 300
    assert table["score"][8] < table["score"][7] < table["score"].drop([5, 7, 8]).min()
    assert table["is_anomaly"][[5, 7, 8]].all()
    assert "x3 is" in table["nearest_normal"][8]  # the one feature far out is named


# ------------------------------------------------------------------ 5. slow clients cannot block the server
SLOW_CLIENTS = 160  # more than the 32 worker threads, and than the 128 connections held open at once


def _slow_clients(port: int, count: int) -> list[socket.socket]:
    """Half promise a large body and send its first byte; half send half a head. Then they say nothing more."""
    clients = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            head = b"POST /api/decode HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            s.sendall(head + b"Content-Length: 100000\r\n\r\n{")
        else:
            s.sendall(b"GET / HTTP/1.0\r\nHost: 127.")
        clients.append(s)
    return clients


def _get_page(port: int, host: str = "127.0.0.1") -> tuple[int, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    finally:
        conn.close()


def _start_serve(root: Path, *extra: str) -> tuple[subprocess.Popen, int, str]:
    """`python -m hourglass serve` on a free port; returns the process, its port and what it said on stderr."""
    cmd = [sys.executable, "-m", "hourglass", "serve", str(root / "model"), str(root / "data.npy"), "--port", "0"]
    proc = subprocess.Popen([*cmd, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    match = re.search(r":(\d+)/", line)
    if not match:
        proc.kill()
        pytest.fail(f"server did not start: {line!r} {proc.communicate(timeout=10)[1]}")
    said = ""
    while select.select([proc.stderr], [], [], 0)[0]:
        said += proc.stderr.readline()
        if not said.endswith("\n"):
            break
    return proc, int(match.group(1)), said


@pytest.fixture(scope="module")
def model_and_data(small_model, mnist7, tmp_path_factory):
    root = tmp_path_factory.mktemp("round3-serve")
    small_model.save(root / "model")
    np.save(root / "data.npy", mnist7.X[:300])
    return root


@pytest.mark.slow  # a load test, timed
def test_slow_clients_do_not_delay_another_clients_page(model_and_data):
    proc, port, _ = _start_serve(model_and_data)
    clients = []
    try:
        assert _get_page(port)[0] == 200  # warm
        clients = _slow_clients(port, SLOW_CLIENTS)
        time.sleep(0.3)  # let the server take them all
        status, seconds = _get_page(port)
        assert status == 200 and seconds < 3.0, f"GET / behind {SLOW_CLIENTS} slow clients took {seconds:.2f} s"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/api/decode", json.dumps({"codes": [[0.0, 0.0]]}), {"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        assert proc.poll() is None
    finally:
        for s in clients:
            s.close()
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err


def test_a_dribbled_request_meets_its_whole_request_deadline(small_model, mnist7):
    """One byte every 0.2 s never trips a per-read timeout of 1 s; the request's own deadline ends it."""
    srv = make_server(small_model, mnist7.X[:100], port=0, timeout=1.0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            head = b"POST /api/decode HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            s.sendall(head + b"Content-Length: 1000\r\n\r\n")
            start = time.perf_counter()
            answer = b""
            while time.perf_counter() - start < 4 and not answer:
                try:
                    s.sendall(b" ")
                except OSError:  # closed by the server after its answer
                    break
                if select.select([s], [], [], 0.2)[0]:
                    answer = s.recv(4096)
            seconds = time.perf_counter() - start
        assert b" 408 " in answer.split(b"\r\n", 1)[0] and b"within 1 s" in answer, answer
        assert seconds < 2.5, seconds
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(
    ("head", "body_bytes"),
    [
        (b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 0),
        (b"POST / HTTP/1.0\r\ncontent-LENGTH: 5\r\n\r\n", 5),
        (b"POST / HTTP/1.0\nContent-Length: 3\n\n", 3),  # bare newlines, as http.server accepts
        (b"POST / HTTP/1.0\r\nContent-Length: -4\r\n\r\n", 0),  # refused by the handler from the head
        (b"POST / HTTP/1.0\r\nContent-Length: x\r\n\r\n", 0),
        (b"POST / HTTP/1.0\r\nContent-Length: 99999999999\r\n\r\n", 0),  # 413 from the head, body unread
    ],
)
def test_request_size_from_the_head(head, body_bytes):
    assert request_size(head[:-1], max_body=1 << 20) is None  # the head is not all in yet
    assert request_size(head + b"ab", max_body=1 << 20) == len(head) + body_bytes


# ------------------------------------------------------------------ 9. the Host check on every bind
def test_every_interface_bind_refuses_a_foreign_host_and_says_it_listens_widely(model_and_data):
    proc, port, said = _start_serve(model_and_data, "--host", "0.0.0.0", "--allow-host", "Box.Lan")
    try:
        assert "warning: listening on every interface" in said, said
        assert _get_page(port, "evil.example")[0] == 403
        assert _get_page(port, f"evil.example:{port}")[0] == 403
        assert _get_page(port, f"127.0.0.1:{port}")[0] == 200
        assert _get_page(port, f"localhost:{port}")[0] == 200
        assert _get_page(port, f"box.lan:{port}")[0] == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.parametrize("bind", ["", "127.0.0.1"])
def test_the_host_check_applies_on_a_bind_of_every_interface_and_loopback(small_model, mnist7, bind):
    srv = make_server(small_model, mnist7.X[:100], host=bind, port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    try:
        assert _get_page(port, "evil.example")[0] == 403
        assert _get_page(port, "")[0] == 403
        assert _get_page(port, f"[::1]:{port}")[0] == 200
        assert _get_page(port, socket.gethostname())[0] == (200 if bind == "" else 403)
    finally:
        srv.shutdown()
        srv.server_close()


def test_host_names_and_binds():
    assert host_name("LocalHost.:8000") == "localhost"
    assert host_name("[::1]:80") == "::1" and host_name("::1") == "::1"
    assert is_loopback("127.0.0.2") and is_loopback("localhost") and is_loopback("::1")
    assert not any(is_loopback(h) for h in ("", "0.0.0.0", "::", "192.0.2.1", "myhost"))
    assert allowed_hosts("192.0.2.1") == {"localhost", "127.0.0.1", "::1", "192.0.2.1"}
    assert "evil.example" not in allowed_hosts("0.0.0.0")
    assert allowed_hosts("0") == allowed_hosts("0.0.0.0")  # "0" binds 0.0.0.0: the machine's names answer too


def test_serve_warns_when_it_listens_beyond_loopback_only(small_model, tmp_path, capsys, monkeypatch):
    from hourglass.explorer import server

    small_model.save(tmp_path / "model")
    np.save(tmp_path / "data.npy", np.zeros((20, 49), np.float32))
    monkeypatch.setattr(server.HTTPServer, "serve_forever", lambda self, poll_interval=0.5: None)
    for host, wide in (("127.0.0.1", False), ("", True), ("0.0.0.0", True), ("0", True)):
        assert main(["serve", str(tmp_path / "model"), str(tmp_path / "data.npy"), "--host", host, "--port", "0"]) == 0
        out, err = capsys.readouterr()
        assert ("listening on every interface" in err) == wide, err
        assert f"http://{socket.gethostname() if wide else host}:" in out  # an address a browser can open
