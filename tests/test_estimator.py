import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import hourglass as hg
from hourglass.anomaly import AnomalyDetector
from hourglass.training import batches, schedule, train


@parametrize_with_checks(
    [
        # default widths (a tiny model would hide size-dependent rounding); fewer epochs for time
        hg.Autoencoder(epochs=3),
        hg.Autoencoder(model="vae", epochs=3),
        AnomalyDetector(epochs=3),
    ]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


@pytest.mark.slow
def test_beats_pca_on_heldout_digits(demo_result):
    # The default autoencoder on 4,000 of mnist7's digits (the demo's, trained once: tests/conftest.py).
    model, X_train, X_test = demo_result.model, demo_result.X_train, demo_result.X_test
    assert model.get_params() == hg.Autoencoder(seed=0).get_params()
    mse = np.mean(((model.reconstruct(X_test) - X_test) / 255.0) ** 2)
    flat = X_train.reshape(4000, -1) / 255.0
    pca = PCA(2).fit(flat)
    test = X_test.reshape(1000, -1) / 255.0
    pca_mse = np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2)
    assert mse < 0.8 * pca_mse
    assert model.history_.best_epoch <= len(model.history_.train) < model.epochs  # early stop fired
    assert model.history_.val[-1] > 0 and len(model.history_.val) == len(model.history_.train)


def test_same_seed_same_weights_other_seed_differs(table):
    a = hg.Autoencoder(epochs=5, seed=3).fit(table)
    b = hg.Autoencoder(epochs=5, seed=3).fit(table)
    c = hg.Autoencoder(epochs=5, seed=4).fit(table)
    for (k, va), vb in zip(a.model_.state_dict().items(), b.model_.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not np.allclose(a.transform(table), c.transform(table))


def test_seed_does_not_touch_global_rng(table):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    hg.Autoencoder(epochs=1).fit(table)
    assert torch.equal(torch.rand(3), expected)


def test_shapes_and_units(small_model, mnist7):
    X = mnist7.X[:10]
    codes = small_model.transform(X)
    assert codes.shape == (10, 2)
    decoded = small_model.inverse_transform(codes)
    assert decoded.shape == (10, 49)
    assert decoded.min() >= 0 and decoded.max() <= 255.0 + 1e-3  # sigmoid output, undone to pixel units
    rebuilt = small_model.reconstruct(X)
    assert rebuilt.shape == X.shape
    np.testing.assert_allclose(rebuilt.reshape(10, -1), decoded, rtol=1e-5, atol=1e-3)
    scores = small_model.score_samples(X)
    assert scores.shape == (10,) and (scores <= 0).all()
    assert small_model.scaler_.kind == "minmax" and small_model.model_.output_act == "sigmoid"


def test_table_uses_standard_scaling_and_identity_output(table):
    model = hg.Autoencoder(epochs=3).fit(table)
    assert model.scaler_.kind == "standard" and model.model_.output_act == "identity"
    np.testing.assert_allclose(model.scaler_.offset, table.mean(0), atol=1e-5)


def test_constant_feature_does_not_divide_by_zero(table):
    X = table.copy()
    X[:, 2] = 7.0
    model = hg.Autoencoder(epochs=3).fit(X)
    assert np.isfinite(model.transform(X)).all()
    np.testing.assert_allclose(model.reconstruct(X)[:, 2], 7.0, atol=0.5)


def test_wrong_image_shape_is_a_clear_error(small_model):
    with pytest.raises(hg.HourglassError, match=r"images of shape \(8, 8\).*\(7, 7\)"):
        small_model.transform(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(hg.HourglassError, match="expecting 49 features"):
        small_model.transform(np.zeros((3, 50)))


def test_diverging_training_stops_with_a_message(table):
    with pytest.raises(hg.HourglassError, match="diverged"):
        hg.Autoencoder(lr=1e12, epochs=20, patience=0).fit(table * 1e6)


def test_pipeline_and_clone(mnist7):
    X, y = mnist7.X[:600].reshape(600, -1), mnist7.y[:600]
    pipe = make_pipeline(hg.Autoencoder(latent_dim=8, epochs=30), LogisticRegression(max_iter=500))
    pipe.fit(X[:500], y[:500])
    assert pipe.score(X[500:], y[500:]) > 0.35  # 3.5x chance: codes learned without labels separate digits
    copy = clone(pipe)
    assert copy.get_params()["autoencoder__latent_dim"] == 8 and not hasattr(copy[0], "model_")


def test_save_load_roundtrip(tmp_path, small_model, mnist7):
    path = small_model.save(tmp_path / "m")
    loaded = hg.load(path)
    X = mnist7.X[:50]
    np.testing.assert_array_equal(loaded.transform(X), small_model.transform(X))
    assert loaded.get_params() == small_model.get_params()
    assert loaded.history_.train == small_model.history_.train
    assert loaded.sample_shape_ == (7, 7)


def test_streams_data_larger_than_the_in_memory_limit(tmp_path, monkeypatch, mnist7):
    path = tmp_path / "big.npy"
    np.save(path, mnist7.X[:2000])
    X = np.load(path, mmap_mode="r")
    monkeypatch.setenv(batches.MEMORY_ENV, "1K")
    monkeypatch.setattr(batches, "BLOCK_BYTES", 256 * 49 * 4)
    model = hg.Autoencoder(hidden=(32,), epochs=8, seed=0).fit(X)
    history = model.history_.train
    assert history[-1] < 0.8 * history[0]
    np.testing.assert_allclose(model.transform(X[:10]), model.transform(np.asarray(X[:10])), rtol=1e-6)


def test_memory_limit_follows_the_environment_and_the_machine(monkeypatch):
    monkeypatch.setenv(batches.MEMORY_ENV, "512M")
    assert batches.memory_limit() == 512 << 20
    monkeypatch.setenv(batches.MEMORY_ENV, "lots")
    with pytest.raises(hg.HourglassError, match="HOURGLASS_MEMORY_LIMIT"):
        batches.memory_limit()
    monkeypatch.delenv(batches.MEMORY_ENV)
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) << 10 for line in f if line.startswith("MemAvailable:"))
    assert 0.3 * available < batches.memory_limit() < 0.7 * available


def test_learning_rate_warms_up_over_the_first_steps_then_holds(monkeypatch, table):
    seen: list[float] = []
    make = train.make_optimizer

    def spying(*args, **kwargs):
        optimizer = make(*args, **kwargs)
        step = optimizer.step

        def record(*a, **k):
            seen.append(optimizer.param_groups[0]["lr"])
            return step(*a, **k)

        optimizer.step = record
        return optimizer

    monkeypatch.setattr(train, "make_optimizer", spying)
    hg.Autoencoder(hidden=(8,), epochs=2, batch_size=16, lr=0.01, patience=0).fit(table[:160])
    ramp = [0.01 * (i + 1) / schedule.WARMUP_STEPS for i in range(schedule.WARMUP_STEPS)]
    assert np.allclose(seen[: schedule.WARMUP_STEPS], ramp)
    assert np.allclose(seen[schedule.WARMUP_STEPS :], 0.01)  # 9 steps an epoch, 2 epochs: no plateau cut yet
