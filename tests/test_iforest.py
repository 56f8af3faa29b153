"""The detector's isolation forest: scikit-learn's scores from plain arrays, saved without pickle, checked on load."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

import hourglass as hg
from hourglass import HourglassError
from hourglass.anomaly.detector import AUTO_QUANTILE, AnomalyDetector
from hourglass.anomaly.iforest import NAMES, Forest
from hourglass.training.batches import held_out_rows

SMALL = {"hidden": (8,), "epochs": 3, "knn_weight": 0}  # the error alone, unless a test adds a term
FOREST = {**SMALL, "iforest": True}  # the error and the forest


def _datasets():
    rng = np.random.default_rng(0)
    heavy = rng.standard_t(2, size=(700, 6))
    ties = rng.integers(0, 4, size=(400, 5)).astype(float)  # many equal values: thresholds between ties
    ties[:, 2] = 1.0  # a constant column cannot be split
    wide = rng.normal(size=(300, 40)) * np.logspace(-3, 3, 40)  # scales far apart, large values
    return {"heavy": heavy, "ties": ties, "wide": wide, "tiny": rng.normal(size=(6, 3))}


@pytest.mark.parametrize("name", list(_datasets()))
@pytest.mark.parametrize("options", [{}, {"max_features": 0.5, "n_estimators": 30}, {"max_samples": 32}])
def test_scores_equal_scikit_learns(name, options):
    X = _datasets()[name].astype(np.float32)
    theirs = IsolationForest(random_state=7, **options).fit(X)
    ours = Forest.from_sklearn(theirs)
    new = np.vstack([X, np.random.default_rng(1).normal(size=(200, X.shape[1])) * 5]).astype(np.float32)
    np.testing.assert_allclose(ours.score(new), -theirs.score_samples(new), rtol=0, atol=1e-6)


def test_the_detectors_forest_is_scikit_learns_seeded():
    X = _datasets()["heavy"].astype(np.float32)
    det = AnomalyDetector(seed=5, **FOREST).fit(X)
    # Fitted on the rows the members trained on: the held-out ones calibrate p-values.
    held, rows = held_out_rows(len(X), det.validation_fraction, 5)
    assert len(held) == round(0.1 * len(X)) and len(np.intersect1d(held, rows)) == 0
    expected = -IsolationForest(random_state=5).fit(X[rows]).score_samples(X)
    np.testing.assert_allclose(det.forest_.score(X), expected, rtol=0, atol=1e-6)
    # The score is minus the two robust z-scores, each from the training rows' median and IQR.
    error, forest = -AnomalyDetector(seed=5, iforest=False, **SMALL).fit(X).score_samples(X), expected
    (m_error, m_forest), (s_error, s_forest) = det.fusion_
    np.testing.assert_allclose(m_forest, np.median(forest[rows]), rtol=1e-12)
    np.testing.assert_allclose(s_error, np.subtract(*np.percentile(error[rows], [75, 25])), rtol=1e-12)
    combined = -((error - m_error) / s_error + (forest - m_forest) / s_forest)
    np.testing.assert_allclose(det.score_samples(X), combined, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(det.score_samples(X), AnomalyDetector(seed=5, **FOREST).fit(X).score_samples(X))


def test_iforest_false_is_the_old_reconstruction_score():
    X = _datasets()["heavy"].astype(np.float32)
    plain = AnomalyDetector(seed=2, iforest=False, **SMALL).fit(X)
    fused = AnomalyDetector(seed=2, **FOREST).fit(X)
    assert plain.forest_ is None and plain.fusion_ is None
    scores = plain.score_samples(X)
    np.testing.assert_allclose(scores, -plain.explain(X).mean(axis=1), rtol=1e-5)
    # Same autoencoders either way (the forest draws no torch random numbers): the error term is the same bits.
    np.testing.assert_array_equal(scores, -fused._parts(X)[:, 0])
    assert plain.offset_ == np.quantile(scores, 1 - AUTO_QUANTILE)
    assert not np.array_equal(fused.score_samples(X), scores)


def test_forest_finds_anomalies_isolated_in_one_feature():
    """Feature 0 takes two values, 0 and 1; the anomalies lie in the empty gap between them. Inside the
    training range, an autoencoder rebuilds them as well as any row; a few splits on feature 0 isolate them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1030, 6)).astype(np.float32)
    X[:, 0] = rng.choice([0.0, 1.0], 1030) + 0.02 * rng.normal(size=1030)
    X[1000:, 0] = rng.uniform(0.3, 0.7, 30)
    y = np.r_[np.zeros(1000), np.ones(30)]
    aucs = {
        iforest: roc_auc_score(y, -AnomalyDetector(seed=0, iforest=iforest, **SMALL).fit(X).score_samples(X))
        for iforest in (False, True)
    }
    assert aucs[True] > aucs[False] + 0.1, aucs


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X = _datasets()["heavy"].astype(np.float32)
    det = AnomalyDetector(seed=1, contamination=0.1, **FOREST).fit(X)
    return det, det.save(tmp_path_factory.mktemp("det") / "det"), X


def _config(folder):
    return json.loads((folder / "config.json").read_text())


def _write_config(folder, config):
    (folder / "config.json").write_text(json.dumps(config))


