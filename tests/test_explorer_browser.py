"""End-to-end: the explorer in a real (headless) Chromium, from file:// and against `hourglass serve`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from hourglass.data import load_dataset
from hourglass.estimator import Autoencoder
from hourglass.explorer import write_explorer

CHROMIUM = os.environ.get("HOURGLASS_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EX = "window.hourglassExplorer"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HOURGLASS_CHROMIUM)"
    return None


def require_browser() -> None:
    """Skip, loudly (a warning in the summary), where Playwright or Chromium is missing."""
    reason = _missing()
    if reason:
        message = f"BROWSER TESTS SKIPPED: {reason}"
        warnings.warn(message, stacklevel=3)
        pytest.skip(message)


@contextlib.contextmanager
def browser_page(url: str, **options):
    """A fresh headless Chromium (own profile) on ``url``; page errors fail the test. Skips loudly without one.

    ``options`` go to Playwright's context (``has_touch=True`` for a touch screen)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1366, "height": 768},
            **options,
        )
        try:
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            wait_until(page, f"{EX} !== undefined && {EX}.state !== undefined")
            yield page
            assert not errors, errors
        finally:
            context.close()


def wait_until(page, expression: str, timeout: float = 15.0):
    """Poll an expression (the page's CSP forbids eval, so no wait_for_function)."""
    end = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {expression}"
        time.sleep(0.03)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = load_dataset("mnist7")
    X, y = data.X[:1500], data.y[:1500]
    model = Autoencoder(latent_dim=2, hidden=(64, 32), epochs=15, seed=0).fit(X)
    folder = tmp_path_factory.mktemp("explorer")
    model.save(folder / "model")
    np.savez(folder / "data.npz", X=X[:600], y=y[:600])
    return model, X[:600], y[:600], folder


def preview_pixels(page) -> np.ndarray:
    script = "Array.from(document.getElementById('preview').getContext('2d').getImageData(0, 0, 7, 7).data)"
    data = page.evaluate(script)
    return np.asarray(data, np.int64).reshape(7, 7, 4)[..., 0]


def expected_pixels(model: Autoencoder, code: list[float], lo: float, hi: float) -> np.ndarray:
    decoded = model.inverse_transform(np.asarray([code], np.float64))[0].reshape(7, 7)
    return np.round(255 * np.clip((decoded - lo) / (hi - lo), 0, 1)).astype(np.int64)


