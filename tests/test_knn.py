"""The detector's nearest-neighbour term: exact neighbours in min-max units, the same bits in any batch, saved as
arrays (never pickled) and checked on load, exported to ONNX, and format 1 folders (before it) still loading."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from sklearn.neighbors import NearestNeighbors

import hourglass as hg
from hourglass import HourglassError
from hourglass.anomaly import AnomalyDetector
from hourglass.anomaly.knn import MAX_REFERENCE, NAMES, Neighbors
from hourglass.training.batches import held_out_rows

SMALL = {"hidden": (8,), "epochs": 2}
RNG = np.random.default_rng(0)
# Columns in units far apart: min-max units put them on one footing.
TABLE = (RNG.normal(size=(500, 6)) * [1, 10, 1e4, 1, 0.01, 1] + [0, 0, 5e5, 0, 0, 0]).astype(np.float32)


def _exact(knn: Neighbors, X: np.ndarray, k: int, skip_self: bool = False) -> np.ndarray:
    """scikit-learn's exact neighbours in the term's min-max units: the mean of the k nearest distances."""
    low, span = knn.arrays["low"], knn.arrays["span"]
    reference = (knn.arrays["reference"].astype(np.float64) - low) / span
    dist, _ = NearestNeighbors(n_neighbors=k + skip_self).fit(reference).kneighbors((X.astype(np.float64) - low) / span)
    return dist[:, skip_self:].mean(axis=1)


def test_the_term_is_the_mean_distance_to_the_nearest_training_rows():
    knn = Neighbors.fit(TABLE, np.arange(400), seed=0)
    low, span = knn.arrays["low"], knn.arrays["span"]
    np.testing.assert_array_equal(low, TABLE.min(axis=0).astype(np.float64))
    np.testing.assert_array_equal(span, TABLE.max(axis=0).astype(np.float64) - low)
    new = RNG.normal(size=(50, 6)).astype(np.float32) * TABLE.std(axis=0) + TABLE.mean(axis=0)
    np.testing.assert_allclose(knn.score(new), _exact(knn, new, knn.k), rtol=1e-12, atol=1e-12)
    # A reference row scored as one (``own``) leaves its own zero distance out.
    own = np.arange(400)
    np.testing.assert_allclose(knn.score(TABLE[:400], own), _exact(knn, TABLE[:400], knn.k, True), rtol=1e-12)


def test_reference_rows_are_the_trained_ones_capped_and_seeded():
    X = RNG.normal(size=(3000, 3)).astype(np.float32)
    held, kept = held_out_rows(len(X), 0.1, 4)
    det = AnomalyDetector(seed=4, **SMALL).fit(X)
    assert det.knn_.n_reference == MAX_REFERENCE and np.isin(det.knn_.rows, kept).all()
    assert not np.isin(det.knn_.rows, held).any()  # the held-out rows calibrate p-values: never a neighbour
    again = AnomalyDetector(seed=4, **SMALL).fit(X)
    np.testing.assert_array_equal(again.knn_.arrays["reference"], det.knn_.arrays["reference"])
    small = Neighbors.fit(X[:20], np.arange(4), seed=0)  # fewer reference rows than k + 1
    assert small.k == 3 and np.isfinite(small.score(X[:5])).all()


def test_a_rows_term_is_the_same_bits_in_any_batch():
    X = RNG.normal(size=(1500, 12)).astype(np.float32)
    knn = Neighbors.fit(X, np.arange(1200), seed=0)
    rows = np.vstack([RNG.normal(size=(700, 12)), X[:300] + 1e-6]).astype(np.float32)  # near-ties too
    whole = knn.score(rows)
    alone = np.concatenate([knn.score(rows[i : i + 1]) for i in range(0, 1000, 97)])
    np.testing.assert_array_equal(alone, whole[::97])
    order = RNG.permutation(len(rows))
    np.testing.assert_array_equal(knn.score(rows[order]), whole[order])
    np.testing.assert_array_equal(knn.score(rows[300:333]), whole[300:333])


def _brute_force(knn: Neighbors, X: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
    """Every reference row's distance from the differences, in float64, the k smallest averaged."""
    low, span = knn.arrays["low"], knn.arrays["span"]
    reference = (knn.arrays["reference"].astype(np.float64) - low) / span
    rows = (X.astype(np.float64) - low) / span
    with np.errstate(over="ignore"):
        dist = np.sqrt(np.square(rows[:, None, :] - reference[None]).sum(axis=2))
    if own is not None:
        dist[own[:, None] == np.arange(len(reference))] = np.inf
    return np.nan_to_num(np.sort(dist, axis=1)[:, : knn.k].mean(axis=1), posinf=np.finfo(np.float64).max)


