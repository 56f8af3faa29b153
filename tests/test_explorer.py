"""The explorer: decoder export, the JS decoder against PyTorch (in Chromium), the page, the server API, CLI."""

from __future__ import annotations

import base64
import copy
import http.client
import json
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from test_explorer_browser import CHROMIUM, EX, FLAGS, browser_page, require_browser

from hourglass.cli import main
from hourglass.data import load_dataset
from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder
from hourglass.explorer import browser_encodable, export_decoder, export_encoder, render_page, write_explorer
from hourglass.explorer.server import MAX_BODY, MAX_ROWS, make_server

JS = Path(__file__).parents[1] / "src/hourglass/explorer/static/network.js"  # the page's network evaluation
ACTIVATIONS = ["relu", "gelu", "elu", "silu", "tanh", "leaky_relu"]


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("mnist7")
    return data.X[:400], data.y[:400]


@pytest.fixture(scope="module")
def model(digits):
    return Autoencoder(latent_dim=2, hidden=(32, 16), epochs=3, seed=0).fit(digits[0])


def _fit(X, **kw):
    return Autoencoder(hidden=(24, 12), epochs=2, seed=1, **kw).fit(X)


def _codes(model, X, extra=20):
    """Codes of real rows plus points well outside them (the map lets a person hover anywhere)."""
    codes = model.transform(X[:30]).astype(np.float64)
    rng = np.random.default_rng(0)
    return np.vstack([codes, rng.normal(0, 3 * codes.std() + 1, size=(extra, codes.shape[1]))])


def _scaled_gap(model, js_rows, codes):
    """Largest |JS - PyTorch| in the decoder's own (scaled) units; original units just multiply by scale."""
    torch_rows = model.inverse_transform(codes)
    return float(np.max(np.abs(np.asarray(js_rows) - torch_rows) / model.scaler_.scale))


def test_export_holds_the_decoder_weights(model):
    spec = export_decoder(model)
    linears = [m for m in model.model_.decoder if isinstance(m, torch.nn.Linear)]
    exported = [layer for layer in spec["layers"] if layer["type"] == "linear"]
    assert [(e["in"], e["out"]) for e in exported] == [(m.in_features, m.out_features) for m in linears]
    for e, m in zip(exported, linears, strict=True):
        weight = np.frombuffer(base64.b64decode(e["weight"]), "<f4").reshape(e["out"], e["in"])
        assert np.array_equal(weight, m.weight.detach().numpy())
    assert [layer["type"] for layer in spec["layers"]][-1] == "sigmoid"  # images: min-max scaled, sigmoid out
    offset = np.frombuffer(base64.b64decode(spec["offset"]), "<f4")
    assert np.array_equal(offset, model.scaler_.offset)


def test_export_refuses_layers_without_a_js_twin(model):
    odd = Autoencoder(latent_dim=2, hidden=(8,), epochs=1).fit(np.random.default_rng(0).random((50, 5)))
    odd.model_.decoder = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Softplus())
    with pytest.raises(HourglassError, match="Softplus cannot run in the browser"):
        export_decoder(odd)