def hover_and_walk(page, model: Autoencoder, X: np.ndarray) -> None:
    lo, hi = page.evaluate(f"{EX}.range")
    codes = model.transform(X)

    # Hover onto dot 5: the preview decodes that point, and it matches PyTorch's decode of it.
    x, y = page.evaluate(f"{EX}.dotScreen(5)")
    seen = page.evaluate(f"{EX}.state.previews")
    page.mouse.move(x, y)
    wait_until(page, f"{EX}.state.previews > {seen}")
    code = page.evaluate(f"{EX}.state.preview.code")
    pixel_size = np.ptp(codes, axis=0).max() / 300  # the map is far wider than 300 px: one pixel is less
    assert np.abs(np.asarray(code) - codes[5]).max() < pixel_size
    first = preview_pixels(page)
    assert np.abs(first - expected_pixels(model, code, lo, hi)).max() <= 1

    # Another point far away: the canvas changes, and again matches the model.
    far = int(np.argmax(np.linalg.norm(codes - codes[5], axis=1)))
    x2, y2 = page.evaluate(f"{EX}.dotScreen({far})")
    seen = page.evaluate(f"{EX}.state.previews")
    page.mouse.move(x2, y2, steps=5)
    wait_until(page, f"{EX}.state.previews > {seen}")
    wait_until(page, f"Math.hypot(...{EX}.state.preview.code.map((v, j) => v - {codes[far].tolist()}[j])) < 0.05")
    code2 = page.evaluate(f"{EX}.state.preview.code")
    second = preview_pixels(page)
    assert np.abs(second - first).sum() > 50
    assert np.abs(second - expected_pixels(model, code2, lo, hi)).max() <= 1

    # Click two dots: the walk runs frame by frame and ends on B's decode.
    page.mouse.click(x, y)
    wait_until(page, f"{EX}.state.selected.length === 1")
    wait_until(page, "document.getElementById('selection').textContent.includes('percentile')")
    shown = page.evaluate("document.getElementById('selection').textContent")
    rank = re.search(r"(\d+)(st|nd|rd|th) percentile", shown)
    assert rank and rank.group(2) == page.evaluate(f"{EX}.ordinal({rank.group(1)})")[len(rank.group(1)) :]
    words = {k: page.evaluate(f"{EX}.ordinal({k})") for k in (0, 1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 100, 101, 111)}
    assert words == {0: "0th", 1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th",
                     21: "21st", 22: "22nd", 23: "23rd", 100: "100th", 101: "101st", 111: "111th"}  # fmt: skip
    page.mouse.click(x2, y2)
    assert page.evaluate(f"{EX}.state.selected") == [5, far]
    frames = set()
    end = time.monotonic() + 15
    while not page.evaluate(f"{EX}.state.walk.done"):
        frames.add(page.evaluate(f"{EX}.state.walk.frame"))
        assert time.monotonic() < end, f"the walk never finished: {page.evaluate(f'{EX}.state.walk')}"
        time.sleep(0.05)
    assert len(frames) >= 3, f"the walk showed only frames {sorted(frames)}"
    last = page.evaluate(f"{EX}.state.preview.code")
    assert np.allclose(last, codes[far], atol=1e-5)
    assert np.abs(preview_pixels(page) - expected_pixels(model, last, lo, hi)).max() <= 1
    assert "Walked A" in page.text_content("#walk-status")

    # Keyboard: focus the map, arrow keys move the probe and decode; Escape clears the walk.
    page.focus("#map")
    seen = page.evaluate(f"{EX}.state.previews")
    page.keyboard.press("ArrowRight")
    wait_until(page, f"{EX}.state.previews > {seen}")
    page.keyboard.press("Escape")
    assert page.evaluate(f"{EX}.state.selected") == []


def test_explorer_file_in_browser(trained, tmp_path):
    model, X, y, _ = trained
    path = write_explorer(model, X, y, tmp_path / "explorer.html")
    with browser_page(path.resolve().as_uri()) as page:
        assert page.evaluate(f"{EX}.mode") == "file"
        hover_and_walk(page, model, X)
        # Colour toggle: the error colouring swaps the legend.
        page.check("#colour-error")
        assert "reconstruction error" in page.text_content("#legend")


