"""The explorer's JavaScript network (``explorer/static/network.js``), run in headless Chromium.

The page's own code, not a re-implementation: network.js is loaded as it is shipped (the explorer page inlines
the same file before its own script) and fed ``export_decoder``'s, ``export_encoder``'s and ``export_detector``'s
JSON, as the page is. It decodes codes, encodes rows and scores them as the drawing pad does. Chromium is driven
by Playwright (the ``playwright`` package of the dev extra) at ``CHROMIUM``, as the explorer's browser tests drive
it; Playwright downloads no browser here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from hourglass.estimator import _Estimator
from hourglass.explorer.weights import (
    browser_decodable,
    browser_encodable,
    export_decoder,
    export_detector,
    export_encoder,
)

CHROMIUM = os.environ.get("HOURGLASS_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# network.js runs inside a function whose ``module`` is undefined, so it skips its CommonJS export.
_RUN = """([spec, rows, codes]) => {
  const net = (function (module) {
%s
    return { makeDecoder, makeEncoder, makeScorer };
  })();
  const decoder = net.makeDecoder(spec.decoder);
  const out = { rows: codes.map((code) => Array.from(decoder.decode(code))), codes: null, scores: null };
  if (spec.encoder) {
    const encoder = net.makeEncoder(spec.encoder), inspect = net.makeScorer(encoder, decoder, spec.detector);
    out.codes = rows.map((row) => Array.from(encoder.encode(row)));
    out.scores = rows.map((row) => inspect(row).score);
  }
  return out;
}"""


@dataclass(frozen=True)
class BrowserRun:
    """What network.js computed: ``rows`` decoded from the codes (original units), and, where the model encodes in
    the page, the rows' ``codes`` and ``scores`` (as ``score_samples``: higher is more normal); else None."""

    rows: np.ndarray
    codes: np.ndarray | None
    scores: np.ndarray | None


def unavailable(model: object) -> str | None:
    """Why the JavaScript network cannot decode ``model``'s codes here, or None when it can."""
    if not isinstance(model, _Estimator) or not browser_decodable(model):
        name = getattr(getattr(model, "model_", None), "name", "this")
        return f"the {name} decoder has no JavaScript twin in the explorer (it asks `hourglass serve`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install 'hourglass-ae[dev]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HOURGLASS_CHROMIUM)"
    return None


def run_in_browser(model: _Estimator, rows: np.ndarray, codes: np.ndarray) -> BrowserRun:
    """Decode ``codes`` (n, latent_dim) and, where the page can, encode and score ``rows`` (m, features) with
    network.js in headless Chromium; float64 results.

    Raises
    ------
    RuntimeError
        Chromium failed to start or the script failed (Playwright's ``Error`` is one); check ``unavailable`` first.
    """
    from playwright.sync_api import sync_playwright

    script = resources.files("hourglass.explorer").joinpath("static").joinpath("network.js").read_text(encoding="utf-8")
    encodes = browser_encodable(model)
    spec = {
        "decoder": export_decoder(model),
        "encoder": export_encoder(model) if encodes else None,
        "detector": export_detector(model) if encodes else None,
    }
    flat = np.asarray(rows, np.float64).reshape(len(rows), -1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            out = browser.new_page().evaluate(_RUN % script, [spec, flat.tolist(), np.asarray(codes).tolist()])
        finally:
            browser.close()
    decoded = np.asarray(out["rows"], np.float64).reshape(len(codes), int(model.n_features_in_))
    if out["codes"] is None:
        return BrowserRun(decoded, None, None)
    found = np.asarray(out["codes"], np.float64).reshape(len(flat), int(model.model_.latent_dim))
    # The page shows the anomaly score (-score_samples); returned the other way round, to compare with Python's.
    return BrowserRun(decoded, found, -np.asarray(out["scores"], np.float64))
