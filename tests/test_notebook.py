"""A fitted model shows itself in a notebook (``_repr_html_``), and the explorer embeds in a cell (``show``)."""

import html
import json
import re
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from test_explorer_browser import CHROMIUM, EX, FLAGS, require_browser

import hourglass as hg
from hourglass.explorer import show


def _rows(n: int = 200, d: int = 6) -> np.ndarray:
    return np.random.default_rng(0).random((n, d)).astype(np.float32)


def test_unfitted_estimator_keeps_scikit_learns_diagram():
    ae = hg.Autoencoder(hidden=(8,), epochs=2)
    assert "hourglass-card" not in ae._repr_html_()
    assert "Autoencoder" in ae._repr_html_()


def test_fitted_card_has_architecture_loss_curve_map_and_heldout_error():
    frame = pd.DataFrame(_rows(), columns=[f"<img src=x onerror=alert({i})>" for i in range(6)])
    ae = hg.Autoencoder(hidden=(8,), epochs=4, seed=0).fit(frame)
    page = ae._repr_html_()
    card = page.split("<style", 1)[0]  # ours, above scikit-learn's diagram (which carries its own style)
    assert card.startswith('<div class="hourglass-card"') and "<script" not in card
    assert ae._repr_mimebundle_()["text/html"].startswith(card)
    assert "mlp, widths 6 &gt; 8 &gt; 2 and back" in card
    held = ae.history_.held_out  # as `hourglass train` prints it: beside predicting the mean and PCA's
    assert f"MSE {held['mse']:.4g} on {held['rows']:,} held-out rows (scaled units); predicting the mean:" in page
    assert f"{len(ae.history_.train)} epochs" in page
    assert card.count("<polyline") == 2 and 300 < card.count("<circle") <= 400
    assert "<img src=x" not in page  # the sklearn diagram below escapes the column names too


def test_card_says_why_there_is_no_map():
    X = _rows()
    vae = hg.Autoencoder(model="vae", hidden=(8,), epochs=2).fit(X)
    assert "N(0, I) prior" in vae._repr_html_() and "<circle" not in vae._repr_html_()
    wide = hg.Autoencoder(latent_dim=3, hidden=(8,), epochs=2).fit(X)
    assert "the code has 3 numbers" in wide._repr_html_()


def test_card_and_embedded_explorer_render_in_chromium():
    require_browser()
    from playwright.sync_api import sync_playwright

    X = _rows()
    ae = hg.Autoencoder(hidden=(8,), epochs=3, seed=0).fit(X)
    labels = np.arange(len(X)) % 3
    document = f"<!doctype html><body>{ae._repr_html_()}{show(ae, X, labels, height=500)}</body>"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.set_content(document)
            assert page.locator(".hourglass-card svg").count() == 2
            assert page.locator(".hourglass-card circle").count() > 300
            frame = page.frame_locator("iframe").first
            end = time.monotonic() + 15
            inner = page.frames[1]
            while not inner.evaluate(f"{EX} !== undefined && {EX}.n === {len(X)}"):
                assert time.monotonic() < end, "the embedded explorer never started"
                time.sleep(0.1)
            decoded = inner.evaluate(f"{EX}.decode([[0, 0]])")
            assert np.allclose(decoded[0], ae.inverse_transform(np.zeros((1, 2), np.float32))[0], atol=1e-4)
            assert re.search(r"\d", frame.locator("body").inner_text())
        finally:
            browser.close()
    assert not errors, errors


def test_explorer_is_an_attribute_of_the_package():
    """The README's notebook call, ``import hourglass as hg; hg.explorer.show(...)``, in a fresh interpreter: the
    subpackage loads on first use, and ``import hourglass`` alone still imports no torch."""
    script = (
        "import sys, numpy as np, hourglass as hg\n"
        "assert 'torch' not in sys.modules\n"
        "X = np.random.default_rng(0).random((40, 5)).astype(np.float32)\n"
        "frame = hg.explorer.show(hg.Autoencoder(hidden=(8,), epochs=1, seed=0).fit(X), X)\n"
        "print(str(frame)[:7], 'explorer' in dir(hg))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["<iframe", "True"]


def test_show_names_the_dots():
    """``show`` passes row numbers and ids on to the page, escaped inside the frame's srcdoc."""
    X = _rows(40)
    ae = hg.Autoencoder(hidden=(8,), epochs=1, seed=0).fit(X)
    frame = str(show(ae, X, rows=np.arange(40) + 100, ids=[f"<b>{i}</b>.png" for i in range(40)]))
    assert "<b>" not in frame  # escaped for the attribute; the page shows it as text
    page = html.unescape(frame.split('srcdoc="', 1)[1].split('" style=', 1)[0])
    data = json.loads(re.search(r'id="hg-data">(.*?)</script>', page, re.S).group(1))
    assert data["rows"] == list(range(100, 140)) and data["ids"][3] == "<b>3</b>.png"