@pytest.fixture
def js_decoder():
    """A blank Chromium page holding network.js's ``makeDecoder``, ``makeEncoder`` and ``meanSquare`` (the code the
    page inlines before its own script).

    Per test, not per module: Playwright's sync API runs an event loop while it is open, and a second
    one (``browser_page``) cannot start inside it."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            page.evaluate(
                "(js) => { Object.assign(window, new Function('document', js + "
                "';return { makeDecoder, makeEncoder, meanSquare };')()); }",
                JS.read_text(),
            )
            yield page
        finally:
            browser.close()


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_js_decoder_matches_pytorch(digits, activation, js_decoder):
    X = digits[0]
    # Tables (standard scaling, identity output) and a 3-D code exercise the other paths.
    table = activation in ("tanh", "gelu")
    rows = X.reshape(len(X), -1)[:, 10:30].astype(np.float64) if table else X
    m = _fit(rows, activation=activation, latent_dim=3 if table else 2)
    codes = _codes(m, rows)
    js_rows = js_decoder.evaluate(
        "([spec, codes]) => { const dec = makeDecoder(spec); return codes.map((c) => Array.from(dec.decode(c))); }",
        [export_decoder(m), codes.tolist()],
    )
    assert _scaled_gap(m, js_rows, codes) < 1e-5


def _probe_rows(model, X):
    """Data rows, random rows across the data's range, and rows far outside it (clipped by the scaler)."""
    flat = X.reshape(len(X), -1).astype(np.float64)[:20]
    rng = np.random.default_rng(1)
    lo, hi = flat.min(), flat.max()
    inside = rng.uniform(lo, hi, size=(10, flat.shape[1]))
    outside = rng.uniform(lo - 10 * (hi - lo), hi + 10 * (hi - lo), size=(10, flat.shape[1]))
    return np.vstack([flat, inside, outside])


ENCODE_IN_JS = """([spec, decoderSpec, rows]) => {
  const enc = makeEncoder(spec), dec = makeDecoder(decoderSpec);
  return rows.map((row) => {
    const x = enc.scale(row), code = enc.encodeScaled(x);
    return { code: Array.from(code), score: meanSquare(dec.decodeScaled(code), x) + enc.clippedAway(row) };
  });
}"""


@pytest.mark.parametrize("kind", ["mlp", "mlp-relu-table-3d", "vae", "vae-table"])
def test_js_encoder_matches_pytorch(digits, kind, js_decoder):
    X = digits[0]
    table = "table" in kind
    rows = X.reshape(len(X), -1)[:, 10:30].astype(np.float64) if table else X
    options = {"latent_dim": 3 if "3d" in kind else 2, "activation": "relu" if "relu" in kind else "gelu"}
    m = _fit(rows, model="vae" if kind.startswith("vae") else "mlp", **options)
    assert browser_encodable(m)
    probes = _probe_rows(m, rows)
    got = js_decoder.evaluate(ENCODE_IN_JS, [export_encoder(m), export_decoder(m), probes.tolist()])
    codes = np.asarray([g["code"] for g in got])
    assert codes.shape == (len(probes), m.latent_dim)
    assert np.abs(codes - m.transform(probes)).max() < 1e-5
    # The reconstruction error as score_samples measures it (scaled, after clipping, plus the distance clipped
    # away: the outside probes lie beyond the window): the pad's score.
    errors = -m.score_samples(probes)
    assert np.abs(np.asarray([g["score"] for g in got]) - errors).max() < 1e-5 * max(1.0, errors.max())


def test_encoder_export_refuses_what_js_cannot_run(digits):
    X = digits[0]
    conv = Autoencoder(latent_dim=2, hidden=(4,), epochs=1, model="conv").fit(
        np.random.default_rng(0).integers(0, 256, size=(40, 20, 20), dtype=np.uint8)
    )
    assert browser_encodable(conv)  # conv layers run in the page (tests/test_explorer_conv.py)
    odd_conv = copy.deepcopy(conv)
    odd_conv.model_.encoder[1].padding_mode = "reflect"  # a setting network.js does not implement
    assert not browser_encodable(odd_conv)
    with pytest.raises(HourglassError, match=r"encoder layer \w+ cannot run in the browser"):
        export_encoder(odd_conv)
    odd = _fit(X)
    odd.model_.encoder = torch.nn.Sequential(torch.nn.Linear(49, 2), torch.nn.Softplus())
    assert not browser_encodable(odd)
    data = _page_data(render_page(odd, X))
    assert data["encoder"] is None and not data["pad"]["ok"] and "hourglass serve" in data["pad"]["note"]
    # The served page draws with any image model (the server encodes): conv included.
    served = _page_data(render_page(conv, np.zeros((5, 20, 20), np.uint8), mode="server"))
    assert served["pad"]["ok"] and served["encoder"] is None


