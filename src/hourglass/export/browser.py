"""The explorer's JavaScript decoder (``explorer/static/explorer.js``, ``makeDecoder``), run in headless Chromium.

The page's own decoder, not a re-implementation: the script is loaded as it is shipped, with ``document``
undefined so that only its decoder part runs, and fed ``export_decoder``'s JSON, as the explorer page is.
Chromium is driven by Playwright (the ``playwright`` package of the dev extra) at ``CHROMIUM``, as the
explorer's browser tests drive it; Playwright downloads no browser here.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

import numpy as np

from hourglass.estimator import Autoencoder
from hourglass.explorer import browser_decodable, export_decoder

CHROMIUM = os.environ.get("HOURGLASS_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# The script runs inside a function whose ``document`` and ``module`` are undefined: explorer.js then defines
# makeDecoder and skips building the page (and the CommonJS export).
_DECODE = """([spec, codes]) => {
  const makeDecoder = (function (document, module) {
%s
    return makeDecoder;
  })();
  const decoder = makeDecoder(spec);
  return codes.map((code) => Array.from(decoder.decode(code)));
}"""


def unavailable(model: object) -> str | None:
    """Why the JavaScript decoder cannot decode ``model``'s codes here, or None when it can."""
    if not isinstance(model, Autoencoder) or not browser_decodable(model):
        name = getattr(getattr(model, "model_", None), "name", "this")
        return f"the {name} decoder has no JavaScript twin in the explorer (it asks `hourglass serve`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install 'hourglass-ae[dev]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HOURGLASS_CHROMIUM)"
    return None


def decode_in_browser(model: Autoencoder, codes: np.ndarray) -> np.ndarray:
    """Decode ``codes`` (n, latent_dim) with explorer.js in headless Chromium: rows (n, features), float64.

    Raises
    ------
    RuntimeError
        Chromium failed to start or the script failed (Playwright's ``Error`` is one); check ``unavailable`` first.
    """
    from playwright.sync_api import sync_playwright

    script = (
        resources.files("hourglass.explorer").joinpath("static").joinpath("explorer.js").read_text(encoding="utf-8")
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            rows = browser.new_page().evaluate(_DECODE % script, [export_decoder(model), codes.tolist()])
        finally:
            browser.close()
    return np.asarray(rows, np.float64).reshape(len(codes), int(model.n_features_in_))