def test_the_rough_pass_never_drops_a_neighbour_through_ties_clusters_and_far_rows():
    # Reference rows in float32's last bits of each other, exact copies (more than the rough pass keeps), a
    # dense cluster, and rows far out: every row's term is the brute-force one, bit for bit.
    base = RNG.uniform(size=(300, 40)).astype(np.float32)
    ulps = np.nextafter(base[:60], np.float32(2))  # one float32 step apart: the rough pass cannot tell them apart
    copies = np.repeat(base[:3], 40, axis=0)
    cluster = (base[3] + RNG.normal(scale=1e-4, size=(80, 40))).astype(np.float32)
    X = np.vstack([base, ulps, copies, cluster])
    knn = Neighbors.fit(X, np.arange(len(X)), seed=0)
    far = np.vstack([base[:2] * 1e30, np.full((1, 40), -3e38)]).astype(np.float32)
    rows = np.vstack([X, RNG.uniform(size=(100, 40)).astype(np.float32), far])
    np.testing.assert_array_equal(knn.score(rows), _brute_force(knn, rows))
    own = np.arange(len(X))
    np.testing.assert_array_equal(knn.score(X, own), _brute_force(knn, X, own))
    few = Neighbors.fit(X[:50], np.arange(50), seed=0)  # so few reference rows that each is measured
    np.testing.assert_array_equal(few.score(rows), _brute_force(few, rows))


def test_the_detector_adds_the_distance_as_a_weighted_robust_z_score():
    det = AnomalyDetector(seed=1, knn_weight=2.0, **SMALL).fit(TABLE)
    plain = AnomalyDetector(seed=1, knn_weight=0, **SMALL).fit(TABLE)
    (m_error, m_knn), (s_error, s_knn) = det.fusion_
    error, distance = -plain.score_samples(TABLE), det.knn_.score(TABLE)
    np.testing.assert_array_equal(det._parts(TABLE)[:, 0], error)  # the same autoencoders either way
    expected = -((error - m_error) / s_error + 2.0 * (distance - m_knn) / s_knn)
    np.testing.assert_allclose(det.score_samples(TABLE), expected, rtol=1e-12, atol=1e-12)
    # The statistics are the trained rows' distances each without itself, as a new row would be measured.
    _, kept = held_out_rows(len(TABLE), 0.1, 1)
    own = np.full(len(TABLE), -1)
    own[det.knn_.rows] = np.arange(det.knn_.n_reference)
    without_self = det.knn_.score(TABLE, own)[kept]
    assert m_knn == np.median(without_self) and s_knn == np.subtract(*np.percentile(without_self, [75, 25]))
    # contamination flags that share of the training rows as predict scores them.
    flagged = AnomalyDetector(seed=1, contamination=0.1, **SMALL).fit(TABLE).predict(TABLE)
    assert abs(np.mean(flagged == -1) - 0.1) < 0.005


def test_a_row_far_from_every_training_row_scores_lowest():
    det = AnomalyDetector(seed=0, **SMALL).fit(TABLE)
    far = np.vstack([TABLE[:3], TABLE[:1] * 1e30, np.full((1, 6), 3e38, np.float32)]).astype(np.float32)
    scores = det.score_samples(far)
    assert np.isfinite(scores).all() and scores[3] < scores[:3].min() and scores[4] <= scores[3]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    det = AnomalyDetector(seed=2, iforest=True, **SMALL).fit(TABLE)
    return det, det.save(tmp_path_factory.mktemp("knn") / "det")


def _config(folder):
    return json.loads((folder / "config.json").read_text())


def _write_config(folder, config):
    (folder / "config.json").write_text(json.dumps(config))


def test_save_load_round_trip_is_bitwise(saved):
    det, folder = saved
    arrays = load_file(str(folder / "model.safetensors"))
    assert {f"knn.{name}" for name in NAMES} <= set(arrays) and arrays["knn.reference"].dtype == np.float32
    assert arrays["knn.reference"].shape == (det.knn_.n_reference, TABLE.shape[1])
    fitted = _config(folder)["fitted"]
    assert fitted["knn"] == {"k": det.knn_.k} and len(fitted["fusion"]["median"]) == 3
    back = hg.load(folder)
    for method in ("score_samples", "decision_function", "predict", "p_values"):
        np.testing.assert_array_equal(getattr(back, method)(TABLE), getattr(det, method)(TABLE))


def _edit_arrays(name, change):
    def edit(folder):
        arrays = load_file(str(folder / "model.safetensors"))
        save_file(change(arrays, f"knn.{name}"), str(folder / "model.safetensors"))

    return edit


