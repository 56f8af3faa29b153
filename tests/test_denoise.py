"""Denoising end to end: a trained denoiser really cleans held-out digits; evaluation, figure, CLI, saving."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.model_selection import train_test_split

import hourglass as hg
from hourglass.cli import main
from hourglass.data.noise import corrupt_array
from hourglass.evaluations.denoise import evaluate_denoise, psnr
from hourglass.viz.denoise import denoise_figure

NOISE = "gaussian:0.3"


@pytest.fixture(scope="module")
def digits():
    """The demo's split of mnist7: its training digits, and the first 500 of its held-out ones."""
    data = hg.load_dataset("mnist7")
    X_train, X_test = train_test_split(data.X, test_size=0.2, random_state=0)
    return X_train, X_test[:500]


@pytest.fixture(scope="module")
def denoiser(demo_denoiser):
    """The demo's denoiser (40 epochs on the training digits): for the tests that judge how well it denoises."""
    assert demo_denoiser.model.noise == NOISE
    return demo_denoiser.model


@pytest.fixture(scope="module")
def quick_denoiser(digits):
    """A briefly trained denoiser, for the tests of what the evaluation and the files hold, not how good it is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs: no better than the mean, and not the point here
        return hg.Autoencoder(latent_dim=4, hidden=(16,), epochs=2, noise=NOISE, seed=0).fit(digits[0][:500])


def test_psnr_is_ten_log10_of_peak_squared_over_mse():
    assert psnr(0.01) == pytest.approx(20.0)
    assert psnr(0.04, data_range=2.0) == pytest.approx(20.0)


@pytest.mark.slow
def test_trained_denoiser_raises_psnr_on_heldout_noisy_digits(denoiser, digits):
    _, X_test = digits
    clean = X_test.astype(np.float32) / 255  # mnist7 spans 0..255, so min-max scaling is /255
    noisy = corrupt_array(clean, NOISE, seed=123)
    denoised = denoiser.denoise(noisy * 255) / 255
    assert denoised.shape == X_test.shape
    gain = psnr(float(np.mean((denoised - clean) ** 2))) - psnr(float(np.mean((noisy - clean) ** 2)))
    assert gain > 5.0  # about +8 dB: 10.5 dB noisy -> 18.5 dB denoised


@pytest.mark.slow
def test_evaluation_compares_with_classical_filters(denoiser, digits):
    _, X_test = digits
    ev = evaluate_denoise(denoiser, X_test, NOISE, seed=0)
    assert set(ev.mse) == {"noisy", "autoencoder", "median", "gaussian"}
    assert ev.data_range == 1.0
    assert ev.psnr["noisy"] == pytest.approx(psnr(0.09), abs=0.3)  # sigma 0.3 -> MSE 0.09
    assert ev.best_classical == min(("median", "gaussian"), key=ev.mse.__getitem__)
    assert ev.psnr["autoencoder"] > ev.psnr[ev.best_classical] + 2.0
    assert ev.psnr["median"] > ev.psnr["noisy"]  # the baseline is a real filter, not a strawman
    assert ev.clean.shape == ev.noisy.shape == ev.denoised.shape == X_test.shape
    again = evaluate_denoise(denoiser, X_test, NOISE, seed=0)
    np.testing.assert_array_equal(ev.noisy, again.noisy)
    other = evaluate_denoise(denoiser, X_test, NOISE, seed=1)
    assert not np.array_equal(ev.noisy, other.noisy)
    table = ev.table()
    assert "PSNR = 10·log10(peak² / MSE), pixels scaled to [0, 1]" in table
    assert "median filter 3x3" in table


def test_evaluation_rejects_bad_specs_and_shapes(quick_denoiser, digits):
    _, X_test = digits
    with pytest.raises(hg.HourglassError, match="unknown noise"):
        evaluate_denoise(quick_denoiser, X_test, "speckle:0.1")
    with pytest.raises(hg.HourglassError, match="trained on"):
        evaluate_denoise(quick_denoiser, np.zeros((4, 8, 8), np.uint8), NOISE)


def test_table_models_are_evaluated_without_image_filters():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)).astype(np.float32) @ rng.normal(size=(6, 6)).astype(np.float32)
    model = hg.Autoencoder(latent_dim=3, hidden=(16,), epochs=5, noise="mask:0.2").fit(X)
    ev = evaluate_denoise(model, X, "mask:0.2")
    assert set(ev.mse) == {"noisy", "autoencoder"} and ev.best_classical is None
    assert ev.data_range == pytest.approx(float(np.ptp(ev.clean)))
    assert isinstance(denoise_figure(ev, n=4), Figure)


def test_figure_has_clean_noisy_denoised_and_filter_rows(quick_denoiser, digits, tmp_path):
    ev = evaluate_denoise(quick_denoiser, digits[1], NOISE)
    fig = denoise_figure(ev, n=6)
    assert len(fig.axes) == 4 * 6
    labels = [fig.axes[r * 6].get_ylabel() for r in range(4)]
    assert labels[0] == "clean" and labels[1].startswith("noisy input")
    assert labels[2].startswith("denoising autoencoder") and labels[3].endswith("dB")
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_noise_spec_is_saved_and_reloaded(quick_denoiser, digits, tmp_path):
    quick_denoiser.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["params"]["noise"] == NOISE
    loaded = hg.load(tmp_path / "m")
    assert loaded.noise == NOISE
    np.testing.assert_array_equal(loaded.denoise(digits[1][:20]), quick_denoiser.denoise(digits[1][:20]))


@pytest.mark.slow
def test_denoise_demo_trains_a_denoiser_that_beats_the_filters(demo_denoiser, demo_result):
    assert demo_denoiser.model.noise == "gaussian:0.3" and demo_denoiser.model.epochs == 40
    assert demo_denoiser.evaluation.clean.shape == demo_result.X_test.shape  # evaluated on the held-out digits
    assert demo_denoiser.evaluation.gain_db > 1.0
    assert isinstance(demo_denoiser.figure, Figure)


# ------------------------------------------------------------------------------------------- CLI
def test_cli_train_with_bad_noise_exits_2(tmp_path, capsys):
    assert main(["train", "mnist7", "--noise", "gaussian:x", "--out", str(tmp_path / "m"), "--quiet"]) == 2
    assert "argument --noise: must be a noise spec" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_cli_train_denoise_and_evaluate(tmp_path, capsys, digits):
    model = tmp_path / "m"
    args = ["train", "mnist7", "--noise", NOISE, "--latent", "8", "--epochs", "3", "--out", str(model), "--quiet"]
    assert main(args) == 0
    assert hg.load(model).noise == NOISE

    noisy = tmp_path / "noisy.npy"
    np.save(noisy, corrupt_array(digits[1][:30] / 255, NOISE, seed=0) * 255)
    assert main(["denoise", str(model), str(noisy), "-o", str(tmp_path / "clean.npy")]) == 0
    assert np.load(tmp_path / "clean.npy").shape == (30, 7, 7)
    assert main(["denoise", str(model), str(noisy), "-o", str(tmp_path / "pngs")]) == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 30

    test = tmp_path / "test.npy"
    np.save(test, digits[1])
    capsys.readouterr()
    assert main(["evaluate-denoise", str(model), str(test), "--seed", "3", "-o", str(tmp_path / "fig.png")]) == 0
    out = capsys.readouterr().out
    assert "noise gaussian:0.3 (seed 3)" in out and "denoising autoencoder" in out and "PSNR" in out
    assert (tmp_path / "fig.png").stat().st_size > 1000

    assert main(["evaluate-denoise", str(model), str(test), "--noise", "gaussian:0.3+oops:1"]) == 2
    assert "unknown noise 'oops'" in capsys.readouterr().err
    assert main(["evaluate-denoise", str(model), str(test), "-o", str(tmp_path / "fig.txt")]) == 2


def test_cli_evaluate_needs_a_spec_for_a_model_trained_without_noise(tmp_path, capsys, digits):
    hg.Autoencoder(latent_dim=2, epochs=1).fit(digits[0][:200]).save(tmp_path / "plain")
    assert main(["evaluate-denoise", str(tmp_path / "plain"), "mnist7"]) == 2
    assert "pass --noise" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "plain"), "mnist7", "-o", str(tmp_path / "o.npy")]) == 0
    assert "trained without --noise" in capsys.readouterr().err
