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


@pytest.fixture(scope="module")
def table_rows():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(600, 4))
    normal[:, 3] = normal[:, 0] + normal[:, 1]
    return normal, rng.normal(size=(30, 4)) * 4


@pytest.mark.parametrize("iforest", [True, False])
def test_score_histogram_shows_the_score_the_detector_decides_on_and_its_threshold(table_rows, iforest):
    normal, odd = table_rows
    det = hg.AnomalyDetector(hidden=(8,), epochs=5, seed=0, iforest=iforest).fit(normal)
    scores = np.r_[det.score_samples(normal[:300]), det.score_samples(odd)]
    is_anomaly = np.r_[np.zeros(300, bool), np.ones(30, bool)]
    for alpha in (None, 0.05):
        fig = viz.score_histogram(det, scores, is_anomaly, "the title", alpha=alpha)
        ax = fig.axes[0]
        assert ax.get_xscale() == "asinh" and ax.get_title() == "the title" and ax.get_ylabel() == "rows"
        label = ax.get_xlabel()
        assert "higher = more normal" in label and ("isolation forest" in label) == iforest
        # Every row is drawn at its own score: the bars are the scores' histogram, with no floor collecting
        # the more normal half (the old axis drew -score on a log scale, clipped at 1e-8).
        normal_bars, odd_bars = ax.containers
        edges = [b.get_x() for b in normal_bars] + [normal_bars[-1].get_x() + normal_bars[-1].get_width()]
        for bars, rows in ((normal_bars, scores[~is_anomaly]), (odd_bars, scores[is_anomaly])):
            assert [b.get_height() for b in bars] == np.histogram(rows, edges)[0].tolist()
        assert (scores < 0).any() and edges[0] <= scores.min() and edges[-1] >= scores.max()
        line = next(line for line in ax.lines if line.get_linestyle() == "--")
        threshold = det.threshold(alpha)
        assert line.get_xdata()[0] == threshold == (det.offset_ if alpha is None else threshold)
        flagged = int((det.verdicts(scores, alpha) == -1).sum())
        assert flagged == int((scores < threshold).sum()) > 0  # rows left of the line are the flagged ones
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend[:2] == ["normal (300)", "anomaly (30)"] and f"{threshold:.3g}" in legend[2]
        assert ("p < 0.05" in legend[2]) == (alpha is not None)
        ticks = ax.get_xticks()
        assert 0 in ticks and ticks.min() < 0 and len(ticks) >= 4  # round values on both sides of zero
    pixels = png(fig)
    assert pixels.shape == (400, 700) and pixels.std() > 10


def test_score_histogram_draws_a_row_too_far_out_in_the_outermost_bin(table_rows):
    normal, _ = table_rows
    det = hg.AnomalyDetector(hidden=(8,), epochs=2, seed=0).fit(normal)
    scores = np.r_[det.score_samples(normal[:50]), -np.inf, -1e6]
    fig = viz.score_histogram(det, scores, np.r_[np.zeros(50, bool), True, True], "far")
    (bar,) = [b for b in fig.axes[0].containers[1] if b.get_height()]
    assert bar.get_height() == 2 and bar.get_x() <= -1e6 <= bar.get_x() + bar.get_width()  # -inf beside -1e6


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
