import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hourglass as hg
from hourglass import viz
from hourglass.cli import main
from hourglass.errors import HourglassError
from hourglass.explorer import browser_decodable
from hourglass.models import MODELS, available_models, build_model, model_class, registered_models
from hourglass.models.base import Hourglass
from hourglass.models.conv import ToImages, ToRows, feature_maps


def blobs(n: int = 400, size: tuple[int, ...] = (20, 20), seed: int = 0) -> np.ndarray:
    """Synthetic uint8 images: a bright square at a random place, so there is structure to learn."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 30, size=(n, *size)).astype(np.uint8)
    for img, (i, j) in zip(X, rng.integers(0, size[0] - 6, size=(n, 2)), strict=True):
        img[i : i + 6, j : j + 6] = 220
    return X


def test_registry_lists_conv_and_vae_and_rejects_unknown_names():
    assert {"mlp", "conv", "vae"} <= set(available_models())
    assert model_class("vae") is MODELS["vae"] and model_class("conv").needs == ("sample_shape",)
    with pytest.raises(HourglassError, match="unknown model 'unet'"):
        build_model("unet", n_features=4)


def test_the_listed_models_are_registered_and_internal_ones_are_not_offered(capsys):
    # The list at the end of models/__init__.py registers each; the detector's ensemble loads but is no user choice.
    assert set(available_models()) == {"mlp", "conv", "vae"}
    assert set(registered_models()) == {"mlp", "conv", "vae", "mlp-ensemble"}
    assert model_class("mlp-ensemble").internal
    with pytest.raises(HourglassError, match="parameter model must be one of 'auto', 'conv', 'mlp', 'vae'; got"):
        hg.Autoencoder(model="mlp-ensemble").fit(np.zeros((10, 3)))
    assert main(["train", "digits", "--model", "mlp-ensemble"]) == 2
    expected = "argument --model: must be one of 'auto', 'conv', 'mlp', 'vae'; got 'mlp-ensemble'"
    assert expected in capsys.readouterr().err


@pytest.fixture
def registry(monkeypatch):
    """The registry as it is, restored after the test (a model a test registers does not leak)."""
    import hourglass.models as models

    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))
    return models


def test_the_registry_refuses_a_taken_name_a_non_model_and_an_argument_without_a_spec(registry):
    with pytest.raises(HourglassError, match=r"model name 'mlp' is taken by hourglass\.models\.mlp\.MLP"):
        registry.register("mlp")(type("Other", (Hourglass,), {}))
    with pytest.raises(HourglassError, match="is not a subclass of"):
        registry.register("plain")(nn.Module)

    class Dropout(Hourglass):
        def __init__(self, n_features: int, dropout: float = 0.1) -> None:
            super().__init__()

    with pytest.raises(HourglassError, match="argument 'dropout' needs a spec"):
        registry.register("dropout")(Dropout)
    assert "dropout" not in registry.MODELS and "plain" not in registry.MODELS


def _readme_model_example() -> str:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("Models live in a registry") :]
    return section[section.index("```python\n") + len("```python\n") : section.index("```\n", 10)]


def test_adding_a_model_is_one_file_as_the_readme_shows(registry, tmp_path):
    """The README's example, run as it is: registered, trained by an Autoencoder, saved and loaded back."""
    code = _readme_model_example()
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert registry.model_class("linear") is namespace["Linear"] and "linear" in available_models()
    X = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    model = hg.Autoencoder(model="linear", latent_dim=3, epochs=2, device="cpu").fit(X)
    assert model.model_.name == "linear"
    # The constructor's arguments were recorded (defaults filled in): no config() was written for it.
    config = {"n_features": 6, "latent_dim": 3, "hidden": [], "activation": "gelu", "output_activation": "identity"}
    assert model.model_.config() == config
    folder = model.save(tmp_path / "linear")
    assert json.loads((folder / "config.json").read_text())["model"] == {"name": "linear", "config": config}
    back = hg.load(folder)
    assert type(back.model_) is namespace["Linear"]
    np.testing.assert_array_equal(back.transform(X), model.transform(X))
    with pytest.raises(HourglassError, match="'linear' is taken"):  # the example run twice
        exec(compile(code, "README.md", "exec"), {"__name__": "again"})


def test_recorded_config_is_the_call_with_defaults_and_what_the_model_resolved():
    mlp = build_model("mlp", n_features=np.int64(5), hidden=(np.int32(4), 3))
    assert mlp.config() == {
        "n_features": 5,
        "latent_dim": 2,
        "hidden": [4, 3],
        "activation": "gelu",  # the parameter table's default
        "output_activation": "identity",
    }
    assert json.dumps(mlp.config())  # plain JSON: numpy numbers and tuples converted
    mlp.config()["hidden"].append(9)
    assert mlp.config()["hidden"] == [4, 3]  # a copy: the caller cannot change what is saved
    vae = build_model("vae", n_features=49, sample_shape=(7, 7))
    assert vae.config()["body"] == "mlp" and vae.config()["hidden"] == [128, 64]  # "auto" and None resolved
    again = build_model("vae", **vae.config())
    assert again.config() == vae.config()


