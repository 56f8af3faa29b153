"""Conv, conv-VAE and detector models in the explorer's page: network.js against PyTorch (codes, rows and the
pad's score to 1e-5, in Chromium), and a page written by `hourglass explore` that hovers, walks and draws."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
from test_explorer_browser import EX, STROKE_A, browser_page, check_pad_against_model, mouse_stroke, pad_row, wait_until

from hourglass import AnomalyDetector, Autoencoder
from hourglass.cli import main
from hourglass.errors import HourglassError
from hourglass.explorer import browser_decodable, browser_encodable, export_encoder, write_explorer
from hourglass.explorer.page import render_page
from hourglass.explorer.weights import export_detector
from hourglass.export import browser
from hourglass.export.verify import compare

PAIR = ("javascript", "pytorch")


def spots(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """uint8 images of one soft bright spot each, at a random place and size: structure a code can hold."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    yy, xx = np.mgrid[:h, :w]
    centre = rng.uniform(0.2, 0.8, size=(n, 2)) * [h, w]
    radius = rng.uniform(1.5, 0.25 * min(h, w), size=(n, 1, 1))
    spot = np.exp(-((yy - centre[:, :1, None]) ** 2 + (xx - centre[:, 1:, None]) ** 2) / radius**2)
    images = 255 * spot
    if len(shape) == 3:  # colour: each channel its own brightness
        images = images[..., None] * rng.uniform(0.3, 1, size=(n, 1, 1, shape[2]))
    return images.astype(np.uint8)


TABLE = np.random.default_rng(2).normal(size=(150, 6)) * [1, 5, 1, 1e3, 1, 1]

