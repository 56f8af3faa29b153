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


def test_search_lasso_and_neighbours(trained, tmp_path):
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

        # Neighbours: the selected dot's nearest dots by code distance, as images, in order.
        page.mouse.click(*page.evaluate(f"{EX}.dotScreen(5)"))
        wait_until(page, f"{EX}.state.selected.length === 1")
        selected = page.evaluate(f"{EX}.state.selected[0]")
        distance = np.linalg.norm(codes - codes[selected], axis=1)
        distance[selected] = np.inf
        expected = np.lexsort((np.arange(len(codes)), distance))[:8].tolist()
        assert page.evaluate(f"{EX}.state.neighbours") == expected
        shown = page.eval_on_selector_all("#neighbours button", "(bs) => bs.map((b) => Number(b.dataset.index))")
        assert shown == expected and page.locator("#neighbours canvas").count() == 8
        page.click("#neighbours button >> nth=0")
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
            assert np.abs(np.asarray(page.evaluate(f"{EX}.state.pad.code")) - detector.transform(row)[0]).max() < 1e-5
            readout = page.text_content("#pad-readout")
            verdict = "anomaly" if expected > -detector.offset_ else "normal"
            assert "anomaly score " in readout and f"({verdict}: threshold " in readout
    finally:
        server.shutdown()
        server.server_close()
