"""The steps both estimators' ``fit`` take, as plain functions called in order: read the training rows once,
fit the input scaling, build and train the network, fit the code prior.

Each estimator's ``fit`` reads top to bottom as those calls with its own choices between them (which
network, which loss, whether inputs are clipped); nothing here calls back into the estimator.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from hourglass.data.dataset import Dataset
from hourglass.data.inputs import check_columns, model_input
from hourglass.data.noise import parse_noise
from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.inference import InferenceModel
from hourglass.models import build_model, model_class
from hourglass.runtime.device import CPU_THREADS, exact_cuda, resolve_device, torch_threads
from hourglass.runtime.forward import check_finite
from hourglass.training import distributed
from hourglass.training.baselines import verdict
from hourglass.training.batches import held_out_rows
from hourglass.training.neighbors import Structure
from hourglass.training.placement import Placement
from hourglass.training.prior import MAX_FIT_ROWS, Prior, fit_prior
from hourglass.training.refit import refit_decoder
from hourglass.training.state import History, TrainConfig, seed_torch
from hourglass.training.train import fit as train_loop


@dataclass
class TrainingRows:
    """What ``fit`` was given, read and checked once: the rows as a 2-D array (a memory map stays one) and
    the facts the network and the model folder need about them."""

    flat: np.ndarray
    kind: str  # "image" (an array of ndim > 2) or "table"
    sample_shape: tuple[int, ...]
    images: bool  # images or uint8 pixels: scaled by one global range under scaling="auto"
    source: str | None  # where a Dataset said the rows came from, and how they were read
    options: dict | None


def training_rows(estimator: BaseEstimator, X: Any) -> TrainingRows:
    """Check ``X`` for fitting and set scikit-learn's ``n_features_in_`` (and ``feature_names_in_``, for a
    named table) on ``estimator``. A ``Dataset`` brings its source and read options, which the model saves."""
    source = options = None
    if isinstance(X, Dataset):
        source, options = X.source, X.options
        X = model_input(X)
    pixels = getattr(X, "dtype", None) == np.uint8
    if isinstance(X, np.memmap):  # stay on disk: never copy data larger than RAM
        if X.ndim < 2 or X.shape[0] == 0 or X.dtype.kind not in "biuf":
            raise HourglassError(f"need a non-empty 2-D array of numbers; got shape {X.shape}, dtype {X.dtype}")
        flat = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
        shape = tuple(int(s) for s in X.shape[1:])
        estimator.n_features_in_ = flat.shape[1]
        estimator.__dict__.pop("feature_names_in_", None)
    else:
        check_columns(X)  # a DataFrame's dates: one line naming them, not numpy's DTypePromotionError
        images = isinstance(X, np.ndarray) and X.ndim > 2
        shape = tuple(int(s) for s in X.shape[1:]) if images else ()
        if images:
            X = X.reshape(X.shape[0], -1)
        flat = checked_array(estimator, X, reset=True)
        shape = shape or (flat.shape[1],)
    check_finite(flat)
    kind = "image" if len(shape) > 1 else "table"
    return TrainingRows(flat, kind, shape, pixels or kind == "image", source, options)


def checked_array(estimator: BaseEstimator, X: Any, reset: bool) -> np.ndarray:
    """scikit-learn's conversion of a table (a DataFrame, lists ...) to float rows, with its check of column
    names and count; its messages made one-line user errors. Finiteness is the runner's to check, in float32."""
    try:
        with warnings.catch_warnings():
            # A plain array is read by position; names are checked whenever a table brings them.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return validate_data(estimator, X, reset=reset, dtype=(np.float32, np.float64), ensure_all_finite=False)
    except ValueError as e:  # sklearn's messages are clear; make them one-line user errors
        raise HourglassError(" ".join(str(e).split())) from None


def fit_scaler(rows: TrainingRows, kind: str, clip: bool) -> Scaler:
    """The input scaling learnt from the rows (``"auto"`` is resolved from the data, see ``Scaler.fit``)."""
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing spread is reported just below, in words
        scaler = Scaler.fit(rows.flat, kind, images=rows.images, clip=clip)
    if not (np.isfinite(scaler.offset).all() and np.isfinite(scaler.scale).all()):
        raise HourglassError(
            "X: values too large to scale (their spread overflows float32, beyond 3.4e38); rescale the data"
        )
    return scaler


def default_output(scaling: str) -> str:
    """The output activation that suits the scaling: a sigmoid for data min-max scaled into [0, 1]."""
    return "sigmoid" if scaling == "minmax" else "identity"


def network_config(
    name: str, rows: TrainingRows, estimator: Any, output_activation: str, offered: dict[str, Any]
) -> dict[str, Any]:
    """The network's constructor arguments: the widths and activations every estimator has, and of the facts
    ``offered``, those the model class says it ``needs`` (a conv model its sample shape, a VAE its beta)."""
    config = {
        "n_features": int(rows.flat.shape[1]),
        "latent_dim": int(estimator.latent_dim),
        "activation": estimator.activation,
        "output_activation": output_activation,
    }
    if estimator.hidden is not None:
        config["hidden"] = [int(h) for h in estimator.hidden]
    offered = {"sample_shape": list(rows.sample_shape)} | offered
    return config | {key: offered[key] for key in model_class(name).needs}


