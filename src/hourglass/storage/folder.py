"""What a model folder's config.json holds, checked, and the network and input scaling it describes.

``modelfile`` reads the files (no torch); this checks what they say: the config against its schema, the fields
that must agree with each other, and every tensor of the network and the scaling against the architecture the
config names. The estimators' ``load`` and ``hourglass.inference`` both check a folder here, so a fault in either
is the same one-line error.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hourglass.data.scaling import KINDS as SCALINGS
from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models import build_model, check_config
from hourglass.models.base import Hourglass
from hourglass.schema import (
    Bool,
    Int,
    ListOf,
    MapOf,
    Maybe,
    Obj,
    Omittable,
    OneOf,
    Real,
    Satisfies,
    Spec,
    Text,
)
from hourglass.storage import modelfile

NETWORK_ARRAYS = ("model.", "scaler.")  # the prefixes of the network's and the scaling's tensors


def config_schema(
    estimator: Spec, params: Spec | dict[str, Any], fitted: Spec | dict[str, Any] | None
) -> dict[str, Any]:
    """What ``save`` writes into config.json, field by field, around what only the estimator knows.

    Parameters
    ----------
    estimator : Spec
        The ``estimator`` field: the class names accepted.
    params : Spec or dict
        The estimator's parameters (a field each, by the estimator's own table).
    fitted : Spec or dict or None
        What the estimator learnt beside the network (an optional ``fitted`` field); None: no such field.

    Returns
    -------
    dict
        A schema for ``hourglass.schema.validate``.
    """
    losses = ListOf(Real(finite=False))  # as measured; a NaN validation loss is a fact of that run
    return {
        "format": OneOf(modelfile.FORMAT),
        "format_version": Int(1, modelfile.FORMAT_VERSION),
        "hourglass_version": Text(64),
        "estimator": estimator,
        "params": params,
        "model": {"name": Text(64), "config": Satisfies(lambda c: isinstance(c, dict), "an object")},
        "data": {
            "n_features": Int(1),
            "sample_shape": ListOf(Int(1), 1, 16),
            "kind": OneOf("image", "table"),
            "scaling": OneOf(*SCALINGS),
            "feature_names": Maybe(ListOf(Text(), 1)),
            "source": Maybe(Text()),
            # How the CLI read the training data, for commands to read new data alike (``cli.reading``).
            "options": Omittable(
                Maybe(
                    Obj(
                        {
                            "label": Omittable(Maybe(Text())),
                            "image_size": Omittable(Maybe(ListOf(Int(1), 2, 2))),
                            "color": Omittable(Maybe(OneOf("gray", "rgb"))),
                            "drop_nonfinite": Omittable(Bool()),
                            "max_pixels": Omittable(Maybe(Int(1))),
                        }
                    )
                )
            ),
        },
        "training": Omittable(
            {
                "epochs_run": Int(0),
                "best_epoch": Int(0),
                "stopped_early": Bool(),
                "seconds": Real(0),
                "train_loss": losses,
                "val_loss": losses,
                "loss_parts": MapOf(losses),
                # The final weights against predicting the mean and PCA (``training.baselines``).
                "held_out": {
                    "mse": Real(0, finite=False),
                    "mean_mse": Real(0, finite=False),
                    "pca_mse": Real(0, finite=False),
                    "pca_width": Int(0),
                    "rows": Int(1),
                    "validation": Bool(),
                },
                "warnings": ListOf(Text(), 0, 16),
            }
        ),
    } | ({"fitted": Omittable(fitted)} if fitted is not None else {})


def check_consistent(config: dict[str, Any], where: Path) -> None:
    """What the schema cannot see field by field: the fields that must agree with each other."""
    data, model, params = config["data"], config["model"], config["params"]
    check_config(model["name"], model["config"], str(where))
    arch = model["config"]
    shape = data["sample_shape"]
    problems = {
        "data.sample_shape": (
            math.prod(shape) != data["n_features"],
            f"holds {math.prod(shape)} values, not data.n_features",
        ),
        "data.kind": (
            (data["kind"] == "image") != (len(shape) > 1),
            f"{data['kind']!r} does not fit sample shape {shape}",
        ),
        "data.feature_names": (
            data.get("feature_names") is not None and len(data["feature_names"]) != data["n_features"],
            "must name every feature (data.n_features)",
        ),
        "model.config.n_features": (arch["n_features"] != data["n_features"], "differs from data.n_features"),
        "model.config.sample_shape": (arch.get("sample_shape", shape) != shape, "differs from data.sample_shape"),
    }
    for key in ("latent_dim", "hidden", "activation", "n_members", "trim"):
        mine = params.get(key)
        if mine is not None and key in arch:
            problems[f"params.{key}"] = (
                (list(mine) if isinstance(mine, (list, tuple)) else mine) != arch[key],
                f"differs from model.config.{key}",
            )
    if params.get("model", "auto") not in ("auto", model["name"]):
        problems["params.model"] = True, "differs from model.name"
    training = config.get("training")
    if training:
        epochs = len(training["train_loss"])
        parts_ok = all(len(v) == epochs for v in training["loss_parts"].values())
        problems |= {
            "training.epochs_run": (training["epochs_run"] != epochs, "differs from the length of training.train_loss"),
            "training.best_epoch": (
                training["best_epoch"] > epochs or (epochs and training["best_epoch"] < 1),
                "is not one of the epochs run",
            ),
            "training.val_loss": (len(training["val_loss"]) not in (0, epochs), "has not one value per epoch"),
            "training.loss_parts": (not parts_ok, "has not one value per epoch"),
        }
    for field, (bad, problem) in problems.items():
        if bad:
            raise HourglassError(f"{where}: model files do not match ({field} {problem})")


def read_network(
    config: dict[str, Any], arrays: dict[str, np.ndarray], source: Path, clipped: bool
) -> tuple[Hourglass, Scaler]:
    """The network (on the CPU, its weights loaded) and the input scaling that a config describes.

    Parameters
    ----------
    config : dict
        config.json, already checked against ``config_schema``.
    arrays : dict of str to np.ndarray
        The tensors of model.safetensors that belong to the network and the scaling: those under
        ``NETWORK_ARRAYS``, and any others the estimator does not claim (they are refused as unexpected).
    source : Path
        The folder, for messages.
    clipped : bool
        Whether the estimator's scaling clips its inputs: it then holds the training range (``scaler.low``,
        ``scaler.high``), else it must not.

    Returns
    -------
    (Hourglass, Scaler)

    Raises
    ------
    HourglassError
        Fields that disagree, a model config its class refuses, a tensor missing, unexpected, of the wrong shape
        or dtype, or not finite, or a scale that is not positive.
    """
    where = source / modelfile.CONFIG
    check_consistent(config, where)
    data, spec = config["data"], config["model"]
    try:
        network = build_model(spec["name"], **spec["config"])
    except HourglassError as e:
        raise HourglassError(f"{where}: model.config: {e}") from None
    weights = source / modelfile.WEIGHTS
    expected = {f"model.{k}": v.detach().numpy() for k, v in network.state_dict().items()}
    scaler_keys = ["scaler.offset", "scaler.scale", *(["scaler.low", "scaler.high"] if clipped else [])]
    expected |= {key: np.zeros(data["n_features"], np.float32) for key in scaler_keys}
    modelfile.check_arrays(arrays, expected, weights)
    if np.any(arrays["scaler.scale"] <= 0):
        raise HourglassError(f"{weights}: tensor 'scaler.scale' must be positive")
    scaler = Scaler.from_arrays(data["scaling"], arrays)
    state = {k[len("model.") :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("model.")}
    network.load_state_dict(state)
    return network, scaler
