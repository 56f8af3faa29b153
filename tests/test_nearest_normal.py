import numpy as np
import pytest

import hourglass as hg
from hourglass.anomaly import NearestNormal


@pytest.fixture(scope="module")
def table():
    """Rows on a curved 4-D sheet in 12-D, a detector fitted on them, and sheet rows with x3 pushed 3 sd up.

    400 rows cover a 4-D sheet sparsely: between them lies room for a decoded row nearer than any of them."""
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(4, 12))
    X = (np.tanh(rng.normal(size=(400, 4))) @ mix + 0.05 * rng.normal(size=(400, 12))).astype(np.float32)
    det = hg.AnomalyDetector(hidden=(32,), seed=0).fit(X)
    odd = (np.tanh(rng.normal(size=(20, 4))) @ mix).astype(np.float32)
    odd[:, 2] += 3 * X[:, 2].std()
    return det, X, odd


def test_the_normal_is_scored_normal_and_the_difference_is_row_minus_normal(table):
    det, _, odd = table
    assert (det.predict(odd) == -1).mean() > 0.8  # the planted rows are anomalies to begin with
    found = det.nearest_normal(odd)
    assert isinstance(found, NearestNormal) and found.is_normal.all()
    assert (found.score >= det.offset_).all() and np.allclose(found.score, det.score_samples(found.normal))
    assert np.array_equal(found.row, odd) and np.array_equal(found.difference, odd - found.normal)
    scaled = found.difference / det.scaler_.scale
    assert np.allclose(found.distance, np.sqrt(np.mean(scaled**2, axis=1)), rtol=1e-4)


def test_the_normal_is_nearer_than_the_nearest_normal_training_row(table):
    det, X, odd = table
    found = det.nearest_normal(odd)
    scale = det.scaler_.scale
    normal_rows = X[det.predict(X) == 1] / scale
    nearest_training = np.sqrt(np.min(np.mean((odd[:, None] / scale - normal_rows[None]) ** 2, axis=2), axis=1))
    assert (found.distance < nearest_training).mean() >= 0.8
    # The pushed column is what the explanation names first, and it says which way.
    first = [found.ranked(i, k=1)[0] for i in range(len(odd))]
    assert np.mean([d.feature == "x3" and d.gap > 0 for d in first]) >= 0.6
    assert all(p.endswith(("sd above normal", "sd below normal")) for p in found.phrases(0, k=12))
    assert len(found.phrases(0, k=2)) == 2 and len(found.ranked(0, k=100)) == 12


def test_a_p_value_rule_and_a_normal_row(table):
    det, X, odd = table
    found = det.nearest_normal(odd[:4], alpha=0.2)
    assert found.is_normal.all() and (det.p_values(found.normal) >= 0.2).all()
    typical = X[det.predict(X) == 1][:3]
    assert det.nearest_normal(typical).distance.max() < 0.2  # a normal row's nearest normal is near itself


def test_images_come_back_in_their_shape_with_pixel_phrases():
    images = np.random.default_rng(0).integers(0, 256, size=(64, 4, 4), dtype=np.uint8)
    det = hg.AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    odd = images[:2].copy()
    odd[:, 1, :] = 255
    found = det.nearest_normal(odd, steps=10)
    assert found.row.shape == found.normal.shape == found.difference.shape == (2, 4, 4) and found.score.shape == (2,)
    assert found.kind == "image" and found.ranked(0, 1)[0].phrase.startswith("pixel (")
    assert found.phrases(0, 1)[0].split(":")[0].endswith(("darker", "brighter"))


@pytest.mark.parametrize(
    ("X", "kwargs", "message"),
    [
        (np.zeros((2, 5)), {}, "X has 5 features, but AnomalyDetector is expecting 12 features"),
        (np.zeros((2, 12)), {"steps": -1}, "nearest_normal: steps"),
        (np.zeros((2, 12)), {"alpha": 0.0}, "nearest_normal: alpha"),
        (np.full((1, 12), np.nan), {}, "NaN"),
    ],
)
def test_bad_inputs_are_one_clear_error(table, X, kwargs, message):
    det = table[0]
    with pytest.raises(hg.HourglassError, match=message):
        det.nearest_normal(X, **kwargs)


def test_an_unfitted_detector_refuses():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        hg.AnomalyDetector().nearest_normal(np.zeros((1, 3)))


def test_score_explain_names_what_a_flagged_row_would_change(tmp_path):
    import pandas as pd

    from hourglass.cli import main

    rng = np.random.default_rng(0)
    normal = rng.normal(size=(400, 4))
    normal[:, 3] = normal[:, 0] + normal[:, 1]
    frame = pd.DataFrame(normal, columns=["w", "x", "y", "z"])
    frame.to_csv(tmp_path / "train.csv", index=False)
    odd = frame.iloc[:20].copy()
    odd["z"] += 8  # breaks z = w + x: z is what is off
    pd.concat([frame.iloc[20:60], odd]).to_csv(tmp_path / "new.csv", index=False)
    model = str(tmp_path / "det")
    assert main(["fit-detector", str(tmp_path / "train.csv"), "--out", model, "--epochs", "5", "--quiet"]) == 0
    out = tmp_path / "scores.csv"
    assert main(["score", model, str(tmp_path / "new.csv"), "-o", str(out), "--explain", "2"]) == 0
    scores = pd.read_csv(out, keep_default_na=False)
    flagged = scores[scores["is_anomaly"]]
    assert len(flagged) >= 10 and (scores.loc[~scores["is_anomaly"], "nearest_normal"] == "").all()
    # two phrases per flagged row, and for most of the planted rows z comes first, above normal
    assert all(len(note.split("; ")) == 2 for note in flagged["nearest_normal"])
    planted = flagged[flagged["row_id"] >= 40]["nearest_normal"]
    assert np.mean([note.startswith("z is") and "above normal" in note.split("; ")[0] for note in planted]) >= 0.6
