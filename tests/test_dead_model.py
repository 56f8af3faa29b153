"""No silent dead models (issue 20, point 1): scikit-learn's digits (integers 0..16) once trained to black
reconstructions reported as a small validation loss. Now the scaling fits their range, and every fit
records its held-out error beside predicting the mean and PCA's, warning when it is no better than the mean
or kept its first epoch."""

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

import hourglass as hg
from hourglass.cli import main
from hourglass.training.batches import held_out_rows


def _mean_mse(train: np.ndarray, test: np.ndarray) -> float:
    return float(np.mean((test - train.mean(axis=0)) ** 2))


@pytest.mark.slow  # a statistical test: a long fit checked for quality
def test_hourglass_train_digits8_beats_the_mean_clearly(tmp_path, capsys):
    out = tmp_path / "d8"
    assert main(["train", "digits8", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "warning" not in printed.err, printed.err
    assert "predicting the mean" in printed.out  # the summary shows the comparison
    held = json.loads((out / "config.json").read_text())["training"]["held_out"]
    assert held["mse"] < 0.6 * held["mean_mse"], held
    # In pixel units too, on every digit: the reconstructions are digits, not black.
    X = hg.load_dataset("digits8").X.reshape(-1, 64).astype(np.float64)
    rebuilt = hg.load(out).reconstruct(X.reshape(-1, 8, 8)).reshape(-1, 64)
    assert np.mean((rebuilt - X) ** 2) < 0.6 * _mean_mse(X, X)
    assert rebuilt.max() > 8  # the old model's were all below 1 (black)


@pytest.mark.slow  # a statistical test: a long fit checked for quality
def test_digits_as_flat_float_rows_beat_the_mean_and_pca():
    X = load_digits().data  # float64 rows of integers 0..16
    train, test = X[:1400], X[1400:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good fit raises no warning
        model = hg.Autoencoder(seed=0).fit(train)
    mse = np.mean((model.reconstruct(test) - test) ** 2)
    pca = PCA(2).fit(train)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2)
    assert mse < 0.6 * _mean_mse(train, test) and mse < pca_mse, (mse, pca_mse)  # was 59.5 against 19.0 and 13.7
    assert model.history_.best_epoch > 1 and not model.history_.warnings


def test_history_records_the_baselines_on_the_held_out_rows(mnist7):
    X = mnist7.X[:1500]
    model = hg.Autoencoder(hidden=(32,), epochs=15, seed=0).fit(X)
    held = model.history_.held_out
    val, train = held_out_rows(len(X), model.validation_fraction, model.seed)
    scaled = model.scaler_.transform(X.reshape(len(X), -1))
    assert held["rows"] == len(val) and held["validation"] and held["pca_width"] == 2
    assert held["mean_mse"] == pytest.approx(_mean_mse(scaled[train], scaled[val]), rel=1e-4)
    pca = PCA(2).fit(scaled[train])
    rebuilt = pca.inverse_transform(pca.transform(scaled[val]))
    assert held["pca_mse"] == pytest.approx(np.mean((rebuilt - scaled[val]) ** 2), rel=1e-3)
    # the model's own error on those rows, from its best weights
    ours = np.mean((model.scaler_.transform(model.reconstruct(X[val]).reshape(len(val), -1)) - scaled[val]) ** 2)
    assert held["mse"] == pytest.approx(ours, rel=1e-4)
    assert held["mse"] < 0.8 * held["mean_mse"] and held["pca_mse"] < 0.8 * held["mean_mse"]


def test_a_dead_fit_warns_and_says_so_everywhere(mnist7, tmp_path, capsys):
    # A learning rate this small leaves the network where it started: no better than the mean, and no
    # epoch after the first makes progress.
    with pytest.warns(UserWarning) as caught:
        model = hg.Autoencoder(hidden=(16,), epochs=3, lr=1e-9, seed=0).fit(mnist7.X[:600])
    said = [str(w.message) for w in caught]
    assert any("no better than predicting the mean" in m for m in said), said
    assert any("kept epoch 1 of 3" in m for m in said), said
    found = model.history_.warnings
    assert len(found) == 2 and "no better than predicting the mean" in found[0]
    assert model.history_.held_out["mse"] > 0.95 * model.history_.held_out["mean_mse"]
    # kept by the model folder, and shown by `hourglass info`
    folder = model.save(tmp_path / "dead")
    assert hg.load(folder).history_.warnings == found
    assert hg.load(folder).history_.held_out == model.history_.held_out
    assert main(["info", str(folder)]) == 0
    shown = capsys.readouterr().out
    assert "held out    MSE" in shown and "predicting the mean" in shown
    assert sum(line.startswith("warning     ") for line in shown.splitlines()) == 2


def test_a_dead_fit_warns_on_the_command_line(tmp_path, capsys):
    X = np.random.default_rng(0).random((300, 20), dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    argv = ["train", str(tmp_path / "x.npy"), "--out", str(tmp_path / "m"), "--epochs", "2", "--lr", "1e-9"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "hourglass: warning: the model is no better than predicting the mean" in printed.err
    assert "held out: MSE" in printed.out and "predicting the mean:" in printed.out


def test_without_held_out_rows_the_training_rows_stand_in(table):
    model = hg.Autoencoder(epochs=3, validation_fraction=0.0, seed=0).fit(table)
    held = model.history_.held_out
    assert not held["validation"] and held["rows"] == len(table)
    assert held["mean_mse"] == pytest.approx(_mean_mse(*[model.scaler_.transform(table)] * 2), rel=1e-4)


def test_a_folder_without_the_baselines_is_refused_in_one_line(table, tmp_path):
    model = hg.Autoencoder(epochs=2, seed=0).fit(table)
    folder = model.save(tmp_path / "m")
    assert hg.load(folder).history_.held_out == model.history_.held_out
    config = json.loads((folder / "config.json").read_text())
    del config["training"]["held_out"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(hg.HourglassError, match=r"training\.held_out is missing"):
        hg.load(folder)


@pytest.mark.slow  # a statistical test: a long fit checked for quality
def test_the_default_conv_model_learns_dark_28x28_images():
    """A folder of dark 28x28 images (MNIST-like: mean pixel 0.13) gets the conv model, whose sigmoid output
    once started at 0.5, saturated at 0 within the first steps and stayed black: held-out error twice the
    mean's. Its output now starts at the data's mean (``Hourglass.start_at``)."""
    digits = hg.load_dataset("mnist7").X[:300]
    images = np.kron(digits, np.ones((4, 4), np.uint8))  # 28x28, the size of MNIST's own
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dead-model warning fails the test
        model = hg.Autoencoder(hidden=(8, 16), epochs=30, seed=0).fit(images)
    assert model.model_.name == "conv"
    held = model.history_.held_out
    assert held["mse"] < 0.85 * held["mean_mse"], held
    assert model.reconstruct(images[:20]).max() > 100  # not black