def _page_data(page):
    return json.loads(re.search(r'id="hg-data">(.*?)</script>', page, re.S).group(1))


def test_page_decoder_in_chromium_matches_pytorch(model, digits, tmp_path):
    X, y = digits
    path = write_explorer(model, X, y, tmp_path / "explorer.html")
    codes = _codes(model, X)
    with browser_page(path.resolve().as_uri()) as page:
        js_rows = page.evaluate(f"{EX}.decode({json.dumps(codes.tolist())})")
    assert _scaled_gap(model, js_rows, codes) < 1e-5  # its speed: benchmarks/explorer_decode.py


def test_page_is_one_offline_file(model, digits):
    X, y = digits
    page = render_page(model, X, y, title="</script><b>x</b>")
    assert re.search(r"https?://", page) is None  # nothing to fetch
    assert re.search(r"<(link|img|iframe)\b|\bsrc=", page) is None
    assert page.count("</script>") == 2  # a hostile title cannot close the data's <script> early
    assert "default-src 'none'" in page
    data = json.loads(re.search(r'<script type="application/json" id="hg-data">(.*?)</script>', page, re.S).group(1))
    assert data["n"] == len(X) and data["mode"] == "file" and data["decoder"] is not None
    assert data["labels"]["names"] == [str(v) for v in range(10)]


def test_page_subsamples_and_projects_wide_codes(digits):
    X, _ = digits
    wide = _fit(X, latent_dim=5)
    page = render_page(wide, X, max_points=100)
    data = json.loads(re.search(r'id="hg-data">(.*?)</script>', page, re.S).group(1))
    assert data["n"] == 100 and data["n_total"] == len(X) and len(set(data["index"])) == 100
    assert data["projection"] is not None and 0 < data["projection"]["explained"] <= 1
    view = np.frombuffer(base64.b64decode(data["view"]), "<f4").reshape(-1, 2)
    codes = np.frombuffer(base64.b64decode(data["codes"]), "<f4").reshape(-1, 5)
    centred = codes - np.asarray(data["projection"]["mean"])
    assert np.allclose(view, centred @ np.asarray(data["projection"]["components"]).T, atol=1e-4)


@pytest.fixture(scope="module")
def server(model, digits):
    srv = make_server(model, *digits, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _post(url, body, content_type="application/json", headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": content_type, **(headers or {})}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_decodes_and_encodes(server, model, digits):
    X = digits[0][:5]
    status, body = _post(server + "/api/encode", {"rows": X.reshape(5, -1).tolist()})
    assert status == 200
    assert np.allclose(body["codes"], model.transform(X), atol=1e-5)
    status, body = _post(server + "/api/decode", {"codes": body["codes"]})
    assert status == 200
    assert np.allclose(body["rows"], model.inverse_transform(model.transform(X)), atol=1e-3)
    with urllib.request.urlopen(server + "/", timeout=30) as r:
        page = r.read().decode()
    assert '"mode":"server"' in page and '"decoder":null' in page


def test_server_inspects_rows_for_the_pad(server, model, digits):
    X = digits[0][:3].reshape(3, -1)
    status, body = _post(server + "/api/inspect", {"rows": X.tolist()})
    assert status == 200
    assert np.allclose(body["codes"], model.transform(X), atol=1e-5)
    assert np.allclose(body["reconstructions"], model.reconstruct(X), atol=1e-3)
    assert np.allclose(body["scores"], -model.score_samples(X), rtol=1e-6)
    status, body = _post(server + "/api/inspect", {"rows": [[0.0] * 5]})
    assert status == 400 and "list of 49 numbers" in body["error"]


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "message"),
    [
        ("/api/decode", {"codes": [[0.0, 0.0]] * (MAX_ROWS + 1)}, "application/json", 413, "at most"),
        ("/api/decode", {"codes": [[0.0, 0.0]]}, "text/plain", 415, "application/json"),
        ("/api/decode", b"{not json", "application/json", 400, "Expecting"),
        ("/api/decode", {"codes": [[0.0, 0.0, 0.0]]}, "application/json", 400, "list of 2 numbers"),
        ("/api/decode", {"codes": [[0.0, "a"]]}, "application/json", 400, "only numbers"),
        ("/api/decode", {"codes": [[0.0, 1e400]]}, "application/json", 400, "NaN or infinite"),
        ("/api/encode", {"codes": [[0.0, 0.0]]}, "application/json", 400, '"rows"'),
        ("/../../etc/passwd", {"codes": [[0.0, 0.0]]}, "application/json", 404, "not found"),
    ],
)
def test_server_rejects_bad_requests(server, path, body, content_type, status, message):
    got, reply = _post(server + path, body, content_type)
    assert got == status and message in reply["error"]


