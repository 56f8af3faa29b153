"""`hourglass serve` under hostile and heavy traffic (127.0.0.1 only, bounded in count and time)."""

import http.client
import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from hourglass.explorer.server import MAX_BODY, make_server


@pytest.fixture(scope="module")
def server(small_model, mnist7):
    srv = make_server(small_model, mnist7.X[:500], mnist7.y[:500], port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", small_model
    srv.shutdown()
    srv.server_close()


def _post(url, body: bytes, content_type="application/json"):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (json.dumps({"codes": [[0.0, 0.0, 0.0]]}).encode(), "application/json", 400),  # wrong code width
        (json.dumps({"codes": []}).encode(), "application/json", 400),
        (b'{"codes": [[NaN, 0]]}', "application/json", 400),
        (json.dumps({"rows": [[0.0] * 48]}).encode(), "application/json", 400),  # wrong feature count
        (json.dumps({"codes": [[0, 0]]}).encode(), "text/plain", 415),
    ],
)
def test_bad_requests_get_clear_errors(server, body, content_type, status):
    url, _ = server
    path = "/api/encode" if b"rows" in body else "/api/decode"
    code, reply = _post(url + path, body, content_type)
    assert code == status and reply.get("error"), reply


def test_oversized_body_refused_from_its_length(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/decode")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()  # the body is never sent: the server must answer from the header alone
    response = conn.getresponse()
    assert response.status == 413 and json.loads(response.read())["error"]
    conn.close()


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_a_thousand_concurrent_requests_answered_correctly_memory_flat(server):
    url, model = server
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(1000, 1, 2)).round(4)

    def one(i: int):
        return _post(url + "/api/decode", json.dumps({"codes": codes[i].tolist()}).encode())

    rss = []
    for _ in range(3):
        with ThreadPoolExecutor(max_workers=100) as pool:
            replies = list(pool.map(one, range(1000)))
        rss.append(_rss_mib())
        assert all(code == 200 for code, _ in replies)
        got = np.array([reply["rows"][0] for _, reply in replies], np.float32)
        np.testing.assert_allclose(got, model.inverse_transform(codes[:, 0].astype(np.float32)), rtol=1e-4, atol=1e-3)
    print(f"RSS after each round of 1,000 requests: {[round(r, 1) for r in rss]} MiB")
    assert rss[-1] - rss[0] < 20, f"memory grew {rss} MiB over rounds of 1,000 requests"