# name -> (a fitted model, the rows it saw); each small, a couple of epochs: the weights only have to be learnt ones.
CASES = {
    "conv-28x28": lambda: (Autoencoder(hidden=(8, 16), epochs=2, seed=0), spots(160, (28, 28))),
    "conv-16x16": lambda: (Autoencoder(model="conv", hidden=(4, 8), epochs=2, seed=0), spots(160, (16, 16))),
    "conv-vae-28x28": lambda: (Autoencoder(model="vae", hidden=(8, 16), epochs=2, seed=0), spots(160, (28, 28))),
    # Odd sizes round down on the way in (output_padding on the way out); colour rows are channels-last.
    "conv-colour-15x13": lambda: (
        Autoencoder(model="conv", hidden=(4, 6, 8), activation="gelu", epochs=2, seed=0),
        spots(120, (15, 13, 3)),
    ),
    "detector-images": lambda: (AnomalyDetector(hidden=(16,), epochs=2, n_members=3, seed=0), spots(200, (16, 16))),
    "detector-images-forest": lambda: (
        AnomalyDetector(hidden=(16,), epochs=2, n_members=2, iforest=True, seed=0),
        spots(200, (16, 16)),
    ),
    "detector-table-error-only": lambda: (AnomalyDetector(hidden=(8,), epochs=2, knn_weight=0, seed=0), TABLE),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    model, X = CASES[request.param]()
    return request.param, model.fit(X), X


def _probes(X: np.ndarray) -> np.ndarray:
    """Data rows, random rows within the data's range, and rows far outside it (clipped by an autoencoder)."""
    flat = X.reshape(len(X), -1).astype(np.float64)
    rng = np.random.default_rng(1)
    lo, hi = flat.min(), flat.max()
    inside = rng.uniform(lo, hi, size=(6, flat.shape[1]))
    outside = rng.uniform(lo - 5 * (hi - lo), hi + 5 * (hi - lo), size=(4, flat.shape[1]))
    return np.vstack([flat[:14], inside, outside]).astype(np.float32)


def test_network_js_matches_pytorch(case):
    """Codes, decoded rows and the pad's score (``score_samples``) from the page's own script, to 1e-5."""
    name, model, X = case
    if reason := browser.unavailable(model):
        pytest.skip(reason)
    assert browser_decodable(model) and browser_encodable(model)
    if name.startswith("conv-2"):
        assert model.model_.name in ("conv", "vae") and "Unflatten" in repr(model.model_.decoder)
    rows = _probes(X)
    codes = model.codes(rows).astype(np.float64)  # a detector's too: it has codes, though no transform
    codes = np.vstack([codes, np.random.default_rng(3).normal(0, 3 * codes.std() + 1, size=(8, codes.shape[1]))])
    got = browser.run_in_browser(model, rows, codes)
    # As `hourglass verify` measures: absolute within 1, relative beyond (a detector's far-out rows have codes in
    # the thousands), and rows in the model's output units (relative to each feature's scale).
    checks = [
        compare("codes", PAIR, got.codes, model.codes(rows)),
        compare("rows", PAIR, got.rows, model.runner_.inverse_transform(codes), model.scaler_.scale),
        compare("scores", PAIR, got.scores, model.score_samples(rows)),
    ]
    assert all(c.ok for c in checks), checks


def test_layers_js_cannot_run_are_refused_in_one_line():
    model = Autoencoder(model="conv", hidden=(4,), epochs=1).fit(spots(40, (20, 20)))
    assert browser_encodable(model)
    odd = copy.deepcopy(model)
    odd.model_.encoder[1].dilation = (2, 2)  # a setting network.js does not implement: refused, not misread
    assert not browser_encodable(odd) and browser_decodable(odd)
    with pytest.raises(
        HourglassError, match=r"^the encoder layer Conv2d cannot run in the browser; use `hourglass serve"
    ):
        export_encoder(odd)


def test_only_a_detector_exports_its_terms():
    images = spots(60, (16, 16))
    assert export_detector(Autoencoder(hidden=(4,), epochs=1).fit(images)) is None
    detector = AnomalyDetector(hidden=(4,), epochs=1, iforest=True).fit(images)
    spec = export_detector(detector)
    assert spec["forest"]["trees"] == detector.forest_.n_trees
    assert spec["knn"]["k"] == detector.knn_.k and spec["knn"]["rows"] == detector.knn_.n_reference
    assert spec["fusion"]["median"] == detector.fusion_[0].tolist() and spec["weight"] == [1.0, 1.0, 1.5]
    assert export_detector(AnomalyDetector(hidden=(4,), epochs=1, knn_weight=0).fit(images)) == {
        "fusion": None,
        "weight": None,
        "forest": None,
        "knn": None,
    }


def _page_data(page: str) -> dict:
    return json.loads(re.search(r'id="hg-data">(.*?)</script>', page, re.S).group(1))


def preview(page, h: int, w: int) -> np.ndarray:
    script = f"Array.from(document.getElementById('preview').getContext('2d').getImageData(0, 0, {w}, {h}).data)"
    return np.asarray(page.evaluate(script), np.int64).reshape(h, w, 4)[..., 0]


def pixels(model, code, lo: float, hi: float) -> np.ndarray:
    decoded = model.inverse_transform(np.asarray([code], np.float64))[0].reshape(model.sample_shape_[:2])
    return np.round(255 * np.clip((decoded - lo) / (hi - lo), 0, 1)).astype(np.int64)


def test_explore_writes_a_conv_page_that_decodes_walks_and_draws(tmp_path, capsys):
    """`hourglass explore` on a 28x28 conv model (the default model there): the map, hover, walk and pad all run in
    the page, each matching PyTorch."""
    X = spots(200, (28, 28))
    model = Autoencoder(latent_dim=2, hidden=(8, 16), epochs=3, seed=0).fit(X)
    assert model.model_.name == "conv"
    model.save(tmp_path / "model")
    np.save(tmp_path / "data.npy", X)
    out = tmp_path / "page.html"
    assert main(["explore", str(tmp_path / "model"), str(tmp_path / "data.npy"), "-o", str(out)]) == 0
    data = _page_data(out.read_text())
    assert data["decoder"] and data["encoder"] and data["pad"]["ok"] and data["detector"] is None
    codes = model.transform(X)
    with browser_page(out.resolve().as_uri()) as page:
        assert "decoding in this page" in page.text_content("#meta")
        lo, hi = page.evaluate(f"{EX}.range")
        # Hover a dot: the preview is PyTorch's decode of the point under the cursor.
        seen = page.evaluate(f"{EX}.state.previews")
        x, y = page.evaluate(f"{EX}.dotScreen(3)")
        page.mouse.move(x, y)
        wait_until(page, f"{EX}.state.previews > {seen}")
        code = page.evaluate(f"{EX}.state.preview.code")
        assert np.abs(preview(page, 28, 28) - pixels(model, code, lo, hi)).max() <= 1
        # Two dots: the walk runs to B's code, and its last frame is PyTorch's decode there.
        far = int(np.argmax(np.linalg.norm(codes - codes[3], axis=1)))
        page.mouse.click(x, y)
        page.mouse.click(*page.evaluate(f"{EX}.dotScreen({far})"))
        wait_until(page, f"{EX}.state.walk && {EX}.state.walk.done")
        last = page.evaluate(f"{EX}.state.preview.code")
        assert np.allclose(last, codes[far], atol=1e-5)
        assert np.abs(preview(page, 28, 28) - pixels(model, last, lo, hi)).max() <= 1
        # The pad: a stroke is encoded, rebuilt and scored in the page, as PyTorch does.
        mouse_stroke(page, STROKE_A)
        wait_until(page, f"{EX}.state.pad.updates > 0")
        check_pad_against_model(page, model)


def test_a_detector_page_scores_the_drawing_in_the_page(tmp_path):
    """The detector's ensemble decodes on hover, and the pad shows its own score (error and distance) and verdict."""
    X = spots(240, (16, 16))
    detector = AnomalyDetector(epochs=2, seed=0).fit(X)
    path = write_explorer(detector, X, path=tmp_path / "detector.html")
    data = _page_data(path.read_text())
    assert data["pad"]["ok"] and data["detector"]["knn"] is not None
    with browser_page(path.resolve().as_uri()) as page:
        decoded = page.evaluate(f"{EX}.decode({json.dumps(detector.codes(X[:3]).tolist())})")
        expected = detector.runner_.inverse_transform(detector.codes(X[:3]))
        assert np.abs((np.asarray(decoded) - expected) / detector.scaler_.scale).max() < 1e-5
        mouse_stroke(page, STROKE_A)
        wait_until(page, f"{EX}.state.pad.updates > 0")
        row = pad_row(page)[None]
        pad = page.evaluate(f"{EX}.state.pad")
        expected_score = -detector.score_samples(row)[0]
        assert abs(pad["score"] - expected_score) <= 1e-5 * max(1.0, abs(expected_score))
        assert np.abs(np.asarray(pad["code"]) - detector.codes(row)[0]).max() < 1e-5
        readout = page.text_content("#pad-readout")
        verdict = "anomaly" if expected_score > -detector.offset_ else "normal"
        assert "anomaly score " in readout and f"({verdict}: threshold " in readout


def test_a_served_conv_page_carries_no_weights():
    """The served page asks its server; only the file carries the network."""
    X = spots(30, (20, 20))
    model = Autoencoder(model="conv", hidden=(4,), epochs=1).fit(X)
    served = _page_data(render_page(model, X, mode="server"))
    assert served["decoder"] is None and served["encoder"] is None and served["pad"]["ok"]