def test_server_refuses_big_bodies_unread(server):
    # Only the headers are sent: the server must answer from Content-Length alone, never reading the body.
    host, port = server.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/decode")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    reply = conn.getresponse()
    assert reply.status == 413 and "body over" in json.loads(reply.read())["error"]
    conn.close()


def test_server_rejects_foreign_host_header(server):
    status, reply = _post(server + "/api/decode", {"codes": [[0.0, 0.0]]}, headers={"Host": "evil.example:80"})
    assert status == 403 and "Host" in reply["error"]


def test_cli_explore(model, digits, tmp_path, capsys):
    model.save(tmp_path / "model")
    np.savez(tmp_path / "data.npz", X=digits[0], y=digits[1])
    out = tmp_path / "page.html"
    assert main(["explore", str(tmp_path / "model"), str(tmp_path / "data.npz"), "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000 and "hourglass explorer: data" in out.read_text()

    # No DATA and nothing recorded: a clear one-line error, exit 2.
    assert main(["explore", str(tmp_path / "model"), "-o", str(out)]) == 2
    assert "does not record its training data; pass DATA" in capsys.readouterr().err

    # A model folder that records its training data (config.json data.source) needs no DATA.
    config = json.loads((tmp_path / "model/config.json").read_text())
    config["data"]["source"] = str(tmp_path / "data.npz")
    (tmp_path / "model/config.json").write_text(json.dumps(config))
    assert main(["explore", str(tmp_path / "model"), "-o", str(tmp_path / "again.html")]) == 0


def test_table_explorer_colours_numeric_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    table = _fit(X)
    page = render_page(table, X, rng.normal(size=300))
    data = json.loads(re.search(r'id="hg-data">(.*?)</script>', page, re.S).group(1))
    assert data["kind"] == "table" and data["labels"]["kind"] == "number"
    assert not data["pad"]["ok"] and "needs an image model" in data["pad"]["note"] and data["encoder"] is None
    with pytest.raises(HourglassError, match="data: 5 features per row, but the model expects 6"):
        render_page(table, X[:, :5])


# ---------------------------------------------------------------------------------------------- what dots are called
def test_cli_explore_names_an_image_folders_dots_by_path(model, digits, tmp_path):
    """`hourglass explore MODEL FOLDER`: each dot carries its file's path and its row number (the file's place in
    the folder's sorted order), so the page can say which image it is."""
    from PIL import Image

    X, y = digits
    for i in range(12):
        folder = tmp_path / "digits" / str(y[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(X[i]).save(folder / f"scan {i:02d}.png")
    model.save(tmp_path / "model")
    out = tmp_path / "page.html"
    assert main(["explore", str(tmp_path / "model"), str(tmp_path / "digits"), "-o", str(out)]) == 0
    data = _page_data(out.read_text())
    paths = sorted(p.relative_to(tmp_path / "digits").as_posix() for p in (tmp_path / "digits").rglob("*.png"))
    assert data["ids"] == paths and data["rows"] == list(range(12))
    assert data["labels"]["names"] == sorted({str(v) for v in y[:12]})


def test_dots_keep_their_source_row_numbers_and_ids(model, digits):
    from hourglass.data import Dataset

    X, y = digits
    rows = np.arange(len(X)) * 2 + 7
    ids = np.array([f"img{i}.png" for i in range(len(X))])
    data = _page_data(render_page(model, X, y, rows=rows, ids=ids, max_points=50))
    kept = np.asarray(data["index"])  # a subsample of 50: each dot keeps its own number and name
    assert data["rows"] == rows[kept].tolist() and data["ids"] == ids[kept].tolist()
    # A Dataset brings its labels, ids and row numbers (a subset of its source keeps the source's numbers).
    source = Dataset(X, y, kind="image", name="digits", ids=ids)
    data = _page_data(render_page(model, source.take(np.arange(100, 140))))
    assert data["rows"] == list(range(100, 140)) and data["ids"] == ids[100:140].tolist()
    assert data["labels"]["values"] == np.unique(y[100:140], return_inverse=True)[1].tolist()
    # Without either, a dot's row number is its place in X.
    plain = _page_data(render_page(model, X[:30]))
    assert plain["rows"] == list(range(30)) and plain["ids"] is None
    for bad, message in [
        ({"rows": rows[:-1]}, f"got {len(X) - 1} row numbers for {len(X)} rows"),
        ({"rows": rows - 100}, "row numbers must be whole numbers from 0"),
        ({"rows": rows + 0.5}, "row numbers must be whole numbers from 0"),
        ({"ids": ids[:3]}, f"got 3 ids for {len(X)} rows"),
    ]:
        with pytest.raises(HourglassError, match=message):
            render_page(model, X, **bad)


def test_table_bars_are_always_named():
    """The bars name each feature: the model's names, else the data's own columns, else x1..xm."""
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    frame = pd.DataFrame(X, columns=["alpha", "beta", "gamma", "delta"])
    assert _page_data(render_page(_fit(frame), frame))["feature_names"] == ["alpha", "beta", "gamma", "delta"]
    on_array = _fit(X)
    assert _page_data(render_page(on_array, frame))["feature_names"] == ["alpha", "beta", "gamma", "delta"]
    assert _page_data(render_page(on_array, X))["feature_names"] == ["x1", "x2", "x3", "x4"]


def test_ink_style_measures_how_the_data_is_drawn():
    """mnist7's digits: dark paper, grey strokes thinned by area-averaging, about 5 of 7 pixels tall, centred;
    the same digits inverted (dark ink on white) measure the same, with paper and ink swapped."""
    from hourglass.explorer.ink import ink_style

    X = load_dataset("mnist7").X
    style = ink_style(X)
    assert style["background"] == 0 and style["ink"] > 240
    assert 0.4 < style["spread"] < 0.7  # well below a crisp stroke's 1
    assert 4.5 < style["extent"] < 5.5 and np.allclose(style["centre"], 3.5, atol=0.3)
    inverted = ink_style(255 - X)
    assert inverted["background"] == 255 and inverted["ink"] < 15
    assert abs(inverted["spread"] - style["spread"]) < 0.02 and abs(inverted["extent"] - style["extent"]) < 0.1
    assert ink_style(np.zeros((5, 7, 7), np.uint8)) is None  # blank pages: nothing to measure


def test_served_page_names_the_dots(model, digits):
    """`make_server` (what `hourglass serve` runs) takes the same row numbers and ids as the file."""
    X, y = digits
    rows, ids = np.arange(len(X)) + 500, np.array([f"scan/{i}.png" for i in range(len(X))])
    server = make_server(model, X, y, rows=rows, ids=ids, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/") as reply:
            data = _page_data(reply.read().decode("utf-8"))
    finally:
        server.shutdown()
        server.server_close()
    assert data["mode"] == "server" and data["rows"] == rows.tolist() and data["ids"] == ids.tolist()