@pytest.mark.parametrize("shape", [(28, 28), (27, 13, 3), (5, 9)])
def test_conv_output_matches_input_shape_including_odd_sizes_and_channels(shape):
    n_features = int(np.prod(shape))
    model = build_model("conv", n_features=n_features, sample_shape=shape, latent_dim=3, hidden=[4, 8])
    x = torch.rand(6, n_features)
    assert model.encode(x).shape == (6, 3)
    assert model(x).shape == (6, n_features)
    assert any(isinstance(m, nn.Conv2d) for m in model.encoder)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in model.decoder)


def test_rows_fold_into_channels_first_images_and_back_unchanged():
    images = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # (n, H, W, C), channels last
    folded = ToImages((3, 4, 5))(images.reshape(2, -1))
    assert folded.shape == (2, 5, 3, 4)
    assert torch.equal(folded[1, 2, 0, 3], images[1, 0, 3, 2])  # channel 2 of pixel (0, 3)
    assert torch.equal(ToRows()(folded), images.reshape(2, -1))


def test_conv_refuses_tables_and_images_too_small_for_its_layers():
    with pytest.raises(HourglassError, match=r"\(H, W\) or \(H, W, C\)"):
        build_model("conv", n_features=12, sample_shape=[12])
    with pytest.raises(HourglassError, match="too small"):
        feature_maps((3, 3), 3)
    with pytest.raises(HourglassError, match="holds 49 values, not 50"):
        build_model("conv", n_features=50, sample_shape=[7, 7])


def test_auto_picks_conv_only_for_images_larger_than_16x16(mnist7, table):
    assert hg.Autoencoder().model == "auto"
    assert hg.Autoencoder(epochs=1).fit(mnist7.X[:200]).model_.name == "mlp"
    assert hg.Autoencoder(epochs=1).fit(table).model_.name == "mlp"
    assert hg.Autoencoder(epochs=1).fit(blobs(50, (20, 20))[:, :1, :]).model_.name == "mlp"  # a 1x20 strip
    assert hg.Autoencoder(epochs=1).fit(blobs(50, (40, 20))[:, :16, :]).model_.name == "mlp"  # 16x20
    conv = hg.Autoencoder(epochs=1).fit(blobs(100))
    assert conv.model_.name == "conv" and conv.model_.hidden == [32, 64]  # the conv model's own channels
    assert conv.reconstruct(blobs(5)).shape == (5, 20, 20)


def test_conv_learns_and_round_trips_through_its_model_folder(tmp_path):
    X = blobs(400)
    model = hg.Autoencoder(latent_dim=4, model="conv", hidden=(8, 16), epochs=15, lr=3e-3, seed=0).fit(X)
    h = model.history_
    assert h.val[h.best_epoch - 1] < 0.6 * h.val[0]  # it learned, not just ran
    loaded = hg.load(model.save(tmp_path / "conv"))
    assert json.loads((tmp_path / "conv" / "config.json").read_text())["model"]["config"]["sample_shape"] == [20, 20]
    np.testing.assert_array_equal(loaded.transform(X[:20]), model.transform(X[:20]))
    np.testing.assert_array_equal(loaded.reconstruct(X[:20]), model.reconstruct(X[:20]))


@pytest.mark.parametrize(("body", "shape"), [("mlp", (7, 7)), ("conv", (20, 20))])
def test_vae_shapes_for_both_bodies(body, shape):
    n_features = int(np.prod(shape))
    vae = build_model("vae", n_features=n_features, sample_shape=shape, latent_dim=3, hidden=[8, 16], body=body)
    x = torch.rand(5, n_features)
    mean, log_var = vae.moments(x)
    assert mean.shape == log_var.shape == (5, 3)
    assert torch.equal(vae.encode(x), mean)  # the code is the mean
    assert vae(x).shape == (5, n_features)
    assert vae.config()["body"] == body


def test_vae_body_auto_follows_the_image_size_and_rejects_unknown_bodies():
    assert build_model("vae", n_features=49, sample_shape=[7, 7]).body == "mlp"
    assert build_model("vae", n_features=400, sample_shape=[20, 20]).body == "conv"
    with pytest.raises(HourglassError, match="unknown VAE body"):
        build_model("vae", n_features=49, body="transformer")


def test_vae_loss_holds_the_kl_term_weighted_by_beta():
    torch.manual_seed(0)
    x = torch.rand(32, 49)
    for beta in (0.0, 1.0, 4.0):
        vae = build_model("vae", n_features=49, latent_dim=2, hidden=[16], beta=beta)
        with torch.no_grad():
            loss, parts = vae.training_loss(x, x, nn.MSELoss())
        assert set(parts) == {"recon", "kl"} and float(parts["kl"]) > 0
        assert float(loss) == pytest.approx(float(parts["recon"] + beta * parts["kl"] / 49), rel=1e-6)
    # The KL term sends gradient to the log-variance head even when reconstruction is ignored.
    vae = build_model("vae", n_features=49, latent_dim=2, hidden=[16], beta=1.0)
    _, parts = vae.training_loss(x, x, nn.MSELoss())
    parts["kl"].backward()
    assert float(vae.encoder[-2].weight.grad[2:].abs().sum()) > 0  # rows 2-3: log-variance


