import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

import hourglass as hg
from hourglass.cli import main
from hourglass.training.prior import Prior, fit_prior
from hourglass.viz import walk


@pytest.fixture(scope="module")
def data():
    return hg.load_dataset("mnist7")


@pytest.fixture(scope="module")
def model(data):
    return hg.Autoencoder(hidden=(32,), epochs=8, seed=0).fit(data.X[:1000])


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("sampling") / "model")


def two_blobs(n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(0)
    left = rng.normal([-5.0, 0.0], 0.5, size=(n // 4, 2))
    right = rng.normal([5.0, 1.0], [1.0, 0.2], size=(3 * n // 4, 2))
    return np.concatenate([left, right])


def test_mixture_finds_the_blobs_and_samples_from_them():
    prior = fit_prior(two_blobs(), n_components=2)
    order = np.argsort(prior.means[:, 0])
    assert np.allclose(prior.means[order], [[-5, 0], [5, 1]], atol=0.1)
    assert np.allclose(prior.weights[order], [0.25, 0.75], atol=0.02)
    z = prior.sample(4000, seed=1)
    assert z.shape == (4000, 2)
    assert abs(np.mean(z[:, 0] < 0) - 0.25) < 0.03
    assert np.allclose(z[z[:, 0] > 0].std(axis=0), [1.0, 0.2], rtol=0.1)


def test_samples_are_deterministic_per_seed():
    prior = fit_prior(two_blobs(), n_components=3, seed=0)
    assert np.array_equal(prior.sample(50, seed=7), prior.sample(50, seed=7))
    assert not np.allclose(prior.sample(50, seed=7), prior.sample(50, seed=8))
    again = Prior.from_arrays(prior.to_arrays())
    assert np.array_equal(again.sample(50, seed=7), prior.sample(50, seed=7))
    assert Prior.from_arrays({}) is None
    with pytest.raises(hg.HourglassError):
        fit_prior(np.zeros((0, 2)))
    single = fit_prior(np.ones((1, 2)))  # one training row still gives a (degenerate) prior
    assert np.allclose(single.sample(3, seed=0), 1.0, atol=1e-3)


def test_autoencoder_sample_shape_and_range(model, data):
    samples = model.sample(20, seed=0)
    assert samples.shape == (20, 7, 7) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 255  # decoded through the sigmoid, in pixel units
    assert np.array_equal(samples, model.sample(20, seed=0))
    assert not np.allclose(samples, model.sample(20, seed=1))
    # Samples come from where the training codes are, not from a fixed N(0, 1).
    codes = model.transform(data.X[:1000])
    drawn = model.prior_.sample(2000, seed=0)
    assert np.allclose(np.median(drawn, axis=0), np.median(codes, axis=0), atol=0.25 * codes.std(axis=0).max())
    with pytest.raises(hg.HourglassError):
        model.sample(0)


def test_prior_is_saved_and_reloaded_model_samples_identically(model, saved):
    arrays = load_file(str(saved / "model.safetensors"))
    assert {"prior.weights", "prior.means", "prior.covariances"} <= set(arrays)
    assert arrays["prior.means"].shape == (len(arrays["prior.weights"]), 2)
    loaded = hg.load(saved)
    assert np.array_equal(loaded.sample(16, seed=5), model.sample(16, seed=5))


def test_model_saved_without_prior_explains_it_cannot_sample(model, tmp_path):
    old = hg.load(model.save(tmp_path / "m"))
    old.prior_ = None
    with pytest.raises(hg.HourglassError, match="prior"):
        old.sample(3)


def test_cli_sample_writes_the_models_samples(model, saved, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["sample", str(saved), "-n", "8", "--seed", "2", "-o", str(out)]) == 0
    assert np.allclose(np.load(out), model.sample(8, seed=2), atol=1e-5)
    png = tmp_path / "s.png"
    assert main(["sample", str(saved), "-n", "12", "-o", str(png), "--cols", "4"]) == 0
    with Image.open(png) as im:
        assert im.size == (260, 210) and np.asarray(im.convert("L")).std() > 20
    assert main(["sample", str(saved), "-n", "6", "-o", str(tmp_path / "n.png"), "--nearest", "mnist7"]) == 0
    assert main(["sample", str(saved), "-n", "0", "-o", str(tmp_path / "z.npy")]) == 2
    assert main(["sample", str(saved), "-o", str(tmp_path / "x.npy"), "--nearest", "mnist7"]) == 2


def test_cli_interpolate_writes_walk_frames_gif_and_map(model, saved, data, tmp_path):
    frames = tmp_path / "w.npy"
    assert (
        main(["interpolate", str(saved), "mnist7", "--from", "3", "--to", "10", "--steps", "6", "-o", str(frames)]) == 0
    )
    expected = walk(model, data.X[3], data.X[10], steps=6)[1]
    assert np.allclose(np.load(frames), expected, atol=1e-4)
    gif, strip, on_map = tmp_path / "w.gif", tmp_path / "w.png", tmp_path / "map.png"
    args = ["interpolate", str(saved), "mnist7", "--from", "3", "--to", "10", "--steps", "6"]
    assert main([*args, "-o", str(gif), "--map", str(on_map)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 6
    assert main([*args, "-o", str(strip)]) == 0
    assert strip.stat().st_size > 1000 and on_map.stat().st_size > 1000
    assert main([*args[:5], "--to", "5000", "-o", str(tmp_path / "bad.gif")]) == 2
