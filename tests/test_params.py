"""Parameters and values at the edge: every bad parameter fails first, in one line naming it; data
that is not finite in float32 (the precision the model computes in) is refused wherever it enters."""

from __future__ import annotations

import argparse
import ast
import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest

import hourglass as hg
from hourglass import HourglassError
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import build_parser
from hourglass.cli import fit_detector as fit_detector_cli
from hourglass.cli import train as train_cli
from hourglass.cli.flags import add_estimator_flags, shown
from hourglass.data.noise import CORRUPTIONS
from hourglass.errors import ParameterError
from hourglass.models.base import MAX_WEIGHTS
from hourglass.params import AUTOENCODER, DETECTOR, NOISE_HELP, Table, check
from hourglass.schema import Bool, Maybe

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
    "placement": ["umap", "", "Neighbors", 1],
    "n_members": [0, -1, 2.5, NAN, 10**5, "3"],
    "trim": [-0.1, 1, NAN, INF, "0.2"],
    "contamination": [0, -0.1, 0.6, NAN, INF, "most", None],
    "iforest": ["yes", 1, None],
    "knn_weight": [-1, NAN, INF, "1.5", None],
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
    "placement": [None, "neighbors"],
}
ESTIMATORS = {
    "autoencoder": lambda: hg.Autoencoder(),
    "vae": lambda: hg.Autoencoder(model="vae"),
    "detector": lambda: AnomalyDetector(),
}
TABLES = {"autoencoder": AUTOENCODER, "vae": AUTOENCODER, "detector": DETECTOR}


class Untouchable:
    """Data that fails the test if fit so much as looks at it: parameters must be checked first."""

    def __getattribute__(self, name):
        raise AssertionError(f"fit touched the data ({name}) before checking its parameters")


def cases():
    for kind in ("autoencoder", "detector"):  # a VAE is an Autoencoder: the same table, the same check
        for name in ESTIMATORS[kind]().get_params():
            for value in BAD.get(name, []):  # a parameter without bad values fails the test below
                yield pytest.param(kind, name, value, id=f"{kind}-{name}={value!r}"[:60])


@pytest.mark.parametrize(("kind", "name", "value"), list(cases()))
def test_every_bad_parameter_is_one_line_naming_it_before_the_data_is_read(kind, name, value):
    est = ESTIMATORS[kind]().set_params(**{name: value})
    with pytest.raises(ParameterError, match=rf"parameter {name}\b.* must be .*; got ") as info:
        est.fit(Untouchable())
    assert "\n" not in str(info.value)
    assert info.value.name == name and info.value.path.startswith(name)  # what the command line names the flag by


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_every_parameter_is_declared_and_tested_and_defaults_and_odd_good_values_pass(kind):
    est = ESTIMATORS[kind]()
    params = set(est.get_params())
    assert type(est)._parameter_specs == TABLES[kind].specs()  # declared once, in the table
    assert params <= set(BAD), f"give bad values for {params - set(BAD)} in BAD above"
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


# ---------------------------------------------------------------- the parameter tables (hourglass.params)
COMMANDS = [
    pytest.param(hg.Autoencoder, AUTOENCODER, "train", train_cli.estimator_from, id="train"),
    pytest.param(AnomalyDetector, DETECTOR, "fit-detector", fit_detector_cli.detector_from, id="detector"),
]
ROOT = Path(__file__).parents[1]


def command_parser(command: str) -> argparse.ArgumentParser:
    return build_parser(command)._subparsers._group_actions[0].choices[command]


@pytest.mark.parametrize(("cls", "table", "command", "build"), COMMANDS)
def test_the_estimator_takes_its_parameters_and_defaults_from_the_table(cls, table, command, build):
    signature = inspect.signature(cls.__init__).parameters
    assert {name: p.default for name, p in signature.items() if name != "self"} == table.defaults()
    assert list(signature)[1:] == list(table.params)  # in the table's order


@pytest.mark.parametrize(("cls", "table", "command", "build"), COMMANDS)
def test_the_docstring_says_each_default_the_table_holds(cls, table, command, build):
    said = dict(re.findall(r"^(\w+) : .*, default (.+)$", inspect.getdoc(cls), re.M))
    assert set(said) == set(table.params)
    assert {name: ast.literal_eval(text) for name, text in said.items()} == table.defaults()


@pytest.mark.parametrize(("cls", "table", "command", "build"), COMMANDS)
def test_the_command_without_flags_builds_the_default_estimator(cls, table, command, build):
    built = build(build_parser(command).parse_args([command, "data.npy"])).get_params()
    differs = {name: value for name, value in built.items() if value != table[name].default}
    assert differs == ({"verbose": True} if command == "train" else {})  # train shows progress unless --quiet


@pytest.mark.parametrize(("cls", "table", "command", "build"), COMMANDS)
def test_the_commands_estimator_flags_are_generated_from_the_table(cls, table, command, build):
    """A parser built from the table alone holds exactly the command's estimator flags, each with the same
    destination, default, type and help; --help shows every one with its default and what it accepts."""
    generated = argparse.ArgumentParser()
    add_estimator_flags(generated, table)
    ours = {a.option_strings[0]: a for a in generated._actions if a.dest != "help"}
    theirs = {a.option_strings[0]: a for a in command_parser(command)._actions if a.option_strings}
    assert set(ours) == {p.flag for p in table if p.flag} and set(ours) <= set(theirs)
    # the command's other options (data, output, checkpoint, progress) set no estimator parameter
    assert not {a.dest for flag, a in theirs.items() if flag not in ours} & set(table.params)
    for flag, action in ours.items():
        other = theirs[flag]
        assert (other.dest, other.default, other.help, other.metavar, other.nargs, type(other)) == (
            action.dest,
            action.default,
            action.help,
            action.metavar,
            action.nargs,
            type(action),
        ), flag
    parser = command_parser(command)
    # one line per option, so that no phrase is wrapped apart
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, max_help_position=60, width=10_000)
    helped = parser.format_help()
    for param in table:
        if param.flag is None:
            continue
        line = next(line for line in helped.splitlines() if line.strip().startswith(param.flag))
        spec = param.spec.spec if isinstance(param.spec, Maybe) else param.spec
        if isinstance(spec, Bool):
            assert f"(default: {'on' if param.default else 'off'};" in line, line
            continue
        assert line.rstrip().endswith(f"default: {shown(param.default)})"), line
        assert param.needs or str(spec) in line, line  # a registry's names would need torch to list