def test_vae_training_reports_kl_per_epoch_and_beta_pulls_codes_to_the_prior(mnist7):
    X = mnist7.X[:1000]
    loose = hg.Autoencoder(model="vae", beta=0.01, hidden=(32,), epochs=8, seed=0).fit(X)
    tight = hg.Autoencoder(model="vae", beta=20.0, hidden=(32,), epochs=8, seed=0).fit(X)
    for model in (loose, tight):
        assert len(model.history_.parts["kl"]) == len(model.history_.train)
        assert model.prior_ is None  # no mixture: a VAE samples from N(0, I)
    assert tight.history_.parts["kl"][-1] < loose.history_.parts["kl"][-1]
    assert np.abs(tight.transform(X).mean(axis=0)).max() < np.abs(loose.transform(X).mean(axis=0)).max()


@pytest.fixture(scope="module")
def vae(mnist7):
    return hg.Autoencoder(model="vae", hidden=(32,), epochs=6, seed=0).fit(mnist7.X[:800])


def test_vae_transform_is_deterministic_and_the_same_seed_trains_the_same_weights(vae, mnist7):
    X = mnist7.X[:50]
    np.testing.assert_array_equal(vae.transform(X), vae.transform(X))
    np.testing.assert_array_equal(vae.reconstruct(X), vae.reconstruct(X))
    again = hg.Autoencoder(model="vae", hidden=(32,), epochs=6, seed=0).fit(mnist7.X[:800])
    np.testing.assert_array_equal(again.transform(X), vae.transform(X))


def test_vae_samples_decode_codes_from_a_standard_normal(vae):
    codes = np.random.default_rng(3).standard_normal((10, 2)).astype(np.float32)
    samples = vae.sample(10, seed=3)
    assert samples.shape == (10, 7, 7)
    np.testing.assert_allclose(samples, vae.inverse_transform(codes).reshape(10, 7, 7), rtol=1e-6)
    assert not np.allclose(vae.sample(10, seed=4), samples)


def test_vae_round_trips_through_its_model_folder_and_still_samples(vae, mnist7, tmp_path):
    loaded = hg.load(vae.save(tmp_path / "vae"))
    assert loaded.model_.name == "vae" and loaded.model_.beta == 0.03 and loaded.prior_ is None
    np.testing.assert_array_equal(loaded.transform(mnist7.X[:30]), vae.transform(mnist7.X[:30]))
    np.testing.assert_array_equal(loaded.sample(8, seed=1), vae.sample(8, seed=1))


def test_walk_takes_the_models_path_by_default(vae, small_model, mnist7):
    a, b = mnist7.X[0], mnist7.X[1]
    codes, _ = viz.walk(vae, a, b, steps=7)
    np.testing.assert_allclose(codes, viz.walk(vae, a, b, steps=7, path="spherical")[0])
    assert not np.allclose(codes, viz.walk(vae, a, b, steps=7, path="linear")[0])
    np.testing.assert_allclose(viz.walk(small_model, a, b, steps=7)[0], viz.walk(small_model, a, b, 7, "linear")[0])


def test_the_browser_decodes_mlp_conv_and_vae_decoders(vae, small_model):
    conv = hg.Autoencoder(model="conv", hidden=(4,), epochs=1).fit(blobs(50))
    conv_vae = hg.Autoencoder(model="vae", hidden=(4,), epochs=1).fit(blobs(50))
    assert browser_decodable(small_model) and browser_decodable(vae)
    assert conv_vae.model_.body == "conv"
    assert browser_decodable(conv) and browser_decodable(conv_vae)


def test_cli_trains_a_vae_with_beta(tmp_path, capsys):
    out = tmp_path / "vae"
    assert (
        main(["train", "mnist7", "--model", "vae", "--beta", "0.5", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "vae" and config["model"]["config"]["beta"] == 0.5
    assert len(config["training"]["loss_parts"]["kl"]) == 2
    capsys.readouterr()  # two epochs may warn that the model is no better than the mean: not this test's
    assert main(["train", "mnist7", "--model", "vae", "--beta", "-1", "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    assert "argument --beta: must be >= 0 and finite; got '-1'" in capsys.readouterr().err


def test_default_beta_keeps_the_code_informative_and_the_loss_curve_shows_the_kl(mnist7):
    vae = hg.Autoencoder(model="vae", epochs=15, seed=0).fit(mnist7.X[:1500])
    assert vae.history_.parts["kl"][-1] > 1.0  # beta = 1 collapsed here: KL 0, one decoded image for all
    assert (vae.transform(mnist7.X[1500:2000]).std(axis=0) > 0.3).all()
    fig = viz.loss_curve(vae.history_)
    main_ax, kl_ax = fig.axes
    np.testing.assert_allclose(main_ax.lines[0].get_ydata(), vae.history_.parts["recon"])
    np.testing.assert_allclose(kl_ax.lines[0].get_ydata(), vae.history_.parts["kl"])
    assert "KL" in kl_ax.get_ylabel()