def test_explorer_against_serve(trained):
    model, X, _, folder = trained
    proc = subprocess.Popen(
        [sys.executable, "-m", "hourglass", "serve", str(folder / "model"), str(folder / "data.npz"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"serve did not start: {line}{proc.stdout.read() if proc.poll() is not None else ''}"
        with browser_page(match.group(0)) as page:
            assert page.evaluate(f"{EX}.mode") == "server"
            hover_and_walk(page, model, X)
    finally:
        proc.terminate()
        proc.wait(10)


# ---------------------------------------------------------------------------------------------- the drawing pad
PAD_COLOUR = (0xD6, 0x33, 0x6C)  # explorer.js PAD_COLOUR: the drawing's diamond on the map


def pad_points(page, fractions):
    """Points on the pad, in page pixels, from (x, y) fractions of its box."""
    box = page.locator("#pad").bounding_box()
    return [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in fractions]


def mouse_stroke(page, fractions):
    points = pad_points(page, fractions)
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=4)
    page.mouse.up()


def touch_stroke(page, fractions):
    """A finger dragged over the pad: real touch input through Chromium's input pipeline (DevTools protocol), which
    the page receives as pointer events of pointerType "touch", as on a phone."""
    cdp = page.context.new_cdp_session(page)
    for j, (x, y) in enumerate(pad_points(page, fractions)):
        kind = "touchMove" if j else "touchStart"
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def pad_row(page) -> np.ndarray:
    """The drawing as the page hands it to the model: a row in the data's units."""
    return np.asarray(page.evaluate(f"{EX}.padRow()"))


def check_pad_against_model(page, model) -> None:
    """The pad's code, reconstruction, score and marker are PyTorch's, for the drawing on the pad now."""
    row = pad_row(page)[None]
    pad = page.evaluate(f"{EX}.state.pad")
    scale = model.scaler_.scale
    assert np.abs(np.asarray(pad["code"]) - model.transform(row)[0]).max() < 1e-5
    assert np.abs((np.asarray(pad["reconstruction"]) - model.reconstruct(row)[0]) / scale).max() < 1e-5
    assert abs(pad["score"] + model.score_samples(row)[0]) < 1e-6 * max(1.0, abs(pad["score"]))
    assert np.allclose(pad["view"], page.evaluate(f"{EX}.codeToView({json.dumps(pad['code'])})"))
    assert "percentile" in page.text_content("#pad-readout")
    # The diamond is drawn on the map's overlay where the code lands.
    x, y = page.evaluate(f"{EX}.padScreen()")
    box = page.locator("#map").bounding_box()
    overlay = "document.getElementById('map').getContext('2d')"
    pixel = page.evaluate(f"Array.from({overlay}.getImageData({x - box['x']}, {y - box['y']}, 1, 1).data)")
    assert tuple(pixel[:3]) == PAD_COLOUR


STROKE_A = [(0.3, 0.2), (0.7, 0.2), (0.4, 0.85)]  # a 7
STROKE_B = [(0.5, 0.1), (0.5, 0.9)]  # a 1


def test_pad_with_the_mouse(trained, tmp_path):
    model, X, y, _ = trained
    path = write_explorer(model, X, y, tmp_path / "explorer.html")
    with browser_page(path.resolve().as_uri()) as page:
        assert page.is_visible("#pad") and page.evaluate(f"{EX}.state.pad.view") is None
        mouse_stroke(page, STROKE_A)
        wait_until(page, f"{EX}.state.pad.updates > 0")
        assert page.evaluate(f"{EX}.state.pad.pointer") == "mouse"
        assert (pad_row(page) > 0).sum() >= 5
        check_pad_against_model(page, model)
        first = page.evaluate(f"{EX}.state.pad")

        # More strokes: every move re-encodes, the marker moves, the readout follows.
        mouse_stroke(page, STROKE_B)
        second = page.evaluate(f"{EX}.state.pad")
        assert second["updates"] > first["updates"] + 3 and second["code"] != first["code"]
        check_pad_against_model(page, model)

        page.click("#pad-clear")
        assert not any(page.evaluate(f"{EX}.padInk()")) and page.evaluate(f"{EX}.state.pad.view") is None


def test_pad_with_a_finger(trained, tmp_path):
    model, X, y, _ = trained
    path = write_explorer(model, X, y, tmp_path / "explorer.html")
    with browser_page(path.resolve().as_uri(), has_touch=True) as page:
        box = page.locator("#pad").bounding_box()
        page.touchscreen.tap(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])  # a dot
        wait_until(page, f"{EX}.state.pad.updates > 0")
        assert page.evaluate(f"{EX}.state.pad.pointer") == "touch"
        check_pad_against_model(page, model)
        tapped = page.evaluate(f"{EX}.state.pad")

        touch_stroke(page, [(0.2, 0.3), (0.4, 0.3), (0.6, 0.3), (0.8, 0.3), (0.5, 0.6), (0.3, 0.9)])
        wait_until(page, f"{EX}.state.pad.updates > {tapped['updates'] + 3}")
        assert page.evaluate(f"{EX}.state.pad.pointer") == "touch"
        assert page.evaluate(f"{EX}.state.pad.code") != tapped["code"]
        check_pad_against_model(page, model)


def test_search_lasso_and_neighbors(trained, tmp_path):
    model, X, y, _ = trained
    path = write_explorer(model, X, y, tmp_path / "explorer.html")
    codes = model.transform(X).astype(np.float32)
    with browser_page(path.resolve().as_uri()) as page:
        # Search: labels match whole ("3" is label 3), "#n" is row n; the count and the state say which.
        page.fill("#search", "3")
        assert page.evaluate(f"{EX}.state.search") == np.flatnonzero(y == 3).tolist()
        assert page.text_content("#search-count") == f"{(y == 3).sum()} of {len(y)} dots"
        page.fill("#search", "#5, #17, 8")
        assert page.evaluate(f"{EX}.state.search") == sorted({5, 17, *np.flatnonzero(y == 8).tolist()})
        page.fill("#search", "")
        assert page.evaluate(f"{EX}.state.search") is None

        # Lasso: a loop drawn with the mouse selects the dots inside it; the CSV holds exactly their row ids.
        from matplotlib.path import Path as Polygon

        dots = np.asarray(page.evaluate(f"Array.from({{length: {EX}.n}}, (_, i) => {EX}.dotScreen(i))"))
        centre = np.median(dots, axis=0)
        spread = np.percentile(dots, 75, axis=0) - np.percentile(dots, 25, axis=0)
        loop = centre + np.array([[-1.0, -1.0], [1.2, -0.6], [0.8, 1.1], [-0.9, 0.7]]) * spread
        page.click("#lasso")
        page.mouse.move(*loop[0])
        page.mouse.down()
        for corner in [*loop[1:], loop[0]]:
            page.mouse.move(*corner, steps=6)
        page.mouse.up()
        inside = np.flatnonzero(Polygon(loop).contains_points(dots)).tolist()
        assert 10 < len(inside) < len(X)
        assert page.evaluate(f"{EX}.state.lasso.dots") == inside
        assert page.text_content("#lasso-count") == f"{len(inside)} dots lassoed"
        with page.expect_download() as download:
            page.click("#lasso-csv")
        lines = Path(download.value.path()).read_text().splitlines()
        # no subsample and no row numbers given: a dot's row_id is its place in X
        assert lines == ["row_id,label", *(f"{i},{y[i]}" for i in inside)]
        page.click("#lasso")  # off again: a drag pans

        # Neighbors: the selected dot's nearest dots by code distance, as images, in order.
        page.mouse.click(*page.evaluate(f"{EX}.dotScreen(5)"))
        wait_until(page, f"{EX}.state.selected.length === 1")
        selected = page.evaluate(f"{EX}.state.selected[0]")
        distance = np.linalg.norm(codes - codes[selected], axis=1)
        distance[selected] = np.inf
        expected = np.lexsort((np.arange(len(codes)), distance))[:8].tolist()
        assert page.evaluate(f"{EX}.state.neighbors") == expected
        shown = page.eval_on_selector_all("#neighbors button", "(bs) => bs.map((b) => Number(b.dataset.index))")
        assert shown == expected and page.locator("#neighbors canvas").count() == 8
        page.click("#neighbors button >> nth=0")
        assert page.evaluate(f"{EX}.state.selected") == [selected, expected[0]]


def test_pad_against_serve_with_a_detector():
    """Served, any model draws: the server encodes. A detector's pad shows its own score against its threshold."""
    import threading

    from hourglass.anomaly import AnomalyDetector
    from hourglass.explorer.server import make_server

    X = load_dataset("mnist7").X[:300]
    detector = AnomalyDetector(epochs=2, seed=0).fit(X)
    server = make_server(detector, X, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with browser_page(f"http://127.0.0.1:{server.server_address[1]}/") as page:
            assert page.evaluate(f"{EX}.mode") == "server"
            mouse_stroke(page, STROKE_A)
            wait_until(page, f"{EX}.state.pad.updates > 0 && {EX}.state.pad.score !== null")
            # One request in flight, the latest stroke next: wait until the last answer is for the drawing as it is.
            row = pad_row(page)[None]
            expected = -detector.score_samples(row)[0]
            wait_until(page, f"Math.abs({EX}.state.pad.score - {expected}) < 1e-6")
            assert np.abs(np.asarray(page.evaluate(f"{EX}.state.pad.code")) - detector.codes(row)[0]).max() < 1e-5
            readout = page.text_content("#pad-readout")
            verdict = "anomaly" if expected > -detector.offset_ else "normal"
            assert "anomaly score " in readout and f"({verdict}: threshold " in readout
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------- drawn digits
def _ring(cx, cy, rx, ry, start=0.0, turn=1.0, n=28):
    return [(cx + rx * np.sin(a), cy - ry * np.cos(a)) for a in start + np.linspace(0, 2 * np.pi * turn, n)]


# Digits as a person draws them on the pad: filling most of its box, in white, one or two strokes.
DIGITS = {
    0: [_ring(0.5, 0.5, 0.27, 0.38, turn=1.05)],
    1: [[(0.54, 0.12), (0.46, 0.88)]],
    2: [[(0.25, 0.3), (0.35, 0.15), (0.55, 0.12), (0.72, 0.22), (0.72, 0.38), (0.25, 0.86), (0.78, 0.86)]],
    3: [[(0.25, 0.18), (0.55, 0.12), (0.72, 0.25), (0.68, 0.4), (0.45, 0.48), (0.72, 0.6), (0.7, 0.78), (0.25, 0.84)]],
    4: [[(0.6, 0.12), (0.22, 0.6), (0.8, 0.6)], [(0.62, 0.35), (0.62, 0.9)]],
    6: [[(0.66, 0.12), (0.42, 0.32), (0.3, 0.6), (0.36, 0.84), (0.55, 0.88), (0.7, 0.74), (0.62, 0.56), (0.32, 0.66)]],
    7: [[(0.22, 0.15), (0.78, 0.15), (0.42, 0.88)]],
    9: [[*_ring(0.48, 0.32, 0.2, 0.19, start=0.5 * np.pi, turn=-1.0, n=22), (0.66, 0.45), (0.6, 0.88)]],
}


def draw(page, strokes, box=(0.0, 0.0, 1.0, 1.0)) -> np.ndarray:
    """Clear the pad, draw ``strokes`` (fractions of the part ``box`` = (x, y, width, height) of the pad) with the
    mouse, and return the row the page hands the model."""
    page.click("#pad-clear")
    x0, y0, w, h = box
    for line in strokes:
        mouse_stroke(page, [(x0 + fx * w, y0 + fy * h) for fx, fy in line])
    wait_until(page, f"{EX}.state.pad.updates > 0")
    return pad_row(page)


@pytest.fixture(scope="module")
def digit_model():
    data = load_dataset("mnist7")
    return Autoencoder(latent_dim=2, epochs=30, seed=0).fit(data.X), data


@pytest.mark.slow  # a statistical test: a 30-epoch fit, its map checked for quality
def test_drawn_digits_land_among_their_kind(digit_model, tmp_path):
    """A drawing is rendered as the data was made: MNIST's grey, area-averaged strokes, not the pad's white ones.
    Before, every drawing scored at the 100th percentile of the data's reconstruction errors and most landed
    among the wrong digits; now most land among their own and all score as the data does."""
    model, data = digit_model
    path = write_explorer(model, data.X, data.y, tmp_path / "explorer.html")
    codes, errors = model.transform(data.X), -model.score_samples(data.X)
    landed, ranks = {}, {}
    with browser_page(path.resolve().as_uri()) as page:
        for digit, strokes in DIGITS.items():
            row = draw(page, strokes)
            check_pad_against_model(page, model)
            code, error = model.transform(row[None])[0], -model.score_samples(row[None])[0]
            nearest = data.y[np.argsort(np.linalg.norm(codes - code, axis=1))[:15]]
            landed[digit] = int(np.bincount(nearest, minlength=10).argmax())
            ranks[digit] = float((errors < error).mean())
            # The data's intensities: grey strokes (area-averaged), no pixel brighter than the data's brightest.
            assert 0 < row.max() <= data.X.max() and (row > 0).sum() < 0.6 * row.size
        small = draw(page, DIGITS[7], box=(0.05, 0.05, 0.4, 0.4))  # the same 7, small, in a corner
        big = draw(page, DIGITS[7])
    hits = [d for d in DIGITS if landed[d] == d]
    assert len(hits) >= 0.7 * len(DIGITS), f"drawn digit -> the label of its nearest codes: {landed}"
    assert max(ranks.values()) < 0.95, f"share of the data rebuilt better than each drawing: {ranks}"
    # Framed as the data's digits are: where and how large it is drawn barely matters.
    assert np.abs(small - big).mean() < 0.1 * np.abs(big).mean()


# ---------------------------------------------------------------------------------------------- names of the dots
def test_dots_are_named_by_their_row_in_the_source_and_their_path(trained, tmp_path):
    """A subset of a source (a held-out split, an image folder): every place the page names a dot uses the
    source's row number, and its file path where it has one."""
    import csv
    import io

    model, X, y, _ = trained
    rows = 1000 + 3 * np.arange(len(X))  # where these rows sit in their source
    ids = np.array([f"digits/{label}/img {i:04d}.png" for i, label in enumerate(y)], dtype=object)
    ids[7] = 'odd, "quoted"\nname.png'
    path = write_explorer(model, X, y, tmp_path / "explorer.html", rows=rows, ids=ids)
    with browser_page(path.resolve().as_uri()) as page:
        # Search: #N is the source's row N (not the dot's place); a file name or the path's last parts find it.
        page.fill("#search", f"#{rows[5]}, #5")
        assert page.evaluate(f"{EX}.state.search") == [5]
        page.fill("#search", "IMG 0012.png")
        assert page.evaluate(f"{EX}.state.search") == [12]
        page.fill("#search", f"{y[12]}/img 0012.png, #{rows[7]}")
        assert page.evaluate(f"{EX}.state.search") == [7, 12]
        page.fill("#search", "")

        # Hover: the dot under the cursor is the one named beside it.
        dots = np.asarray(page.evaluate(f"Array.from({{length: {EX}.n}}, (_, i) => {EX}.dotScreen(i))"))
        gaps = np.linalg.norm(dots[:, None] - dots[None], axis=2) + np.eye(len(dots)) * 1e9
        lone = int(np.argmax(gaps.min(axis=1)))  # the dot farthest from any other: no doubt which is hovered
        page.mouse.move(*dots[lone])
        wait_until(page, f"{EX}.state.hover === {lone}")

        # Selection and neighbors say the row number and path.
        page.mouse.click(*dots[lone])
        wait_until(page, "document.getElementById('selection').textContent.includes('percentile')")
        shown = page.text_content("#selection")
        assert f"row {rows[lone]}" in shown and ids[lone] in shown
        assert page.text_content("#neighbors-note").startswith(f"row {rows[lone]} \u00b7 {ids[lone]}")
        page.keyboard.press("Escape")

        # The lasso's CSV: row_id (the source's), path and label, quoted where a path needs it.
        box = page.locator("#map").bounding_box()
        fractions = ((0.01, 0.01), (0.99, 0.01), (0.99, 0.99), (0.01, 0.99))
        corners = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in fractions]
        page.click("#lasso")
        page.mouse.move(*corners[0])
        page.mouse.down()
        for corner in [*corners[1:], corners[0]]:
            page.mouse.move(*corner, steps=4)
        page.mouse.up()
        lassoed = page.evaluate(f"{EX}.state.lasso.dots")
        assert 7 in lassoed and len(lassoed) > 0.9 * len(X)
        with page.expect_download() as download:
            page.click("#lasso-csv")
        table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(), newline="")))
        assert table == [["row_id", "path", "label"], *([str(rows[i]), ids[i], str(y[i])] for i in lassoed)]