def test_the_flags_answer_in_the_specs_words_naming_the_flag():
    parse = command_parser("train").parse_args
    cases = {
        "--latent 0": "argument --latent: must be an integer in [1, 4,096]; got '0'",
        "--hidden 8,0": "argument --hidden: [1] must be an integer in [1, 65,536]; got '8,0'",
        "--lr nan": "argument --lr: must be > 0 and finite; got 'nan'",
        "--activation swish": "argument --activation: must be one of 'relu', 'gelu', 'silu', 'elu', 'tanh', "
        "'leaky_relu'; got 'swish'",
        "--model unet": "argument --model: must be one of 'auto', 'conv', 'mlp', 'vae'; got 'unet'",
        "--structure umap": "argument --structure: must be one of 'neighbors'; got 'umap'",
    }
    for args, said in cases.items():
        with pytest.raises(HourglassError) as info:
            parse(["data.npy", *args.split()])
        assert str(info.value).startswith(said), str(info.value)
    args = parse(["data.npy", "--hidden", "64,32", "--model", "vae", "--noise", "mask:0.1", "--structure", "neighbors"])
    assert (args.hidden, args.model, args.noise, args.structure) == ((64, 32), "vae", "mask:0.1", "neighbors")
    detector = command_parser("fit-detector").parse_args(["d.npy", "--contamination", "0.05", "--iforest"])
    assert (detector.contamination, detector.iforest, detector.knn_weight) == (0.05, True, 1.5)


def test_check_raises_a_parameter_error_naming_the_parameter_and_where_in_its_value():
    with pytest.raises(ParameterError) as info:
        check(AUTOENCODER, {"latent_dim": 2, "hidden": (8, 0)})
    e = info.value
    assert (e.name, e.path, e.problem) == ("hidden", "hidden[1]", "must be an integer in [1, 65,536]; got 0")
    assert str(e) == "Autoencoder: parameter hidden[1] must be an integer in [1, 65,536]; got 0"
    check(DETECTOR, DETECTOR.defaults())
    assert isinstance(DETECTOR, Table) and DETECTOR.lr == DETECTOR["lr"].default == 3e-3


def test_the_tables_names_are_those_the_networks_the_loop_and_the_scaler_implement():
    from hourglass import params
    from hourglass.data.scaling import KINDS
    from hourglass.models import available_models
    from hourglass.models.base import ACTIVATIONS, OUTPUT_ACTIVATIONS
    from hourglass.training import state

    assert tuple(ACTIVATIONS) == params.ACTIVATIONS and tuple(OUTPUT_ACTIVATIONS) == params.OUTPUT_ACTIVATIONS
    assert tuple(state.LOSSES) == params.LOSSES and tuple(KINDS) == params.SCALINGS
    assert params.MODELS() == available_models()


def test_the_model_classes_defaults_do_not_contradict_the_tables():
    from hourglass.models import model_class

    for name, table in [("mlp", AUTOENCODER), ("conv", AUTOENCODER), ("vae", AUTOENCODER), ("mlp-ensemble", DETECTOR)]:
        signature = inspect.signature(model_class(name).__init__).parameters
        for arg, p in signature.items():
            # hidden: the model's own widths stand for the table's None; output_activation's "auto" is resolved
            # by the estimator, which passes the model its choice
            if arg in table.params and p.default is not p.empty and arg not in ("hidden", "output_activation"):
                assert p.default == table[arg].default, (name, arg)
        assert name != "mlp-ensemble" or signature["hidden"].default == DETECTOR.hidden


def test_the_docs_state_the_tables_defaults():
    """Where the README or a guide says a default (``[--neighbors 15]``, ``(2 by default``, ``(default 0.03``,
    or a comment listing ``name=value`` after a call), it is the table's."""
    from hourglass.cli.flags import from_text

    said = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = page.read_text()
        said += re.findall(r"\[(--[\w-]+) ([^\]\s]+)\]", text)
        said += re.findall(r"`(--[\w-]+)[^`]*` \(default ([^,;)\s]+)", text)
        said += re.findall(r"`(--[\w-]+)[^`]*` sets [^(]*\((\S+) by default", text)
        for comment in re.findall(r"Autoencoder\([^\n]*\)[^\n]*# ([^\n]+)", text):
            said += [(name, value) for name, value in re.findall(r"\b(\w+)=([\w.]+)", comment)]
    checked = 0
    for key, text in said:
        param = next((p for p in AUTOENCODER if key in (p.flag, p.name)), None)
        if param is not None:
            assert from_text(param.spec, text) == param.default, (key, text)
            checked += 1
    assert checked >= 5


def test_the_noise_help_names_every_corruption():
    assert set(re.findall(r"(\w+):", NOISE_HELP)) == set(CORRUPTIONS)
