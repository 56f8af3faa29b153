"""End-to-end: the explorer in a real (headless) Chromium, from file:// and against `hourglass serve`."""

from __future__ import annotations

import contextlib
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
def browser_page(url: str):
    """A fresh headless Chromium (own profile) on ``url``; page errors fail the test. Skips loudly without one."""
    require_browser()
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1366, "height": 768}
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