def test_save_load_round_trip_is_bitwise(saved):
    det, folder, X = saved
    # One folder, two files: the threshold and the z-scores' numbers in config.json, the trees beside the weights.
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert _config(folder)["fitted"] == {
        "offset": det.offset_,
        "calibration": det.calibration_.tolist(),
        "fusion": {"median": det.fusion_[0].tolist(), "scale": det.fusion_[1].tolist(), "max_samples": 256},
    }
    assert {f"forest.{name}" for name in NAMES} <= set(load_file(str(folder / "model.safetensors")))
    back = hg.load(folder)
    assert back.iforest and back.forest_.max_samples == det.forest_.max_samples
    np.testing.assert_array_equal(back.fusion_, det.fusion_)
    np.testing.assert_array_equal(back.calibration_, det.calibration_)
    for method in ("score_samples", "decision_function", "predict", "p_values"):
        np.testing.assert_array_equal(getattr(back, method)(X), getattr(det, method)(X))


def _edit_forest(file, name, change, prefix=""):
    arrays = load_file(str(file))
    forest = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
    rest = {k: v for k, v in arrays.items() if not k.startswith(prefix)} if prefix else {}
    save_file(rest | {prefix + k: v for k, v in change(forest, name).items()}, str(file))


def _set(value):
    def change(arrays, name):
        a = arrays[name].copy()
        a.flat[0] = value
        return arrays | {name: a}

    return change


FOREST_EDITS = {
    "nan threshold": ("threshold", _set(np.nan), "NaN"),
    "inf value": ("value", _set(np.inf), "NaN or infinite"),
    "negative value": ("value", _set(-1.0), "negative"),
    "child loops back": ("left", _set(0), "later nodes"),
    "child past the end": ("right", _set(10**6), "past the last node|later nodes"),
    "feature out of range": ("feature", _set(99), "feature"),
    "wrong dtype": ("threshold", lambda a, n: a | {n: a[n].astype(np.float32)}, "float64"),
    "wrong shape": ("value", lambda a, n: a | {n: a[n][:, :-1]}, "shape"),
    "missing tensor": ("left", lambda a, n: {k: v for k, v in a.items() if k != n}, "missing"),
    "extra tensor": ("left", lambda a, n: a | {"surprise": a[n]}, "unexpected"),
    "one dimension": ("left", lambda a, n: {k: v[0] for k, v in a.items()}, "shape"),
}


@pytest.mark.parametrize("edit", list(FOREST_EDITS))
def test_corrupt_forest_arrays_are_refused_in_one_line(saved, tmp_path, edit):
    _, folder, _ = saved
    name, change, message = FOREST_EDITS[edit]
    copy, file, prefix = shutil.copytree(folder, tmp_path / "det"), "model.safetensors", "forest."
    _edit_forest(copy / file, name, change, prefix)
    with pytest.raises(HourglassError, match=message) as info:
        hg.load(copy)
    assert "\n" not in str(info.value) and file in str(info.value)


def _edit_fitted(folder, change):
    config = _config(folder)
    change(config["fitted"])
    _write_config(folder, config)


def _drop_forest_arrays(folder):
    arrays = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in arrays.items() if not k.startswith("forest.")}, str(folder / "model.safetensors"))


def _iforest_false(folder):
    config = _config(folder)
    config["params"]["iforest"] = False
    _write_config(folder, config)


FOLDER_EDITS = {
    "forest arrays missing": (_drop_forest_arrays, "do not match"),
    "numbers missing": (lambda f: _edit_fitted(f, lambda d: d.pop("fusion")), "do not match"),
    "both missing, params say iforest": (
        lambda f: (_edit_fitted(f, lambda d: d.pop("fusion")), _drop_forest_arrays(f)),
        "do not match",
    ),
    "params say no forest": (_iforest_false, "do not match"),
    "zero IQR": (lambda f: _edit_fitted(f, lambda d: d["fusion"].update(scale=[0, 1])), "fusion"),
    "threshold missing": (lambda f: _edit_fitted(f, lambda d: d.pop("offset")), "fitted.offset is missing"),
    "threshold not a number": (lambda f: _edit_fitted(f, lambda d: d.update(offset="low")), "fitted.offset must be"),
    "fitted missing": (
        lambda f: _write_config(f, {k: v for k, v in _config(f).items() if k != "fitted"}),
        "config.json: fitted is missing",
    ),
}


@pytest.mark.parametrize("edit", list(FOLDER_EDITS))
def test_forest_files_that_disagree_are_refused(saved, tmp_path, edit):
    _, folder, _ = saved
    change, message = FOLDER_EDITS[edit]
    copy = shutil.copytree(folder, tmp_path / "det")
    change(copy)
    with pytest.raises(HourglassError, match=message) as info:
        hg.load(copy)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("terms", [FOREST, {**FOREST, "knn_weight": 1.5}])
def test_a_zero_spread_term_does_not_divide_by_zero(terms):
    X = np.zeros((300, 4), np.float32)
    X[:40] = np.random.default_rng(0).normal(size=(40, 4))  # over half the rows identical: IQR 0 for every term
    det = AnomalyDetector(seed=0, **terms).fit(X)
    assert (det.fusion_[1] > 0).all()
    scores = det.score_samples(X)
    assert np.isfinite(scores).all() and scores[:40].mean() < scores[40:].mean()
