import base64
import json
import re

import numpy as np
import pytest
from PIL import Image

from hourglass.anomaly import AnomalyDetector
from hourglass.cli import main
from hourglass.data import load_dataset
from hourglass.demo import denoise, report, sections, story
from hourglass.demo.run import QUICK_EPOCHS, QUICK_ROWS, DemoRun
from hourglass.estimator import Autoencoder

# What `hourglass demo --quick` writes; the full demo writes these and the neighbor-preserving maps.
QUICK_FILES = [".hourglass-demo", "anomaly_gallery.png", "anomaly_histogram.png", "anomaly_nearest.png"]
QUICK_FILES += ["denoise.png", "explorer.html", "hourglass.png", "input.png", "latent_map.png", "loss_curve.png"]
QUICK_FILES += ["manifold.png", "model", "reconstructions.png", "report.html", "samples.png", "walk.gif", "walk.png"]
QUICK_FILES += ["walk_map.png"]
NEIGHBOR_FILES = ["maps_side_by_side.png", "manifold_neighbors.png"]
TITLES = [
    "The input: 49 pixels",
    "The hourglass",
    "Training: the loss bottoms out",
    "Reconstructions",
    "The latent map: digits cluster without labels",
    "Neighbor-preserving maps",
    "Morphing a 1 into a 7",
    "Generated digits",
    "Denoising: noisy in, clean out",
    "Anomalies: what the model cannot rebuild",
    "Walk the code space yourself",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, demo_result, demo_denoiser):
    """The full demo, its autoencoder and denoiser those the slow tier's other tests read (trained once)."""
    out = tmp_path_factory.mktemp("demo")
    seen = {}

    def trained(verbose, epochs=None, rows=None):
        assert (epochs, rows) == (None, None)
        return demo_result

    def denoised(demo, noise, seed=0, epochs=None):
        assert demo is demo_result and (noise, seed, epochs) == (demo_denoiser.model.noise, 0, None)
        return demo_denoiser

    # A new section is one function in the list, here placed before "numbers".
    def extra(ctx: DemoRun) -> report.Section:
        seen["codes"] = ctx.codes_all.shape
        return report.Section("An extra section", "<p>added to story.SECTIONS</p>")

    at = [name for name, _ in story.SECTIONS].index("numbers")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(story, "SECTIONS", [*story.SECTIONS[:at], ("extra", extra), *story.SECTIONS[at:]])
        patch.setattr(story, "train_demo", trained)
        patch.setattr(denoise, "denoise_demo", denoised)
        result = story.run_demo(out, verbose=False)
    return out, result, seen


@pytest.mark.slow
def test_demo_writes_model_figures_and_report(run):
    out, result, _ = run
    assert sorted(p.name for p in out.iterdir()) == sorted(QUICK_FILES + NEIGHBOR_FILES)
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "loss_curve.png").is_file()
    names = ("input", "hourglass", "loss_curve", "reconstructions", "latent_map", "manifold", "walk", "walk_map")
    names += ("maps_side_by_side", "manifold_neighbors")
    for name in (*names, "anomaly_histogram", "anomaly_gallery"):
        with Image.open(out / f"{name}.png") as im:
            pixels = np.asarray(im.convert("L"))
        assert min(pixels.shape) >= 100 and pixels.std() > 10, name
    with Image.open(out / "samples.png") as im:
        assert im.size[0] > 500
    with Image.open(out / "walk.gif") as im:
        assert im.n_frames == 12
    assert result.mse < result.pca_mse  # the curved 2-number code beats the flat one


@pytest.mark.slow
def test_report_is_self_contained_and_tells_the_story_in_order(run):
    out, result, seen = run
    page = (out / "report.html").read_text()
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles == [*TITLES, "An extra section", "The numbers"]
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources and all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in sources)
    assert sum(s.startswith("data:image/gif") for s in sources) == 1
    # The embedded walk is the very GIF written beside the report.
    gif = next(s for s in sources if s.startswith("data:image/gif"))
    assert base64.b64decode(gif.split(",", 1)[1]) == (out / "walk.gif").read_bytes()
    assert f"{result.mse:.4f}" in page and f"{result.pca_mse:.4f}" in page
    # no links out of the page but the explorer written beside it
    assert "href=" not in page.replace('href="#', "").replace('href="explorer.html"', "")
    assert (out / "explorer.html").read_text().lower().startswith("<!doctype html>")
    assert seen["codes"] == (5000, 2)


