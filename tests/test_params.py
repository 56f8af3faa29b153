"""Parameters and values at the edge: every bad parameter fails first, in one line naming it; data
that is not finite in float32 (the precision the model computes in) is refused wherever it enters."""

from __future__ import annotations

import dataclasses
import inspect
import math
import re

import numpy as np
import pytest

import hourglass as hg
from hourglass import HourglassError
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import build_parser
from hourglass.cli import fit_detector as fit_detector_cli
from hourglass.cli import train as train_cli
from hourglass.data.noise import CORRUPTIONS
from hourglass.models.base import MAX_WEIGHTS
from hourglass.params import AUTOENCODER, DETECTOR, NOISE_HELP
from hourglass.schema import Maybe, OneOf

NAN, INF = math.nan, math.inf
# Values every parameter must refuse, by parameter: 0, -1, nan, inf, huge, the wrong type, an unknown name.
BAD: dict[str, list] = {
    "latent_dim": [0, -1, 2.5, NAN, INF, 10**6, "2", True, None],
    "hidden": [(0,), (-1,), (8.5,), (10**6,), (NAN,), "8", 8, (8,) * 100, [None], {"a": 1}],
    "model": ["unet", "", 3, None],
    "activation": ["swish", "", 1, None],
    "output_activation": ["softmax", None, 0],
    "scaling": ["log", None, 1],
    "loss": ["l1", None, 0],
    "epochs": [0, -1, 2.0, NAN, INF, 10**9, "5", True],
    "batch_size": [0, -1, 1.5, NAN, INF, 10**12, "128"],
    "lr": [0, -1, NAN, INF, -INF, "0.1", None, True],
    "weight_decay": [-1, NAN, INF, "0"],
    "validation_fraction": [1, -0.1, 1.5, NAN, INF, "0.1"],
    "patience": [-1, 1.5, NAN, INF, 10**12, "5"],
    "seed": [-1, 2**32, 1.5, NAN, "0", None],
    "device": ["mps", "gpu", "", 0, None],
    "verbose": ["yes", 2, None],
    "noise": ["", "gaussian", "gaussian:-1", "gaussian:nan", "gaussian:inf", "blur:0.1", "mask:2", 3],
    "beta": [-1, NAN, INF, "0.1"],
    "structure": ["umap", "", "Neighbors", 1],
    "n_neighbors": [0, -1, 2.5, NAN, 10**12, "15", None],
    "structure_weight": [-1, NAN, INF, "1", None],
    "n_members": [0, -1, 2.5, NAN, 10**5, "3"],
    "trim": [-0.1, 1, NAN, INF, "0.2"],
    "contamination": [0, -0.1, 0.6, NAN, INF, "most", None],
    "iforest": ["yes", 1, None],
}
# Unusual values that are fine: validation must not refuse them.
GOOD: dict[str, list] = {
    "latent_dim": [1, np.int64(3)],
    "hidden": [None, (), [4, 2], (np.int32(5),)],
    "validation_fraction": [0.0, 0.5],
    "seed": [0, 2**32 - 1],
    "device": ["cpu", "auto"],
    "noise": [None, "gaussian:0.3+mask:0.1"],
    "patience": [0],
    "weight_decay": [0, 1e-4],
    "contamination": ["auto", 0.5, 0.01],
    "trim": [0, 0.5],
    "structure": [None, "neighbors"],
    "n_neighbors": [1, np.int64(30)],
    "structure_weight": [0, 0.0, 100],
}
ESTIMATORS = {
    "autoencoder": lambda: hg.Autoencoder(),
    "vae": lambda: hg.Autoencoder(model="vae"),
    "detector": lambda: AnomalyDetector(),
}


class Untouchable:
    """Data that fails the test if fit so much as looks at it: parameters must be checked first."""

    def __getattribute__(self, name):
        raise AssertionError(f"fit touched the data ({name}) before checking its parameters")


def cases():
    for kind, make in ESTIMATORS.items():
        for name in make().get_params():
            for value in BAD[name]:
                yield pytest.param(kind, name, value, id=f"{kind}-{name}={value!r}"[:60])


@pytest.mark.parametrize(("kind", "name", "value"), list(cases()))
def test_every_bad_parameter_is_one_line_naming_it_before_the_data_is_read(kind, name, value):
    est = ESTIMATORS[kind]().set_params(**{name: value})
    with pytest.raises(HourglassError, match=rf"parameter {name}\b.* must be .*; got ") as info:
        est.fit(Untouchable())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_every_parameter_is_declared_and_tested_and_defaults_and_odd_good_values_pass(kind):
    est = ESTIMATORS[kind]()
    params = set(est.get_params())
    assert set(type(est)._parameter_specs) == params  # declared once, for every parameter
    assert params <= set(BAD)  # and each has bad values above
    est._validate_params()
    for name, values in GOOD.items():
        for value in values if name in params else []:
            ESTIMATORS[kind]().set_params(**{name: value})._validate_params()


def test_size_limits_name_their_bound_and_fail_before_any_allocation(table):
    with pytest.raises(HourglassError, match="n_members must be an integer in \\[1, 100\\]"):
        AnomalyDetector(n_members=100_000).fit(table)
    # Each width is allowed; together they would be ~17 billion weights.
    with pytest.raises(HourglassError, match=f"more than the limit of {MAX_WEIGHTS:,}"):
        hg.Autoencoder(hidden=(65_536, 65_536, 65_536, 65_536), epochs=1).fit(table)


