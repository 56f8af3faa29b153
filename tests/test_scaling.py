"""Scaling that is safe on every kind of data: bounded data scaled as pixels by its own global range, tables
standardised with a floor, inputs far outside the training range clipped; a denoiser trained on each kind
improves it."""

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
    # digits8's values: integers 0..16 in uint8 (once taken for 0..255 pixels: a dead, black model)
    "0-16 uint8 images": lambda: np.round(16 * _structure()).astype(np.uint8).reshape(N, 6, 6),
    "mixed table": _table,
}


@pytest.mark.slow  # a statistical test: a long fit checked for quality
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


BOUNDED = KINDS | {
    "0-16 integer rows as floats": lambda: np.round(16 * _structure()),
    "dark uint8 images (max 100)": lambda: np.round(100 * _structure()).astype(np.uint8).reshape(N, 6, 6),
    "12-bit images in uint16": lambda: np.round(4095 * _structure()).astype(np.uint16).reshape(N, 6, 6),
    "16-bit images": lambda: np.round(65535 * _structure()).astype(np.uint16).reshape(N, 6, 6),
    "images in -1..1": lambda: (2 * _structure() - 1).astype(np.float32).reshape(N, 6, 6),
    # far from 0: a range anchored at 0 would squeeze them into its top 6%, as 0..255 did digits' 0..16
    "thermal images, 293..313 kelvin": lambda: (293 + 20 * _structure()).astype(np.float32).reshape(N, 6, 6),
    "uint8 table of scores 1..10": lambda: np.round(1 + 9 * _structure(width=9)).astype(np.uint8),
}


@pytest.mark.parametrize("kind", [k for k in BOUNDED if k != "mixed table"])
def test_bounded_data_is_scaled_by_its_own_global_range(kind):
    X = BOUNDED[kind]()
    flat = X.reshape(len(X), -1)
    scaler = Scaler.fit(flat, "auto", images=X.dtype == np.uint8 or X.ndim > 2)
    assert scaler.kind == "minmax"
    # One range for every pixel (a pixel that is nearly always dark is not stretched), and the data's own:
    # not a nominal 0..255 that integers 0..16 would fill a sixteenth of.
    np.testing.assert_array_equal(scaler.offset, np.float32(flat.min()))
    np.testing.assert_array_equal(scaler.scale, np.float32(flat.max()) - np.float32(flat.min()))
    scaled = scaler.transform(flat)
    assert scaled.min() == 0 and scaled.max() == pytest.approx(1, abs=1e-6)


def test_tables_are_standardised():
    assert Scaler.fit(_table(), "auto").kind == "standard"


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
