"""A row's result is the same bits alone, in a subset or in the full batch, at default model sizes."""

import numpy as np
import pytest

import hourglass as hg
from hourglass.anomaly import AnomalyDetector

ESTIMATORS = {
    "mlp": lambda: hg.Autoencoder(epochs=2, seed=0),
    "vae": lambda: hg.Autoencoder(model="vae", epochs=2, seed=0),
    "detector": lambda: AnomalyDetector(epochs=2, seed=0),
}


@pytest.fixture(scope="module")
def rows():
    return np.random.default_rng(0).normal(size=(10_000, 12)).astype(np.float32)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_same_bits_alone_in_a_subset_and_in_the_full_batch(rows, name):
    est = ESTIMATORS[name]().fit(rows[:500])
    methods = {"codes": rows, "score_samples": rows}
    if name == "detector":
        methods |= {"decision_function": rows, "predict": rows}
    else:
        methods |= {"transform": rows, "inverse_transform": est.transform(rows)}
    picks = np.random.default_rng(1).choice(len(rows), 20, replace=False)
    for method, data in methods.items():
        fn = getattr(est, method)
        full = fn(data)
        subset = fn(data[picks])
        alone = np.concatenate([fn(data[i : i + 1]) for i in picks])
        np.testing.assert_array_equal(subset, full[picks], err_msg=f"{method}: subset")
        np.testing.assert_array_equal(alone, full[picks], err_msg=f"{method}: alone")
        # a row near the end of a long batch (past the first inference chunk)
        np.testing.assert_array_equal(fn(data[-1:]), full[-1:], err_msg=f"{method}: last row")