def test_sample_checks_its_count_and_seed(small_model):
    for n in (0, -1, 2.5, 10**12):
        with pytest.raises(HourglassError, match="sample: n must be"):
            small_model.sample(n)
    with pytest.raises(HourglassError, match="sample: seed must be"):
        small_model.sample(2, seed=-1)


# ------------------------------------------------------------------- values entering the estimators
@pytest.fixture(scope="module")
def fitted():
    X = np.random.default_rng(0).normal(size=(120, 5))
    return hg.Autoencoder(hidden=(8,), epochs=2).fit(X), AnomalyDetector(hidden=(8,), epochs=2).fit(X)


BAD_VALUES = {
    "beyond float32": (1e39, "beyond the float32 range"),
    "NaN": (NAN, "NaN"),
    "inf": (-INF, "infinite"),
}


@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_non_finite_values_are_refused_wherever_data_enters(fitted, bad, tmp_path):
    value, message = BAD_VALUES[bad]
    ae, det = fitted
    X = np.zeros((4, 5))
    X[2, 3] = value
    on_disk = tmp_path / "x.npy"
    np.save(on_disk, X)
    for data in (X, np.load(on_disk, mmap_mode="r")):
        methods = [ae.transform, ae.reconstruct, ae.denoise, ae.score_samples, hg.Autoencoder(epochs=1).fit]
        methods += [det.score_samples, det.decision_function, det.predict, det.explain, AnomalyDetector().fit]
        for method in methods:
            with pytest.raises(HourglassError, match=rf"{message}.*row 2") as info:
                method(data)
            assert "diverged" not in str(info.value)
    with pytest.raises(HourglassError, match=message):
        ae.inverse_transform(np.array([[0.0, value]]))


def test_codes_beyond_float32_and_overflowing_results_are_refused_not_nan(fitted):
    ae, _ = fitted
    with pytest.raises(HourglassError, match="beyond the float32 range"):
        ae.inverse_transform(np.full((2, 2), 1e300))
    with pytest.raises(HourglassError, match="overflows float32"):
        ae.inverse_transform(np.full((2, 2), 3e38, np.float32))  # finite codes, decoded beyond float32


def test_values_whose_scaling_overflows_are_a_data_error_not_divergence():
    X = np.zeros((20, 2), np.float32)
    X[:10, 0], X[10:, 0] = 3e38, -3e38  # finite, but max - min is beyond float32
    with pytest.raises(HourglassError, match="too large to scale"):
        hg.Autoencoder(scaling="minmax", epochs=1).fit(X)


# ------------------------------------------------------------------ defaults (hourglass.params) and the CLI
COMMANDS = [
    pytest.param(hg.Autoencoder, AUTOENCODER, "train", train_cli.estimator_from, train_cli.FLAGS, id="train"),
    pytest.param(
        AnomalyDetector, DETECTOR, "fit-detector", fit_detector_cli.detector_from, fit_detector_cli.FLAGS, id="detector"
    ),
]


@pytest.mark.parametrize(("cls", "defaults", "command", "build", "flags"), COMMANDS)
def test_the_estimator_takes_every_default_from_params(cls, defaults, command, build, flags):
    signature = inspect.signature(cls.__init__).parameters
    assert {name: p.default for name, p in signature.items() if name != "self"} == dataclasses.asdict(defaults)


@pytest.mark.parametrize(("cls", "defaults", "command", "build", "flags"), COMMANDS)
def test_the_command_without_flags_builds_the_default_estimator(cls, defaults, command, build, flags):
    built = build(build_parser(command).parse_args([command, "data.npy"])).get_params()
    differs = {name: value for name, value in built.items() if value != getattr(defaults, name)}
    assert differs == ({"verbose": True} if command == "train" else {})  # train shows progress unless --quiet


@pytest.mark.parametrize(("cls", "defaults", "command", "build", "flags"), COMMANDS)
def test_every_flags_choices_are_what_its_parameter_accepts(cls, defaults, command, build, flags):
    """A flag whose --help lists choices lists exactly what the parameter's spec accepts."""
    parser = build_parser(command)._subparsers._group_actions[0].choices[command]
    checked = []
    for action in parser._actions:
        param = next((p for p, flag in flags.items() if flag in action.option_strings), None)
        if action.choices is None or param is None:
            continue
        spec = cls._parameter_specs[param]
        spec = spec.spec if isinstance(spec, Maybe) else spec
        assert isinstance(spec, OneOf) and set(action.choices) == set(spec.choices()), param
        checked.append(param)
    assert len(checked) == (3 if command == "train" else 0)  # --loss, --scaling, --structure


def test_train_checks_model_names_against_the_registry_when_parsing():
    with pytest.raises(HourglassError, match=r"invalid choice: 'unet' \(choose from 'auto', 'conv', 'mlp', 'vae'\)"):
        build_parser("train").parse_args(["train", "data.npy", "--model", "unet"])
    assert build_parser("train").parse_args(["train", "data.npy", "--model", "vae"]).model == "vae"


def test_the_noise_help_names_every_corruption():
    assert set(re.findall(r"(\w+):", NOISE_HELP)) == set(CORRUPTIONS)
