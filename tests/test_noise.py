"""Corruption specs: parsing, errors, statistics, composition, and fresh-per-batch / fixed-per-seed noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hourglass.data.noise import CORRUPTIONS, Noise, corrupt_array, parse_noise
from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models import build_model
from hourglass.training.state import TrainConfig
from hourglass.training.train import fit


def test_registry_holds_the_three_corruptions():
    assert set(CORRUPTIONS) == {"gaussian", "saltpepper", "mask"}


@pytest.mark.parametrize(
    ("spec", "n_steps"),
    [
        ("gaussian:0.3", 1),
        ("saltpepper:0.1", 1),
        ("mask:0.5", 1),
        ("gaussian:0.3+mask:0.1", 2),
        (" Mask:0 ", 1),
        ("gaussian:1e+0+mask:1e-1", 2),  # the + of an exponent does not split
    ],
)
def test_valid_specs_parse(spec, n_steps):
    noise = parse_noise(spec)
    assert isinstance(noise, Noise)
    assert len(noise.steps) == n_steps


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty noise spec"),
        ("blur:1", "unknown noise 'blur'"),
        ("gaussian", "expected a finite number after 'gaussian:'"),
        ("gaussian:abc", "expected a finite number"),
        ("gaussian:nan", "expected a finite number"),
        ("gaussian:-0.1", "SIGMA must be > 0"),
        ("gaussian:0", "SIGMA must be > 0"),
        ("mask:1.5", "P must be a fraction in [0, 1]"),
        ("saltpepper:-1", "P must be a fraction in [0, 1]"),
        ("gaussian:0.3+", "empty part"),
        ("gaussian:0.3++mask:0.1", "empty part"),
    ],
)
def test_bad_specs_give_one_line_errors(spec, message):
    with pytest.raises(HourglassError) as err:
        parse_noise(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_gaussian_adds_zero_mean_noise_of_sigma():
    clean = np.full((200, 100), 0.5, np.float32)
    noisy = corrupt_array(clean, "gaussian:0.3", seed=1)
    assert noisy.shape == clean.shape and noisy.dtype == np.float32
    delta = noisy - clean
    assert abs(delta.mean()) < 0.01
    assert abs(delta.std() - 0.3) < 0.01


def test_mask_zeroes_a_fraction_and_leaves_the_rest():
    clean = np.random.default_rng(0).uniform(0.1, 1.0, (200, 100)).astype(np.float32)
    noisy = corrupt_array(clean, "mask:0.25", seed=2)
    zeroed = noisy == 0
    assert abs(zeroed.mean() - 0.25) < 0.01
    np.testing.assert_array_equal(noisy[~zeroed], clean[~zeroed])


def test_saltpepper_sets_black_and_white_pixels_half_each():
    clean = np.full((200, 100), 0.5, np.float32)
    noisy = corrupt_array(clean, "saltpepper:0.2", seed=3)
    salt, pepper = (noisy == 1).mean(), (noisy == 0).mean()
    assert abs(salt - 0.1) < 0.01 and abs(pepper - 0.1) < 0.01
    assert ((noisy == 0.5) | (noisy == 0) | (noisy == 1)).all()


def test_composition_applies_left_to_right():
    clean = np.full((100, 100), 0.5, np.float32)
    noise_then_mask = corrupt_array(clean, "gaussian:0.3+mask:0.3", seed=0)
    mask_then_noise = corrupt_array(clean, "mask:0.3+gaussian:0.3", seed=0)
    assert abs((noise_then_mask == 0).mean() - 0.3) < 0.02  # masked pixels stay exactly 0
    assert (mask_then_noise == 0).mean() < 0.001  # noise added after the mask covers it


def test_same_seed_same_noise_other_seed_other_noise():
    clean = np.zeros((50, 49), np.float32)
    a = corrupt_array(clean, "gaussian:0.3+saltpepper:0.1", seed=7)
    b = corrupt_array(clean, "gaussian:0.3+saltpepper:0.1", seed=7)
    c = corrupt_array(clean, "gaussian:0.3+saltpepper:0.1", seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(clean, np.zeros((50, 49), np.float32))  # the input is never modified


def test_each_call_on_one_generator_draws_fresh_noise():
    noise = parse_noise("gaussian:0.3")
    gen = torch.Generator().manual_seed(0)
    batch = torch.zeros(8, 49)
    first, second = noise(batch, gen), noise(batch, gen)
    assert not torch.equal(first, second)


def test_training_corrupts_every_batch_with_fresh_noise_and_keeps_targets_clean():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (300, 12)).astype(np.float32)
    spec = parse_noise("gaussian:0.3")
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def recording(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        noisy = spec(x, gen)
        seen.append((x.clone(), noisy.clone()))
        return noisy

    model = build_model("mlp", n_features=12, latent_dim=2, hidden=[8])
    cfg = TrainConfig(epochs=2, batch_size=64, validation_fraction=0.0, corrupt=recording)
    fit(model, X, Scaler.fit(X, "none"), cfg, torch.device("cpu"))
    assert len(seen) == 2 * 5  # 300 rows in batches of 64, two epochs
    noises = [noisy - clean for clean, noisy in seen]
    for i in range(len(noises)):
        for j in range(i + 1, len(noises)):
            n = min(len(noises[i]), len(noises[j]))
            assert not torch.allclose(noises[i][:n], noises[j][:n])
    # The clean batches are rows of X itself: the corruption never leaks into the targets.
    rows = {tuple(r) for r in np.round(X, 5)}
    assert all(tuple(r) in rows for clean, _ in seen for r in np.round(clean.numpy(), 5))
