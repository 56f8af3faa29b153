import io

import numpy as np
import pytest
from PIL import Image

import hourglass as hg
from hourglass import viz
from hourglass.viz.images import to_unit


@pytest.fixture(scope="module")
def detector():
    return hg.AnomalyDetector(epochs=3, seed=0).fit(hg.load_dataset("mnist7").X[:1000])


def png(fig) -> np.ndarray:
    with Image.open(io.BytesIO(viz.png_bytes(fig))) as im:
        return np.asarray(im.convert("L"))


def test_score_histogram_draws_both_classes_on_log_bins_and_the_threshold():
    rng = np.random.default_rng(0)
    error = np.r_[rng.lognormal(-4, 0.5, 500), rng.lognormal(-2, 0.5, 20)]
    is_anomaly = np.r_[np.zeros(500, bool), np.ones(20, bool)]
    fig = viz.score_histogram(error, is_anomaly, 0.05, "the title")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "the title"
    assert ax.get_xlabel() and ax.get_ylabel() == "rows"
    normal, anomaly = ax.containers
    assert sum(b.get_height() for b in normal) == 500 and sum(b.get_height() for b in anomaly) == 20
    threshold = next(line for line in ax.lines if line.get_linestyle() == "--")
    assert threshold.get_xdata()[0] == 0.05
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["normal (500)", "anomaly (20)", "threshold"]
    pixels = png(fig)
    assert pixels.shape == (400, 700) and pixels.std() > 10


def test_error_gallery_puts_each_image_above_its_error_heatmap(detector):
    X = hg.load_dataset("mnist7").X[1000:1006]
    X = np.concatenate([X, np.rot90(X[:1], 1, axes=(1, 2))])
    notes = [f"row {i}" for i in range(len(X))]
    fig = viz.error_gallery(detector, X, notes, "worst rows")
    top, bottom = fig.axes[0].images[0].get_array(), fig.axes[1].images[0].get_array()
    assert top.shape == bottom.shape == (7 + 2, 7 * 8 + 1)  # one strip of 7x7 tiles, 1-pixel gutters
    assert np.allclose(top[1:8, 1:8], to_unit(detector, X[:1])[0])
    heat = detector.explain(X)
    assert np.allclose(bottom[1:8, 49:56], heat[-1]) and np.ptp(heat[-1]) > 0  # the turned digit's heatmap
    assert np.ma.is_masked(bottom[0, 0])  # gutters drawn grey, not as an error level
    assert fig.axes[1].images[0].get_cmap().name.startswith("hot") and len(fig.axes) == 3  # with a colour bar
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == notes
    pixels = png(fig)
    assert pixels.shape[1] >= 75 * len(X) and pixels.std() > 10  # 7x7 tiles drawn big enough to read


def test_error_gallery_refuses_table_models():
    X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    table = hg.AnomalyDetector(epochs=1, seed=0).fit(X)
    with pytest.raises(hg.HourglassError, match="error gallery draws images; this model was trained on a table"):
        viz.error_gallery(table, X[:3], ["a", "b", "c"], "t")


def test_nearest_normal_triples_draw_row_normal_and_a_diverging_difference(detector):
    X = hg.load_dataset("mnist7").X[1000:1004].copy()
    X[:, 3, :] = 255  # a bar across each digit
    found = detector.nearest_normal(X, steps=20)
    fig = viz.anomaly.nearest_normal_triples(detector, found, [f"row {i}" for i in range(4)], "nearest normal")
    rows, normals, diffs = (ax.images[0].get_array() for ax in fig.axes[:3])
    assert rows.shape == normals.shape == diffs.shape == (7 + 2, 7 * 4 + 3 + 2)
    assert np.allclose(rows[1:8, 1:8], to_unit(detector, X[:1])[0])
    assert np.allclose(normals[1:8, 1:8], to_unit(detector, found.normal[:1])[0])
    assert np.allclose(diffs[1:8, 1:8], found.difference[0] / 255.0, atol=1e-6)
    image = fig.axes[2].images[0]
    assert image.get_cmap().name.startswith("RdBu") and image.norm.vmin == -image.norm.vmax  # white = no change
    assert np.ma.is_masked(diffs[0, 0]) and fig.axes[2].get_xticklabels()[0].get_text() == "row 0"
    assert png(fig).std() > 10


def test_nearest_normal_triples_refuse_table_models():
    X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    table = hg.AnomalyDetector(epochs=1, seed=0).fit(X)
    with pytest.raises(hg.HourglassError, match="nearest-normal figure draws images"):
        viz.anomaly.nearest_normal_triples(table, table.nearest_normal(X[:2], steps=0))
