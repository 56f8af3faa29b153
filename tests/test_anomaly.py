"""AnomalyDetector: planted outliers are found, the API agrees with itself, models round-trip, CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

import hourglass as hg
from hourglass import fitting
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import main
from hourglass.errors import HourglassError
from hourglass.inference import InferenceModel


@pytest.fixture(scope="module")
def digits():
    data = hg.load_dataset("mnist7")
    return np.asarray(data.X, np.float32).reshape(len(data), -1), np.asarray(data.y)


@pytest.fixture(scope="module")
def ones_detector(digits):
    X, y = digits
    return AnomalyDetector(seed=0, contamination=0.05).fit(X[y == 1][:400])


def test_planted_outliers_score_lower(digits, ones_detector):
    X, y = digits
    normal = X[y == 1][400:600]
    others = X[y != 1][:200]
    error = -ones_detector.score_samples(np.vstack([normal, others]))
    auc = roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(others))], error)
    assert auc > 0.9


def test_contaminated_training_still_ranks_anomalies_first():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(950, 2)) @ rng.normal(size=(2, 8))  # rows on a 2-d plane in 8-d
    outliers = rng.normal(scale=3.0, size=(50, 8))
    X = np.vstack([normal, outliers]).astype(np.float32)
    scores = AnomalyDetector(latent_dim=2, seed=1).fit(X).score_samples(X)
    assert roc_auc_score(np.r_[np.zeros(950), np.ones(50)], -scores) > 0.95


@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_predict_flags_the_contamination_share(digits, contamination):
    X = digits[0][:600]
    det = AnomalyDetector(contamination=contamination, epochs=5, seed=0).fit(X)
    labels = det.predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert abs(np.mean(labels == -1) - contamination) < 0.01
    np.testing.assert_array_equal(labels, np.where(det.decision_function(X) < 0, -1, 1))
    np.testing.assert_allclose(det.decision_function(X), det.score_samples(X) - det.offset_)


def test_auto_contamination_flags_about_one_percent(digits):
    X = digits[0]
    det = AnomalyDetector(epochs=5, seed=0).fit(X[:1000])
    assert 0.005 <= np.mean(det.predict(X[:1000]) == -1) <= 0.02
    assert det.fit_predict(X[:1000]).shape == (1000,)


def test_scores_are_deterministic_and_explained(ones_detector, digits):
    X = digits[0][:300]
    first, second = ones_detector.score_samples(X), ones_detector.score_samples(X)
    np.testing.assert_array_equal(first, second)
    errors = ones_detector.explain(X)
    assert errors.shape == X.shape and (errors >= 0).all()
    # The mean of a row's explanation is its reconstruction error, the autoencoder's term of the score.
    (m_error, m_knn), (s_error, s_knn) = ones_detector.fusion_
    distance = ones_detector.knn_.score(X)
    expected = -((errors.mean(axis=1) - m_error) / s_error + ones_detector.knn_weight * (distance - m_knn) / s_knn)
    np.testing.assert_allclose(expected, first, rtol=1e-4, atol=1e-4)
    names, worst = ones_detector.top_features(X[:5], k=3)
    assert len(names) == 5 and len(names[0]) == 3 and (np.diff(worst, axis=1) <= 0).all()


def test_images_get_pixel_heatmaps(digits):
    images = hg.load_dataset("mnist7").X[:300]
    det = AnomalyDetector(epochs=3, seed=0).fit(images)
    assert det.explain(images[:4]).shape == (4, 7, 7)


def test_save_load_round_trip(tmp_path, ones_detector, digits):
    X = digits[0][:200]
    ones_detector.save(tmp_path / "det")
    back = hg.load(tmp_path / "det")
    assert isinstance(back, AnomalyDetector)
    assert back.offset_ == ones_detector.offset_ and back.n_members == ones_detector.n_members
    np.testing.assert_array_equal(back.score_samples(X), ones_detector.score_samples(X))
    np.testing.assert_array_equal(back.predict(X), ones_detector.predict(X))


def test_the_detector_declares_only_its_own_parameters_and_checkpoints_like_an_autoencoder(tmp_path):
    # No Autoencoder parameter hidden behind a class attribute: the ensemble, its loss and its output are fixed.
    assert not {"model", "loss", "output_activation", "beta", "structure"} & set(AnomalyDetector().get_params())
    assert not any(hasattr(AnomalyDetector, name) for name in ("model", "loss", "output_activation"))
    assert not isinstance(AnomalyDetector(), hg.Autoencoder)
    X = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    whole = AnomalyDetector(epochs=4, patience=0, hidden=(8,)).fit(X)
    AnomalyDetector(epochs=2, patience=0, hidden=(8,)).fit(X, checkpoint_dir=tmp_path)
    resumed = AnomalyDetector(epochs=4, patience=0, hidden=(8,)).fit(X, checkpoint_dir=tmp_path, resume=True)
    assert len(resumed.history_.train) == 4
    np.testing.assert_array_equal(resumed.score_samples(X), whole.score_samples(X))


def test_table_with_other_columns_is_a_clear_error(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    det = AnomalyDetector(epochs=2).fit(frame)
    with pytest.raises(HourglassError, match="feature names"):
        det.score_samples(frame.rename(columns={"c": "d"}))
    with pytest.raises(HourglassError, match="features"):
        det.score_samples(frame.to_numpy()[:, :2])
    det.save(tmp_path / "det")
    frame.rename(columns={"c": "d"}).to_csv(tmp_path / "other.csv", index=False)
    assert main(["score", str(tmp_path / "det"), str(tmp_path / "other.csv"), "-o", str(tmp_path / "s.csv")]) == 2
    assert not (tmp_path / "s.csv").exists()
    # The error names the cause; --label is suggested only for a text column left in, not a renamed or numeric one.
    for extra, hint in (({"d": 1.0}, False), ({"kind": "ok"}, True)):
        frame.assign(**extra).to_csv(tmp_path / "extra.csv", index=False)
        capsys.readouterr()
        assert main(["score", str(tmp_path / "det"), str(tmp_path / "extra.csv"), "-o", str(tmp_path / "s.csv")]) == 2
        err = capsys.readouterr().err
        assert f"columns differ from the model's (unexpected {next(iter(extra))})" in err
        assert ("--label" in err) == hint
    main(["score", str(tmp_path / "det"), str(tmp_path / "other.csv"), "-o", str(tmp_path / "s.csv")])
    assert "(missing c; unexpected d)\n" in capsys.readouterr().err


def test_bad_parameters_are_user_errors(digits):
    with pytest.raises(HourglassError, match="contamination"):
        AnomalyDetector(contamination=0.7).fit(digits[0][:100])
    with pytest.raises(HourglassError, match="trim"):
        AnomalyDetector(trim=1.0).fit(digits[0][:100])


def test_cli_fit_score_evaluate(tmp_path, capsys, monkeypatch):
    import hourglass.cli.score as score_cli

    rng = np.random.default_rng(0)
    normal = rng.normal(size=(500, 4))
    normal[:, 3] = normal[:, 0] + normal[:, 1]  # structure the autoencoder can learn
    odd = rng.normal(size=(25, 4)) * 3
    frame = pd.DataFrame(np.vstack([normal, odd]), columns=["w", "x", "y", "z"])
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.assign(label=np.r_[np.zeros(500, int), np.ones(25, int)]).to_csv(tmp_path / "test.csv", index=False)
    model = str(tmp_path / "det")
    assert main(["fit-detector", str(tmp_path / "train.csv"), "--out", model, "--contamination", "0.05"]) == 0

    monkeypatch.setattr(score_cli, "CHUNK_ROWS", 100)  # force several chunks
    out = tmp_path / "scores.csv"
    assert main(["score", model, str(tmp_path / "test.csv"), "--label", "label", "-o", str(out)]) == 0
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["row_id", "label", "score", "p_value", "is_anomaly", "top_features"]
    assert scores["row_id"].tolist() == list(range(525))
    detector = hg.load(model)
    np.testing.assert_allclose(scores["score"], detector.score_samples(frame), rtol=1e-6)
    # What the file shows per row is what the detector's own method says, worst first.
    names, _ = detector.top_features(frame, k=3)
    assert scores["top_features"].tolist() == [";".join(row) for row in names]

    np.save(tmp_path / "rows.npy", frame.to_numpy(np.float32))
    assert main(["score", model, str(tmp_path / "rows.npy"), "-o", str(tmp_path / "s2.csv")]) == 0
    np.testing.assert_allclose(pd.read_csv(tmp_path / "s2.csv")["score"], scores["score"], rtol=1e-6)
    np.testing.assert_allclose(scores["p_value"], detector.p_values(frame), rtol=1e-12)
    # --alpha: the verdict is p < alpha, the detector's own rule.
    test = str(tmp_path / "test.csv")
    assert main(["score", model, test, "--label", "label", "--alpha", "0.05", "-o", str(out)]) == 0
    assert pd.read_csv(out)["is_anomaly"].tolist() == (detector.predict(frame, alpha=0.05) == -1).tolist()
    assert main(["score", model, str(tmp_path / "test.csv"), "--alpha", "1.5", "-o", str(out)]) == 2
    # -o -: the same table on standard output, one header across the chunks; the summary on standard error.
    capsys.readouterr()
    assert main(["score", model, test, "--label", "label", "-o", "-"]) == 0
    printed = capsys.readouterr()
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(printed.out)), scores)
    assert printed.err.startswith("scored 525 rows: ") and printed.err.endswith("written to standard output\n")
    assert main(["score", model, test, "--label", "label", "-o", "-", "--quiet"]) == 0
    assert capsys.readouterr().err == ""

    plot = tmp_path / "hist.png"
    capsys.readouterr()
    assert main(["evaluate-anomaly", model, str(tmp_path / "test.csv"), "--label", "label", "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    auc = float(printed.split("ROC-AUC")[1].split()[0])
    assert auc > 0.8 and "average precision" in printed
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --label as every other command spells it; the old --labels still works, unlisted.
    assert main(["evaluate-anomaly", model, test, "--labels", "label", "--plot", str(plot)]) == 0
    assert "--labels" not in capsys.readouterr().out and "--labels" not in _help("evaluate-anomaly", capsys)
    # A --positive no row holds is answered with the values that are there.
    assert main(["evaluate-anomaly", model, test, "--label", "label", "--positive", "yes", "--plot", str(plot)]) == 2
    assert "0 of 525 rows equal --positive 'yes' (values found: '0' (500), '1' (25))" in capsys.readouterr().err
    # --alpha judges the p-value rule, as `score --alpha` flags.
    assert main(["evaluate-anomaly", model, test, "--label", "label", "--alpha", "0.05", "--plot", str(plot)]) == 0
    flagged = int((detector.predict(frame, alpha=0.05) == -1).sum())
    assert f"at p < 0.05: flagged {flagged}," in capsys.readouterr().out
    # `plot` on a detector folder (its loss curve once read an Autoencoder-only parameter and crashed).
    assert main(["plot", model, str(tmp_path / "test.csv"), "--label", "label", "-o", str(tmp_path / "figs")]) == 0
    (loss,) = (tmp_path / "figs").glob("loss*.png")  # loss.png, or loss_curve.png as train names it
    assert loss.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return capsys.readouterr().out


def test_alpha_at_or_below_the_smallest_p_value_is_refused():
    # 280 rows keep 28 held out: no p-value is below 1/29, so alpha=0.01 could never flag a row.
    X = np.random.default_rng(0).normal(size=(280, 5))
    det = AnomalyDetector(hidden=(8,), epochs=2).fit(X)
    assert len(det.calibration_) == 28 and det.min_p_value() == 1 / 29
    far = X[:3] + 100.0
    assert np.allclose(det.p_values(far), 1 / 29)
    floor = r"alpha=0\.01 can flag nothing: with 28 held-out rows the smallest p-value is 1/29 = 0\.03448"
    with pytest.raises(HourglassError, match=rf"^predict: {floor}.*needs 100 held-out rows, about 1,000 training"):
        det.predict(X, alpha=0.01)
    with pytest.raises(HourglassError, match=rf"^nearest_normal: {floor}"):
        det.nearest_normal(far, alpha=0.01, steps=0)
    with pytest.raises(HourglassError, match=r"alpha=0\.0344828 can flag nothing"):  # the floor itself flags nothing
        det.predict(X, alpha=1 / 29)
    assert (det.predict(far, alpha=0.035) == -1).all()  # just above it, rows far out are flagged
    # Below 1/2001 more rows cannot help (fit keeps 2,000 held-out scores at most): no row count is suggested.
    for alpha in (1e-4, 1e-300):
        with pytest.raises(HourglassError, match=r"keeps at most 2,000 held-out scores") as e:
            det.predict(X, alpha=alpha)
        assert "refit on more rows" not in str(e.value) and len(str(e.value)) < 300


def test_the_threshold_is_where_the_verdicts_change(table):
    det = AnomalyDetector(hidden=(8,), epochs=2).fit(np.tile(table, (3, 1)))  # 600 rows, 60 held out
    rows = np.vstack([table, table[:20] * 4])
    held = -det.calibration_  # held-out scores themselves: the ties a p-value counts as "at least as anomalous"
    scores = np.r_[det.score_samples(rows), held, np.nextafter(held, np.inf), np.nextafter(held, -np.inf)]
    for alpha in (None, 0.02, 0.05, 0.1, 0.5):
        assert np.array_equal(det.verdicts(scores, alpha) == -1, scores < det.threshold(alpha)), alpha
    assert det.threshold() == det.offset_


def test_cli_says_the_smallest_p_value_and_refuses_an_alpha_below_it(tmp_path, capsys):
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(280, 4)), columns=list("abcd"))
    data, model, out = str(tmp_path / "rows.csv"), str(tmp_path / "det"), tmp_path / "scores.csv"
    rows.to_csv(data, index=False)
    assert main(["fit-detector", data, "--out", model, "--epochs", "2"]) == 0
    assert "p-values from 28 held-out rows: the smallest is 1/29 = 0.03448" in capsys.readouterr().out
    # The README's alpha once flagged 0 rows here and --explain wrote nothing, with exit 0.
    assert main(["score", model, data, "--alpha", "0.01", "--explain", "2", "-o", str(out)]) == 2
    assert "--alpha: alpha=0.01 can flag nothing" in capsys.readouterr().err and not out.exists()
    assert main(["evaluate-anomaly", model, data, "--alpha", "0.01", "--plot", str(tmp_path / "h.png")]) == 2
    assert "smallest p-value is 1/29" in capsys.readouterr().err
    assert "1/(n+1)" in _help("score", capsys)
    assert main(["score", model, data, "--alpha", "0.05", "-o", str(out)]) == 0
    assert main(["info", model]) == 0
    info = capsys.readouterr().out
    assert (
        "detector    anomaly detector: 3 autoencoders' reconstruction error + 1.5 x mean distance to the 5 nearest "
        "training rows" in info
    )
    offset = hg.load(model).offset_
    assert f"threshold   score below {offset:.5g} is an anomaly (contamination auto: the worst 1% of" in info
    assert "p-values    from 28 held-out rows: the smallest is 1/29 = 0.03448" in info


def test_score_refuses_a_plain_autoencoder(tmp_path, digits):
    hg.Autoencoder(epochs=1).fit(digits[0][:100]).save(tmp_path / "ae")
    assert main(["score", str(tmp_path / "ae"), "mnist7", "-o", str(tmp_path / "s.csv")]) == 2


def test_the_detector_is_an_outlier_detector_not_a_transformer(table, tmp_path, capsys):
    det = AnomalyDetector(hidden=(8,), epochs=2).fit(table)
    for name in ("transform", "fit_transform", "inverse_transform", "sample", "denoise"):
        assert not hasattr(det, name), name
    tags = det.__sklearn_tags__()
    assert tags.estimator_type == "outlier_detector" and tags.transformer_tags is None
    # What serves detection stays: the reconstruction its error compares with, and its codes, which the explorer
    # draws (the runner's, as the command line's encode gives them).
    assert det.reconstruct(table[:3]).shape == (3, 5)
    np.testing.assert_array_equal(det.codes(table), det.runner_.transform(table))
    folder = det.save(tmp_path / "det")
    np.save(tmp_path / "rows.npy", table)
    for command in ("sample", "denoise"):
        data = [] if command == "sample" else [str(tmp_path / "rows.npy")]
        assert main([command, str(folder), *data, "-o", str(tmp_path / "out.npy")]) == 2
        error = f"hourglass: error: {folder}: an anomaly detector; {command} needs a model from hourglass train"
        assert capsys.readouterr().err.splitlines() == [error]


def test_fit_reads_x_once_and_owns_what_it_records_of_the_data(table, tmp_path, monkeypatch):
    """Every fitted fact is set by ``fit``: a Dataset brings its source and read options, which the folder saves;
    a refit on a plain array forgets them. The rows are checked once (no second read of a memory map)."""
    checks: list[int] = []
    original = fitting.checked_array
    monkeypatch.setattr(fitting, "checked_array", lambda *a, **k: checks.append(1) or original(*a, **k))
    monkeypatch.setattr(InferenceModel, "rows", lambda *a: pytest.fail("fit checked rows again"))
    data = hg.Dataset(table, None, "table", "t", source="/data/t.csv", options={"label": "y"})
    det = AnomalyDetector(hidden=(8,), epochs=2).fit(data)
    assert len(checks) == 1
    assert (det.data_source_, det.data_options_) == ("/data/t.csv", {"label": "y"})
    monkeypatch.undo()
    config = json.loads((det.save(tmp_path / "det") / "config.json").read_text())
    assert (config["data"]["source"], config["data"]["options"]) == ("/data/t.csv", {"label": "y"})
    assert hg.load(tmp_path / "det").data_source_ == "/data/t.csv"
    assert det.fit(table).data_source_ is None and det.data_options_ is None


ADBENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "adbench"  # beside the checkout, when there
TABLES = ("6_cardio", "30_satellite", "27_PageBlocks", "47_yeast")


def _normal_rows(name: str) -> np.ndarray:
    """Normal rows of a dataset: mnist7's and scikit-learn's digits, or an ADBench table (skipped if absent)."""
    if name == "mnist7 digits":
        return hg.load_dataset("mnist7").X.reshape(-1, 49).astype(np.float32)
    if name == "sklearn digits":
        return load_digits().data.astype(np.float32)
    file = ADBENCH / f"{name}.npz"
    if not file.exists():
        pytest.skip(f"no {file}")
    data = np.load(file)
    return data["X"][data["y"] == 0].astype(np.float32)


@pytest.mark.parametrize("name", ["mnist7 digits", "sklearn digits", *TABLES])
def test_p_values_keep_the_false_positive_rate_on_new_normal_rows(name):
    rows = _normal_rows(name)
    X = rows[np.random.default_rng(0).permutation(len(rows))[:3000]]
    train, new = X[: len(X) // 2], X[len(X) // 2 :]
    det = AnomalyDetector(epochs=10, seed=0).fit(train)
    p = det.p_values(new)
    assert ((p > 0) & (p <= 1)).all()
    for alpha in (0.05, 0.1):
        # Split conformal: P(p < alpha) <= alpha for an exchangeable normal row, on average over calibration
        # sets; the rate seen here also varies with these new rows and with this calibration set (n rows):
        # allow 3 standard errors of both.
        limit = alpha + 3 * np.sqrt(alpha * (1 - alpha) * (1 / len(new) + 1 / len(det.calibration_)))
        assert (det.predict(new, alpha=alpha) == -1).mean() <= limit
        assert np.array_equal(det.predict(new, alpha=alpha) == -1, p < alpha)
    # Rows far from the data get the smallest p-value there is.
    far = new[:5] + 50 * np.abs(new).max()
    assert np.allclose(det.p_values(far), 1 / (len(det.calibration_) + 1))


def test_p_values_need_held_out_rows(table):
    det = AnomalyDetector(hidden=(8,), epochs=2, validation_fraction=0).fit(table)
    with pytest.raises(hg.HourglassError, match="no held-out rows"):
        det.p_values(table)
    with pytest.raises(hg.HourglassError, match="alpha"):
        AnomalyDetector(hidden=(8,), epochs=2).fit(table).predict(table, alpha=1.5)