def _set(value):
    def change(arrays, key):
        a = arrays[key].copy()
        a.flat[0] = value
        return arrays | {key: a}

    return change


def _edit_config(change):
    def edit(folder):
        config = _config(folder)
        change(config)
        _write_config(folder, config)

    return edit


FOLDER_EDITS = {
    "NaN reference row": (_edit_arrays("reference", _set(np.nan)), "knn.reference holds values that are not finite"),
    "infinite low": (_edit_arrays("low", _set(np.inf)), "knn.low holds values that are not finite"),
    "zero span": (_edit_arrays("span", _set(0.0)), "knn.span holds values that are not positive"),
    "reference of another width": (
        _edit_arrays("reference", lambda a, k: a | {k: a[k][:, :-1]}),
        "knn.reference has shape",
    ),
    "reference as float64": (
        _edit_arrays("reference", lambda a, k: a | {k: a[k].astype(np.float64)}),
        "knn.reference is float64, not float32",
    ),
    "span of another length": (_edit_arrays("span", lambda a, k: a | {k: a[k][:-1]}), "knn.span has shape"),
    "arrays missing": (
        _edit_arrays("low", lambda a, k: {n: v for n, v in a.items() if not n.startswith("knn.")}),
        "do not match",
    ),
    "an unknown array": (_edit_arrays("low", lambda a, k: a | {"knn.extra": a[k]}), "unknown"),
    "k of 0": (_edit_config(lambda c: c["fitted"]["knn"].update(k=0)), "fitted.knn.k"),
    "k not a whole number": (_edit_config(lambda c: c["fitted"]["knn"].update(k=2.5)), "fitted.knn.k"),
    "params say no distance": (_edit_config(lambda c: c["params"].update(knn_weight=0)), "do not match"),
    "one term's numbers missing": (
        _edit_config(lambda c: c["fitted"]["fusion"].update(median=[0.0, 0.0], scale=[1.0, 1.0])),
        "fitted.fusion has 2 terms' numbers; the detector has 3 terms",
    ),
}


@pytest.mark.parametrize("edit", list(FOLDER_EDITS))
def test_a_damaged_or_inconsistent_term_is_refused_in_one_line(saved, tmp_path, edit):
    _, folder = saved
    change, message = FOLDER_EDITS[edit]
    copy = shutil.copytree(folder, tmp_path / "det")
    change(copy)
    with pytest.raises(HourglassError, match=message) as info:
        hg.load(copy)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("iforest", [True, False])
def test_a_format_1_detector_folder_loads_as_it_scored(tmp_path, iforest):
    """Format 1 had no nearest-neighbour term: ``migrate_1`` reads its folders with ``knn_weight=0``."""
    det = AnomalyDetector(seed=3, iforest=iforest, knn_weight=0, **SMALL).fit(TABLE)
    folder = det.save(tmp_path / "old")
    config = _config(folder)
    del config["params"]["knn_weight"]
    _write_config(folder, config | {"format_version": 1})
    back = hg.load(folder)
    assert back.knn_weight == 0 and back.knn_ is None and back.iforest == iforest
    np.testing.assert_array_equal(back.score_samples(TABLE), det.score_samples(TABLE))
    again = back.save(tmp_path / "new")  # written as format 2, with the parameter
    assert _config(again)["format_version"] == 2 and _config(again)["params"]["knn_weight"] == 0


def test_the_onnx_scorer_computes_the_distance(tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed (pip install -e '.[export]')")
    pytest.importorskip("onnxscript", reason="the export extra is not installed (pip install -e '.[export]')")
    import torch

    from hourglass.export import Runtime, export_onnx, read_export
    from hourglass.export.graphs import NeighborDistance

    det = AnomalyDetector(seed=0, **SMALL).fit(TABLE)
    rows = np.vstack([TABLE[:50], TABLE[:3] * 50]).astype(np.float32)
    with torch.inference_mode():
        graph = NeighborDistance(det.knn_)(torch.as_tensor(rows)).numpy()
    # From |q|^2 + |r|^2 - 2 q.r, a row's zero distance to itself comes out near 1e-8 (a rounding, square-rooted).
    np.testing.assert_allclose(graph, det.knn_.score(rows), rtol=1e-7, atol=1e-7)
    runtime = Runtime(read_export(export_onnx(det, tmp_path / "onnx"), det))
    scores = runtime.run("scorer", rows)
    np.testing.assert_allclose(scores, det.score_samples(rows), rtol=1e-6, atol=1e-6)
    plain = AnomalyDetector(seed=0, knn_weight=0, **SMALL).fit(TABLE)
    assert np.abs(scores - plain.score_samples(rows)).max() > 0.1  # the distance is in the graph
