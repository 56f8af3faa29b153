"""How long the explorer page takes to decode one code (a hover, one walk frame) and to inspect one drawing (the
pad: encode, decode, score), in headless Chromium, for the default models of 28x28 images and of mnist7.

Each model is trained briefly (the weights' values do not change the time), written as an explorer file, and
opened in Chromium; after a warm-up, the page's own decoder runs ``--samples`` times in batches of ``--batch``
codes (performance.now() is coarse in a file page), and the table gives the median and 90th percentile per code.
A frame at 60 Hz is 16.7 ms.

    .venv/bin/python benchmarks/explorer_decode.py            # about a minute
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from hourglass import AnomalyDetector, Autoencoder, load_dataset
from hourglass.explorer import write_explorer
from hourglass.explorer.page import _static
from hourglass.explorer.weights import export_decoder, export_detector, export_encoder
from hourglass.export.browser import CHROMIUM, FLAGS

# One sample: `batch` decodes of the map's first codes, each as a hover does it, in the explorer page itself.
DECODE = "Array.from({length: %d}, () => window.hourglassExplorer.benchmark(%d))"
# One sample: `batch` rows encoded, decoded and scored as the pad does it (network.js's makeScorer, in a blank page).
INSPECT = """([spec, rows, samples]) => {
  const net = (function (module) {
%s
    return { makeDecoder, makeEncoder, makeScorer };
  })();
  const encoder = net.makeEncoder(spec.encoder), decoder = net.makeDecoder(spec.decoder);
  const inspect = net.makeScorer(encoder, decoder, spec.detector);
  const time = () => {
    const t0 = performance.now();
    for (const row of rows) inspect(row);
    return (performance.now() - t0) / rows.length;
  };
  for (let i = 0; i < 20; i++) time();  // warm-up: the JIT compiles the hot loops
  return Array.from({ length: samples }, time);
}"""


def spots(n: int, size: int = 28, seed: int = 0) -> np.ndarray:
    """uint8 images of one soft bright spot each (tests/test_explorer_conv.py draws the same kind)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centre = rng.uniform(0.2, 0.8, size=(n, 2)) * size
    radius = rng.uniform(1.5, 0.25 * size, size=(n, 1, 1))
    d = (yy - centre[:, :1, None]) ** 2 + (xx - centre[:, 1:, None]) ** 2
    return (255 * np.exp(-d / radius**2)).astype(np.uint8)


def models() -> dict[str, tuple[object, np.ndarray]]:
    images = spots(600)
    mnist7 = load_dataset("mnist7").X[:600]
    return {
        "conv 28x28 (default: 32,64 channels)": (Autoencoder(epochs=1, seed=0), images),
        "conv-VAE 28x28 (default)": (Autoencoder(model="vae", epochs=1, seed=0), images),
        "detector 28x28 (3 MLP members + forest)": (AnomalyDetector(epochs=1, seed=0), images),
        "MLP mnist7 7x7 (default)": (Autoencoder(epochs=1, seed=0), mnist7),
    }


def measure(browser, model, X: np.ndarray, folder: Path, samples: int, batch: int) -> tuple[list[float], list[float]]:
    path = write_explorer(model, X[:500], path=folder / "page.html")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    while not page.evaluate("window.hourglassExplorer !== undefined"):
        if errors:
            raise RuntimeError(f"the explorer page failed: {errors[0]}")
        time.sleep(0.05)
    page.evaluate(DECODE % (50, batch))  # warm-up: the JIT compiles the hot loops
    decode = page.evaluate(DECODE % (samples, batch))
    page.close()
    spec = {"encoder": export_encoder(model), "decoder": export_decoder(model), "detector": export_detector(model)}
    rows = X[-batch:].reshape(batch, -1).tolist()
    page = browser.new_page()
    inspect = page.evaluate(INSPECT % _static("network.js"), [spec, rows, samples])
    page.close()
    return decode, inspect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            for name, (model, X) in models().items():
                rows.append((name, *measure(browser, model.fit(X), X, Path(tmp), args.samples, args.batch)))
        finally:
            browser.close()
    print(f"Chromium {CHROMIUM}, {args.samples} samples of {args.batch} codes each, ms per code (median / p90)")
    print(f"{'model':42s} {'decode (hover)':>18s} {'pad: encode+decode+score':>26s}")
    for name, decode, inspect in rows:
        shown = [f"{np.median(v):.3f} / {np.percentile(v, 90):.3f}" for v in (decode, inspect)]
        print(f"{name:42s} {shown[0]:>18s} {shown[1]:>26s}")


if __name__ == "__main__":
    main()