def test_pick_typical_takes_the_row_nearest_its_class_median():
    # Class 1's median code is (2, 0), its mean (21.2, 0): the answer is row 4, not the row nearest the
    # mean (row 2) nor the first (row 1). Row 0, a 7, sits on that median too and must not be picked.
    codes = np.array([[2, 0], [0, 0], [3, 0], [100, 0], [2, 0.5], [1, 0]], float)
    y = np.array([7, 1, 1, 1, 1, 1])
    assert sections.pick_typical(codes, y, 1) == 4
    assert sections.pick_typical(codes, y, 7) == 0


@pytest.mark.slow
def test_walk_goes_from_a_heldout_one_to_a_heldout_seven(run):
    _, result, _ = run
    codes = result.model.transform(result.X_test)
    for label in (1, 7):
        picked = sections.pick_typical(codes, result.y_test, label)
        mine = codes[result.y_test == label]
        nearest = np.linalg.norm(mine - np.median(mine, axis=0), axis=1).min()
        assert result.y_test[picked] == label
        assert np.linalg.norm(codes[picked] - np.median(mine, axis=0)) == nearest


@pytest.mark.slow
def test_report_explorer_and_load_dataset_number_digits_alike(run):
    # The walk's digits are named "#N" in the report: row N of mnist7, and the explorer's dot for row N shows
    # that very digit (the explorer once drew training digits then held-out ones, so "#530" was its row 4530).
    out, result, _ = run
    page = (out / "report.html").read_text()
    one, seven = map(int, re.search(r"held-out digit #(\d+) \(a 1\) and #(\d+) \(a 7\)", page).groups())
    mnist7 = load_dataset("mnist7")
    assert (mnist7.y[one], mnist7.y[seven]) == (1, 7)
    assert one in result.index_test and seven in result.index_test  # held out, as the report says
    test_codes = result.model.transform(result.X_test)
    assert mnist7.X[one].tolist() == result.X_test[sections.pick_typical(test_codes, result.y_test, 1)].tolist()
    html = (out / "explorer.html").read_text()
    data = json.loads(re.search(r'id="hg-data">(.*?)</script>', html, re.S).group(1))
    pixels = np.frombuffer(base64.b64decode(data["originals"]["data"]), np.uint8).reshape(-1, 49)
    for n in (one, seven, 0, 4999):
        dot = data["rows"].index(n)
        assert pixels[dot].tolist() == mnist7.X[n].reshape(-1).tolist(), n


@pytest.mark.slow
def test_report_detects_the_planted_anomalies_well_above_chance(run):
    out, _, _ = run
    page = (out / "report.html").read_text()
    auc = float(re.search(r"<td>ROC-AUC</td><td[^>]*>([0-9.]+)</td>", page).group(1))
    assert 0.7 < auc <= 1.0
    assert "labels never used" in page and "50 held-out digits turned on their side" in page
    # the neighbor-preserving map, beside the plain one, is the better map of the held-out digits
    ours, plain = map(int, re.search(r"has its label (\d+)% of the time, against (\d+)%", page).groups())
    assert ours > plain


def test_quick_demo_runs_every_part_briefly_and_writes_only_its_folder(tmp_path, monkeypatch, capsys):
    # `hourglass demo --quick`, what tests/test_package.py runs from the installed wheel: the full demo's files and
    # sections (QUICK_FILES, TITLES: the full run checks them) but the neighbor-preserving map's, every model trained
    # QUICK_EPOCHS epochs on QUICK_ROWS digits, nothing written outside --out, and where the report is.
    budgets = []
    for cls in (Autoencoder, AnomalyDetector):

        def spy(self, *args, _fit=cls.fit, **kwargs):
            budgets.append((type(self).__name__, self.epochs))
            return _fit(self, *args, **kwargs)

        monkeypatch.setattr(cls, "fit", spy)
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--quick", "--out", "quick"]) == 0
    quick, epochs = tmp_path / "quick", QUICK_EPOCHS
    assert [p.name for p in tmp_path.iterdir()] == ["quick"]
    assert sorted(p.name for p in quick.iterdir()) == QUICK_FILES
    # the demo's model, the denoiser and the detector, each held to the quick budget
    assert sorted(budgets) == [("AnomalyDetector", epochs), *[("Autoencoder", epochs)] * 2]
    page = (quick / "report.html").read_text()
    titles = [t for t in TITLES if t != "Neighbor-preserving maps"]
    assert re.findall(r"<h2>(.*?)</h2>", page) == [*titles, "The numbers"]
    assert f"A quick run: every model trained for {epochs} epochs only" in page
    captured = capsys.readouterr()
    printed = captured.out
    assert f"quick run: every model trains {epochs} epochs" in printed
    # a check that an install works must not look broken: every model beats predicting the mean
    assert "no better than predicting the mean" not in captured.err + printed
    assert f"hourglass demo: {QUICK_ROWS:,} MNIST digits" in printed
    assert f"report: {(quick / 'report.html').resolve()}" in printed
