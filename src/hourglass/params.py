"""What a user can set: every estimator parameter, defined once, and the constants ``--help`` shows.

Each parameter is one ``Param`` row in its estimator's ``Table`` (``AUTOENCODER``, ``DETECTOR``): its name,
default, what it accepts (a ``hourglass.schema`` spec), a line of help and the command-line flag it comes from,
if any. The estimators take their ``__init__`` defaults (``AUTOENCODER.lr`` is the default of ``lr``) and their
parameter check (``check``) from here; ``hourglass train`` and ``fit-detector`` generate their flags from the
rows (``hourglass.cli.flags``). A new parameter is a row here, an argument in the estimator's ``__init__`` and
a line in its docstring.

This module imports only the standard library and the schema, so ``--help`` starts without torch: the two
checks that need a registry above this layer (the model names, the noise grammar) reach it through ``Late``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hourglass.errors import ParameterError
from hourglass.schema import Bool, Either, Int, Invalid, ListOf, Maybe, OneOf, Real, Satisfies, Spec

# Bounds on sizes, so that an absurd value fails at once with its limit instead of exhausting memory.
MAX_LATENT = 4096
MAX_WIDTH = 65_536
MAX_LAYERS = 32
MAX_MEMBERS = 100
# The names the networks and the loop implement (hourglass.models.base.ACTIVATIONS, OUTPUT_ACTIVATIONS,
# hourglass.training.train.LOSSES, hourglass.data.scaling.KINDS; tests/test_params.py holds them equal).
ACTIVATIONS = ("relu", "gelu", "silu", "elu", "tanh", "leaky_relu")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid")
LOSSES = ("mse", "bce")
SCALINGS = ("minmax", "standard", "none")
# What a ``device`` parameter may name (``hourglass.runtime.device.resolve_device`` says whether it is here).
DEVICE_PATTERN = r"auto|cpu|cuda(:\d{1,3})?"
DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
# The syntax of a noise spec (``hourglass.data.noise.parse_noise``), for its error messages and --help.
NOISE_HELP = "gaussian:SIGMA, saltpepper:P or mask:P, joined with + (e.g. gaussian:0.3+mask:0.1)"


class Late:
    """``module.function``, looked up when called: a check that needs a registry above this layer, whose module
    imports torch. Nothing is imported here; the estimators import the module before they check, and the
    command line does (``Param.needs``) before it checks such a flag."""

    def __init__(self, module: str, function: str) -> None:
        self.module, self.function = module, function

    def __call__(self, *args: Any) -> Any:
        loaded = sys.modules.get(self.module)
        if loaded is None:
            raise RuntimeError(f"{self.module}.{self.function} is needed for this check; import {self.module} first")
        return getattr(loaded, self.function)(*args)


MODELS = Late("hourglass.models", "available_models")
NOISE = Late("hourglass.data.noise", "parse_noise")

SEED = Int(0, 2**32 - 1)  # what numpy's and torch's generators accept
DEVICE = Satisfies(lambda d: re.fullmatch(DEVICE_PATTERN, d), "'auto', 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class Param:
    """One estimator parameter.

    ``flag``: the command-line option it comes from (``--latent``), or None when the command line does not set
    it; a bool's flag turns it to the opposite of its default (``--iforest``). ``metavar``: the flag's value
    as ``--help`` writes it. ``needs``: the module its check looks up (``Late``), imported before checking a flag.
    """

    name: str
    default: Any
    spec: Spec
    help: str
    flag: str | None = None
    metavar: str | None = None
    needs: str | None = None

    def but(self, **changes: Any) -> Param:
        """This parameter with other values (another estimator's default or help)."""
        return dataclasses.replace(self, **changes)


class Table:
    """An estimator's parameters, in its ``__init__``'s order: ``table["lr"]`` is a ``Param``, ``table.lr`` its
    default."""

    def __init__(self, owner: str, *params: Param) -> None:
        self.owner = owner  # the estimator's class name, which starts every message
        self.params = {p.name: p for p in params}

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params.values())

    def __getitem__(self, name: str) -> Param:
        return self.params[name]

    def __getattr__(self, name: str) -> Any:
        # Only names that are not attributes reach here; read __dict__ so that a copy being built (no params
        # yet) is answered with AttributeError instead of recursing.
        params = self.__dict__.get("params", {})
        if name not in params:
            raise AttributeError(f"{self.__dict__.get('owner')} has no parameter {name!r}")
        return params[name].default

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self}

    def specs(self) -> dict[str, Spec]:
        return {p.name: p.spec for p in self}


def check(table: Table, values: Mapping[str, Any]) -> None:
    """Check ``values`` (parameter name -> value) against the table; the first bad one is a ``ParameterError``
    naming the parameter: ``"Autoencoder: parameter lr must be > 0 and finite; got 0"``."""
    for name, value in values.items():
        try:
            table[name].spec.check(value, name)
        except Invalid as e:
            raise ParameterError(name, e.path, e.problem, f"{table.owner}: parameter {e.path} {e.problem}") from None