# ---------------------------------------------------------------------------------------------- layout
SCREENS = [(390, 844), (700, 900), (1366, 900), (1920, 1080)]  # a phone, a small window, a laptop, a desktop
# Boxes, in page coordinates, of the page's blocks: none may overlap another.
BLOCKS = """() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY]; };
  const shown = (e) => e.getClientRects().length > 0;
  const blocks = {};
  for (const s of ["header", ".toolbar", "#map-wrap", "#legend", ".walk-bar", ".hint"]) {
    blocks[s] = box(document.querySelector(s));
  }
  document.querySelectorAll("aside .card").forEach((c, j) => { if (shown(c)) blocks["card " + j] = box(c); });
  return blocks;
}"""


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def check_layout(page, width: int, height: int, table: bool) -> None:
    """At one window size: no block overlaps another, nothing runs off the page's width, the legend shows,
    the Draw card cuts no caption, the walk is in view on a laptop, and input moves nothing."""
    page.set_viewport_size({"width": width, "height": height})
    page.reload()
    wait_until(page, f"{EX} !== undefined && {EX}.state !== undefined")
    where = f"at {width}x{height}"
    blocks = page.evaluate(BLOCKS)
    names = list(blocks)
    for j, a in enumerate(names):
        assert blocks[a][2] <= width + 0.5, f"{a} runs off the page {where}: {blocks[a]}"
        for b in names[j + 1 :]:
            assert _overlap(blocks[a], blocks[b]) < 1, f"{a} overlaps {b} {where}: {blocks[a]} {blocks[b]}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"the page scrolls sideways {where}"
    legend = page.locator("#legend .item").first
    assert legend.is_visible() and legend.bounding_box()["width"] > 5, f"no legend {where}"
    # The Draw card: a table's pad is hidden (its note shows); an image's captions are whole and inside the card.
    assert page.locator("#pad-pair").is_visible() is not table
    cut = page.evaluate("""() => { const card = document.getElementById("pad-card").getBoundingClientRect();
      return Array.from(document.querySelectorAll("#pad-card figcaption")).filter((f) => f.getClientRects().length)
        .filter((f) => { const r = f.getBoundingClientRect();
          return f.scrollWidth > f.clientWidth + 1 || r.left < card.left || r.right > card.right; })
        .map((f) => f.textContent); }""")
    assert not cut, f"cut captions in the Draw card {where}: {cut}"
    if width >= 1366:  # a laptop or wider: the walk's frames are on screen, unscrolled
        strip = page.locator("#strip").bounding_box()
        assert strip["y"] + strip["height"] <= height, f"the walk's frames are below the fold {where}: {strip}"

    if width not in (390, 1366):
        return  # the toolbar wrapped on a laptop; a phone stacks it: input is tried at those two sizes

    # Input moves nothing: a search, a lasso, a walk and a drawing leave every block where it was, and the first
    # three cards of the side panel start where they did (the last one grows with the selected dot's neighbors).
    def still(blocks):
        return {k: (v[1] if k.startswith("card") else v) for k, v in blocks.items() if k not in ("card 3",)}

    before = still(blocks)
    page.fill("#search", "1, #3")
    page.click("#lasso")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    for fx, fy in ((0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.3)):
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=3)
    page.mouse.up()
    page.click("#lasso")
    assert page.text_content("#search-count") and page.text_content("#lasso-count")
    for i in (0, 1):
        page.mouse.click(*page.evaluate(f"{EX}.dotScreen({i})"))
    wait_until(page, f"{EX}.state.walk && {EX}.state.walk.done")
    if not table:
        page.locator("#pad").scroll_into_view_if_needed()  # below the map on a phone
        mouse_stroke(page, STROKE_A)
        wait_until(page, f"{EX}.state.pad.updates > 0")
    after = still(page.evaluate(BLOCKS))
    assert after == before, f"input moved the page {where}: {before} -> {after}"


def test_layout_at_phone_laptop_and_desktop_sizes(trained, tmp_path):
    model, X, y, _ = trained
    rng = np.random.default_rng(0)
    import pandas as pd

    columns = ["age", "income", "height_cm", "weight_kg", "visits", "score"]
    frame = pd.DataFrame(rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6)), columns=columns)
    table = Autoencoder(hidden=(16,), epochs=10, seed=0).fit(frame)
    pages = {
        False: write_explorer(model, X, y, tmp_path / "images.html"),
        True: write_explorer(table, frame, rng.integers(0, 3, 200), tmp_path / "table.html"),
    }
    for is_table, path in pages.items():
        with browser_page(path.resolve().as_uri()) as page:
            for width, height in SCREENS:
                check_layout(page, width, height, is_table)
