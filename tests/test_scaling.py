"""Scaling that is safe on every kind of data: bounded data scaled as pixels, tables standardised with a
floor, inputs far outside the training range clipped; a denoiser trained on each kind improves it."""

import numpy as np
import pytest

import hourglass as hg
from hourglass.data.scaling import RANGE_FLOOR, Scaler

N, RANK = 1500, 3


def _structure(seed: int = 0, width: int = 36) -> np.ndarray:
    """Rows with low-rank structure in [0, 1] (what an autoencoder can learn and a denoiser exploit)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(N, RANK))
    return 1 / (1 + np.exp(-(z @ rng.normal(size=(RANK, width)))))


def _table(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = _structure(seed, 6) - 0.5
    columns = [
        base[:, 0],
        1000 * base[:, 1],  # other units
        0.001 * base[:, 2],
        np.full(N, 7.0),  # constant
        (rng.random(N) < 0.005).astype(float),  # near-constant: a rare 1 among 0s
        np.exp(6 * base[:, 3]),  # heavy-tailed
        (base[:, 4] > 0).astype(float),  # binary
        base[:, 5],
    ]
    return np.stack(columns, axis=1).astype(np.float32)


KINDS = {
    "flat images in [0, 1]": lambda: _structure().astype(np.float32),
    "uint8 rows": lambda: np.round(255 * _structure()).astype(np.uint8),
    "0-255 floats": lambda: np.round(255 * _structure()).astype(np.float32),
    "uint8 images": lambda: np.round(255 * _structure()).astype(np.uint8).reshape(N, 6, 6),
    "mixed table": _table,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_denoiser_improves_every_kind_of_data(kind):
    clean = KINDS[kind]()
    model = hg.Autoencoder(latent_dim=RANK, noise="gaussian:0.2", epochs=60, seed=0).fit(clean)
    # The noise spec is in the data's own units: a fraction of the pixel range for bounded data,
    # of each column's (floored) standard deviation for tables. Corrupt held-out rows alike.
    held_out = KINDS[kind]().astype(np.float32)  # the same seed: the clean rows themselves
    flat = held_out.reshape(N, -1)
    noisy = flat + 0.2 * model.scaler_.scale * np.random.default_rng(1).normal(size=flat.shape)
    denoised = model.denoise(noisy.reshape(held_out.shape)).reshape(N, -1)
    err = lambda rows: np.mean(((rows - flat) / model.scaler_.scale) ** 2)  # noqa: E731
    assert np.isfinite(denoised).all()
    assert err(denoised) < 0.6 * err(noisy), (err(denoised), err(noisy))


@pytest.mark.parametrize(
    ("kind", "scaling", "range_"),
    [
        ("flat images in [0, 1]", "minmax", (0, 1)),
        ("uint8 rows", "minmax", (0, 255)),
        ("0-255 floats", "minmax", (0, 255)),
        ("uint8 images", "minmax", (0, 255)),
        ("mixed table", "standard", None),
    ],
)
def test_auto_scaling_recognises_bounded_data(kind, scaling, range_):
    X = KINDS[kind]()
    scaler = Scaler.fit(X.reshape(len(X), -1), "auto", images=X.dtype == np.uint8 or X.ndim > 2)
    assert scaler.kind == scaling
    if range_:  # one global, nominal range: a pixel that is nearly always dark is not stretched
        np.testing.assert_array_equal(scaler.offset, range_[0])
        np.testing.assert_array_equal(scaler.scale, range_[1] - range_[0])


def test_a_near_constant_feature_cannot_amplify():
    X = _table()
    scaler = Scaler.fit(X, "auto")
    span = X.max(axis=0) - X.min(axis=0)
    assert np.all(scaler.scale >= RANGE_FLOOR * span * (1 - 1e-6))
    # the rare-1 column: a 1 is at most 1 / RANGE_FLOOR scaled units away from 0
    assert 1 / scaler.scale[4] <= 1 / RANGE_FLOOR + 1e-3
    # the constant column maps to 0 and keeps a unit scale
    assert scaler.scale[3] == 1 and scaler.transform(X)[:, 3].max() == 0


def test_inputs_far_outside_the_training_range_are_clipped():
    X = _table()
    model = hg.Autoencoder(latent_dim=2, epochs=3, seed=0).fit(X)
    far = X[:5].copy()
    far[:, 1] = 1e30  # finite in float32, absurd for the data
    edge = X[:5].copy()
    _, high = model.scaler_.clip_window()
    edge[:, 1] = high[1] * model.scaler_.scale[1] + model.scaler_.offset[1]
    codes = model.transform(far)
    assert np.isfinite(codes).all()
    np.testing.assert_allclose(codes, model.transform(edge), rtol=1e-5, atol=1e-5)


def test_old_model_folders_without_a_clip_window_still_load(tmp_path):
    X = _table()
    model = hg.Autoencoder(latent_dim=2, epochs=2, seed=0).fit(X)
    model.scaler_ = Scaler(model.scaler_.kind, model.scaler_.offset, model.scaler_.scale)
    loaded = hg.load(model.save(tmp_path / "m"))
    assert loaded.scaler_.low is None
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