# ----------------------------------------------------------------------------------------- the tables
AUTOENCODER = Table(
    "Autoencoder",
    Param("latent_dim", 2, Int(1, MAX_LATENT), "code width", "--latent", "N"),
    Param(
        "hidden",
        None,
        Maybe(ListOf(Int(1, MAX_WIDTH), 0, MAX_LAYERS)),
        "encoder widths (conv: channels), e.g. 128,64; none: the model's own",
        "--hidden",
        "W,W",
    ),
    Param(
        "model",
        "auto",
        OneOf("auto", MODELS),
        "model family: auto (conv for images larger than 16x16, else mlp) or a registered model such as vae",
        "--model",
        "NAME",
        needs=MODELS.module,
    ),
    Param("activation", "gelu", OneOf(*ACTIVATIONS), "hidden activation", "--activation", "NAME"),
    Param("output_activation", "auto", OneOf("auto", *OUTPUT_ACTIVATIONS), "output activation"),
    Param(
        "scaling",
        "auto",
        OneOf("auto", *SCALINGS),
        "input scaling learnt from the data; auto picks by its kind",
        "--scaling",
        "NAME",
    ),
    Param("loss", "mse", OneOf(*LOSSES), "reconstruction loss; bce for data in [0, 1]", "--loss", "NAME"),
    Param("epochs", 200, Int(1, 1_000_000), "most epochs", "--epochs", "N"),
    Param("batch_size", 128, Int(1), "rows per step", "--batch-size", "N"),
    Param("lr", 1e-2, Real(0, open="lo"), "Adam learning rate", "--lr", "LR"),
    Param("weight_decay", 0.0, Real(0), "Adam's L2 penalty"),
    Param(
        "validation_fraction",
        0.1,
        Real(0, 1, open="hi"),
        "share of rows held out to stop early and pick the best epoch",
        "--validation",
        "SHARE",
    ),
    Param("patience", 10, Int(0), "epochs without progress before stopping early; 0 = never", "--patience", "N"),
    Param("seed", 0, SEED, "the same seed gives the same weights", "--seed", "N"),
    Param("device", "auto", DEVICE, "where to train; auto: CUDA when present", "--device", "NAME"),
    Param("verbose", False, Bool(), "show a progress bar"),
    Param(
        "noise",
        None,
        Maybe(Satisfies(NOISE, f"a noise spec: {NOISE_HELP}")),
        f"train a denoiser on corrupted inputs: {NOISE_HELP}",
        "--noise",
        "SPEC",
        needs=NOISE.module,
    ),
    Param("beta", 0.03, Real(0), "VAE: weight of the KL term", "--beta", "B"),
    Param(
        "structure",
        None,
        Maybe(OneOf("neighbors")),
        "neighbors: keep each row's nearest neighbors near in the code (UMAP's graph and loss)",
        "--structure",
        "neighbors",
    ),
    Param("n_neighbors", 15, Int(1), "with --structure neighbors: neighbors per row", "--neighbors", "K"),
    Param(
        "structure_weight",
        1.0,
        Real(0),
        "with --structure neighbors: weight of the neighbor term",
        "--structure-weight",
        "W",
    ),
    Param(
        "placement",
        None,
        Maybe(OneOf("neighbors")),
        "with --structure neighbors: place new rows by their nearest training rows, as UMAP's transform "
        "(the model keeps its training rows); default: the encoder",
        "--placement",
        "neighbors",
    ),
)

_ae = AUTOENCODER
DETECTOR = Table(
    "AnomalyDetector",
    _ae["latent_dim"].but(default=4, help="code width per member"),
    _ae["hidden"].but(default=(32,), help="encoder widths of each member, e.g. 32 or 64,32"),
    Param("n_members", 3, Int(1, MAX_MEMBERS), "ensemble size", "--members", "N"),
    Param("trim", 0.2, Real(0, 1, open="hi"), "share of worst rows ignored per batch", "--trim", "SHARE"),
    Param(
        "contamination",
        "auto",
        Either(OneOf("auto"), Real(0, 0.5, open="lo")),
        "expected anomaly share in DATA, or auto: flag the worst 1% of training rows",
        "--contamination",
        "SHARE",
    ),
    Param(
        "iforest",
        False,
        Bool(),
        "add an isolation forest's term to the score",
        "--iforest",
    ),
    Param(
        "knn_weight",
        1.5,
        Real(0),
        "weight of the nearest-neighbour term (mean distance to the nearest training rows); 0 leaves it out",
        "--knn-weight",
        "W",
    ),
    _ae["activation"].but(default="relu", flag=None),
    _ae["scaling"].but(flag=None),
    _ae["epochs"].but(default=30),
    _ae["batch_size"].but(flag=None),
    _ae["lr"].but(default=3e-3, flag=None),
    _ae["weight_decay"],
    _ae["noise"].but(flag=None),
    _ae["validation_fraction"].but(flag=None),
    _ae["patience"].but(default=5, flag=None),
    _ae["seed"].but(help="the same seed gives the same detector"),
    _ae["device"],
    _ae["verbose"],
)

# ------------------------------------------------------------------------ other constants --help shows
# The figures' file names, one list for `hourglass plot` (its figure names are the keys) and the demo's
# report (which also keeps the loss curve in its model folder), so the same figure has one name.
FIGURE_FILES = {
    "loss": "loss_curve.png",
    "reconstructions": "reconstructions.png",
    "latent": "latent_map.png",
    "manifold": "manifold.png",
}
# Dots on the explorer's map; more data is subsampled (fixed seed) so the page stays small and fast.
MAX_POINTS = 20_000
# The interpolation walk's paths (``hourglass.viz.interpolate.PATHS``): straight line, great circle.
WALK_PATHS = ("linear", "spherical")
