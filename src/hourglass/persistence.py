"""An estimator to and from its model folder: ``config.json`` (parameters, data facts, training summary, and a
detector's own numbers under ``fitted``) plus ``model.safetensors`` (the network, the scaling, the code prior,
and a detector's terms: its forest under ``forest.``, its nearest-neighbour rows under ``knn.``). The files
themselves are ``hourglass.storage``'s; which class a folder names is ``hourglass.registry``'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from hourglass.errors import HourglassError
from hourglass.inference import InferenceModel
from hourglass.schema import OneOf, validate
from hourglass.storage import modelfile
from hourglass.storage.folder import config_schema
from hourglass.training import distributed
from hourglass.training.prior import Prior
from hourglass.training.state import History

# The estimators (``hourglass.estimator._Estimator``'s subclasses) are named by their scikit-learn base here:
# the estimator module imports this one.
E = TypeVar("E", bound=BaseEstimator)


def save(estimator: Any, path: str | os.PathLike, extra_files: dict[str, bytes] | None = None) -> Path:
    """Write ``estimator``'s folder atomically (see ``_Estimator.save``); refuse first what ``load`` would refuse."""
    check_is_fitted(estimator)
    if not distributed.is_main():
        return Path(path)
    from hourglass import __version__

    runner = estimator.runner_
    config = {
        "hourglass_version": __version__,
        "estimator": type(estimator).__name__,
        "params": estimator.get_params(),
        "model": {"name": runner.model_.name, "config": runner.model_.config()},
        "data": {
            "n_features": runner.n_features_in_,
            "sample_shape": list(runner.sample_shape_),
            "kind": runner.kind_,
            "scaling": runner.scaler_.kind,
            "feature_names": [str(f) for f in getattr(estimator, "feature_names_in_", [])] or None,
            # Where the training data came from and how it was read (a Dataset given to fit says), so that
            # commands default to that data (explore, serve) and read new data alike.
            "source": runner.data_source_,
            "options": runner.data_options_,
        },
        "training": estimator.history_.summary(),
    }
    arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in runner.model_.state_dict().items()}
    arrays |= runner.scaler_.arrays()
    if runner.placement is not None:  # an Autoencoder's kept training rows and their places
        arrays |= runner.placement.to_arrays()
    prior = getattr(estimator, "prior_", None)
    if prior is not None:
        arrays |= prior.to_arrays()
    fitted, state = estimator._fitted_state()
    if fitted is not None:
        config["fitted"] = fitted
    arrays |= state  # named under the estimator's _state_prefixes
    _check_loadable(type(estimator), config, arrays, Path(path))
    return modelfile.save_folder(path, config, arrays, extra_files)


def _check_loadable(cls: type[Any], config: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    """Refuse, before ``path`` is touched, a folder that ``load`` would refuse: run load's own checks on what
    would be written. A parameter changed after ``fit`` (``set_params(latent_dim=7)``) no longer describes
    the fitted network; saving it would replace a good model with one that cannot load."""
    try:
        read_estimator(cls, modelfile.as_loaded(config), arrays, path)
    except HourglassError as e:
        problem = str(e).removeprefix(f"{path / modelfile.CONFIG}: ").removeprefix(f"{path}: ")
        raise HourglassError(
            f"{path}: not saved, as it could not be loaded ({problem}); set the parameter back to its "
            "value at fit (set_params), or refit"
        ) from None


def load(path: str | os.PathLike, estimators: dict[str, type[E]]) -> E:
    """The folder's estimator, of the class among ``estimators`` its config names, checked completely first."""
    config, arrays = modelfile.load_folder(path)
    validate(config.get("estimator"), OneOf(*estimators), str(Path(path) / modelfile.CONFIG), "estimator")
    return read_estimator(estimators[config["estimator"]], config, arrays, Path(path))


def schema(cls: type[Any]) -> dict[str, Any]:
    """What ``save`` writes into config.json for ``cls``, field by field."""
    fitted = cls._fitted_schema()
    full = config_schema(OneOf(cls.__name__), dict(cls._parameter_specs), fitted)
    if fitted is not None:  # what a class saves beside the network, its folders hold
        full["fitted"] = fitted
    return full


def read_estimator(cls: type[E], config: dict[str, Any], arrays: dict[str, np.ndarray], source: Path) -> E:
    """Check the whole folder - every field, then every tensor against the model the config
    describes - before any of it is used; each problem is one HourglassError naming file and field."""
    validate(config, schema(cls), str(source / modelfile.CONFIG))
    params = dict(config["params"])
    if params.get("hidden") is not None:
        params["hidden"] = tuple(params["hidden"])
    estimator = cls(**params)
    prefixes = cls._state_prefixes
    prior = {k: v for k, v in arrays.items() if k.startswith("prior.")}
    own = {k: v for k, v in arrays.items() if prefixes and k.startswith(prefixes)}
    rest = {k: v for k, v in arrays.items() if k not in prior and k not in own}
    runner = InferenceModel.from_config(config, rest, source, estimator.device)
    estimator.runner_ = runner
    estimator.n_features_in_ = runner.n_features_in_
    if runner.feature_names_in_ is not None:
        estimator.feature_names_in_ = runner.feature_names_in_
    estimator.history_ = _history_from(config.get("training", {}))
    where = str(source / modelfile.WEIGHTS)
    estimator.prior_ = Prior.from_arrays(prior, latent_dim=runner.latent_dim, where=where) if prior else None
    estimator._restore_fitted(config, own, source)
    return estimator


def _history_from(summary: dict[str, Any]) -> History:
    return History(
        train=list(summary.get("train_loss", [])),
        val=list(summary.get("val_loss", [])),
        parts=dict(summary.get("loss_parts", {})),
        best_epoch=int(summary.get("best_epoch", 0)),
        stopped_early=bool(summary.get("stopped_early", False)),
        seconds=float(summary.get("seconds", 0.0)),
        held_out=dict(summary.get("held_out", {})),
        warnings=list(summary.get("warnings", [])),
    )