def train_config(estimator: Any, loss: str, structure: Structure | None) -> TrainConfig:
    """The loop's settings from the parameters every estimator has, with its own loss and structure."""
    return TrainConfig(
        epochs=int(estimator.epochs),
        batch_size=int(estimator.batch_size),
        lr=float(estimator.lr),
        weight_decay=float(estimator.weight_decay),
        validation_fraction=float(estimator.validation_fraction),
        patience=int(estimator.patience),
        loss=loss,
        seed=int(estimator.seed),
        verbose=bool(estimator.verbose),
        corrupt=parse_noise(estimator.noise) if estimator.noise is not None else None,
        noise=estimator.noise,
        structure=structure,
    )


def train_network(
    estimator: BaseEstimator,
    rows: TrainingRows,
    scaler: Scaler,
    name: str,
    config: dict[str, Any],
    settings: TrainConfig,
    checkpoint_dir: str | os.PathLike | None,
    resume: bool,
) -> tuple[InferenceModel, History]:
    """Build the network ``name`` from ``config``, train it on the rows, and hand it back in its runner."""
    device = distributed.setup(resolve_device(estimator.device))  # under torchrun, this rank's GPU
    # Seeding touches torch's global generators (a VAE's sampling noise draws from them): those of the
    # CPU and of the GPU trained on, which fork_rng puts back as they were.
    gpu = [device] if device.type == "cuda" else []
    threads = torch_threads(CPU_THREADS if device.type == "cpu" else None)
    with threads, exact_cuda(device), torch.random.fork_rng(devices=gpu):
        seed_torch(settings.seed, device)
        network = build_model(name, **config)
        # Scaling is affine, so the scaled data's mean is its mean scaled (no scaled copy of X).
        network.start_at(scaler.transform(np.asarray(rows.flat.mean(axis=0, keepdims=True)))[0])
        history = train_loop(network, rows.flat, scaler, settings, device, checkpoint_dir, resume)
    runner = InferenceModel(
        model_=network,
        scaler_=scaler,
        kind_=rows.kind,
        sample_shape_=rows.sample_shape,
        n_features_in_=int(rows.flat.shape[1]),
        estimator=type(estimator).__name__,
        feature_names_in_=getattr(estimator, "feature_names_in_", None),
        data_source_=rows.source,
        data_options_=rows.options,
    )
    for warning in history.warnings:  # a dead model must not pass for a trained one
        warnings.warn(warning, UserWarning, stacklevel=3)
    return runner, history


def fit_placement(
    runner: InferenceModel, structure: Structure, settings: TrainConfig, n_neighbors: int, history: History
) -> Placement:
    """The rows ``fit`` was given and their places, kept for ``placement="neighbors"``, with the decoder refit to
    read places (``hourglass.training.refit``) on the training rows' (the held-out rows stay held out). The
    history's held-out error becomes that of the held-out rows' places decoded: what the model now does."""
    rows, places, spread = structure.laid_out
    held, trained = held_out_rows(len(rows), settings.validation_fraction, settings.seed)
    model = runner.model_
    device = next(model.parameters()).device
    with torch_threads(CPU_THREADS if device.type == "cpu" else None):
        refit_decoder(model, places[trained], rows[trained], settings.loss, settings.seed)
        if len(held):
            with torch.no_grad():
                rebuilt = model.decode(torch.from_numpy(places[held]).to(device)).reshape(len(held), -1).cpu()
            history.held_out["mse"] = float((rebuilt.double() - torch.from_numpy(rows[held]).double()).square().mean())
            held_out = history.held_out
            history.warnings = verdict(held_out["mse"], held_out["mean_mse"], history.best_epoch, len(history.train))
    return Placement.keep(rows, places, spread, n_neighbors, settings.seed)


def code_prior(runner: InferenceModel, flat: np.ndarray, seed: int) -> Prior:
    """The mixture over training codes that ``sample`` draws from (on a subsample of big data): a placing
    model's codes are its kept rows' places, which its decoder reads."""
    pick = np.random.default_rng(seed)
    if runner.placement is not None:
        codes = runner.placement.places.astype(np.float64)
        if len(codes) > MAX_FIT_ROWS:
            codes = codes[np.sort(pick.choice(len(codes), MAX_FIT_ROWS, replace=False))]
        return fit_prior(codes, seed=int(seed))
    rows = flat
    if len(flat) > MAX_FIT_ROWS:  # pick before encoding so a memory-mapped file is read only in part
        rows = flat[np.sort(pick.choice(len(flat), MAX_FIT_ROWS, replace=False))]
    codes = runner.run(runner.model_.encode, rows, runner.latent_dim, np.float64)
    return fit_prior(codes, seed=int(seed))
