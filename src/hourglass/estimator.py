"""``Autoencoder``: the scikit-learn-style estimator around a registered hourglass model."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from hourglass.card import card, held_out_text
from hourglass.data.inputs import check_columns
from hourglass.data.noise import parse_noise
from hourglass.data.scaling import KINDS as SCALINGS
from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models import available_models, build_model, model_class
from hourglass.models.base import ACTIVATIONS, MAX_LATENT, MAX_LAYERS, MAX_WIDTH, OUTPUT_ACTIVATIONS
from hourglass.models.conv import suits_conv
from hourglass.params import AUTOENCODER, NOISE_HELP
from hourglass.runtime.device import CPU_THREADS, DEVICE, exact_cuda, resolve_device, run_device, torch_threads
from hourglass.runtime.forward import check_finite, finite_output, out_dtype, run_network
from hourglass.schema import Bool, Int, ListOf, Maybe, Omittable, OneOf, Real, Satisfies, Spec, validate
from hourglass.storage import modelfile
from hourglass.storage.folder import config_schema, read_network
from hourglass.training import distributed
from hourglass.training.neighbors import Structure
from hourglass.training.prior import MAX_FIT_ROWS, Prior, fit_prior
from hourglass.training.state import LOSSES, History, TrainConfig, seed_torch
from hourglass.training.train import fit as train_model

MAX_SAMPLES = 10_000_000
SEEDS = Int(0, 2**32 - 1)
ESTIMATORS: dict[str, type[_Estimator]] = {}
E = TypeVar("E", bound="_Estimator")


def register_estimator(cls: type[_Estimator]) -> type[_Estimator]:
    """Make a saved model of this class loadable by ``hourglass.load``."""
    ESTIMATORS[cls.__name__] = cls
    return cls


class _Estimator(TransformerMixin, BaseEstimator):
    """What every hourglass estimator shares: the parameters of the data, the network and its training
    (checked against ``_parameter_specs``), the run context (device, threads, seed), fitting, encoding and
    decoding, and the model folder (save/load, with a subclass's own fitted state in ``config.json``).

    A subclass lists its own parameters in its ``__init__`` and adds their specs to this table; hooks say
    which model it builds (``_model_name``, ``_model_config``) and how it trains (``_loss``, ``_structure``).
    """

    # What each parameter accepts, declared once (like scikit-learn's ``_parameter_constraints``; not
    # that name, because scikit-learn's own checks read it expecting its Interval objects). Sizes have
    # upper bounds so that an absurd value fails here, with the bound, rather than in an allocation.
    _parameter_specs: ClassVar[dict[str, Spec]] = {
        "latent_dim": Int(1, MAX_LATENT),
        "hidden": Maybe(ListOf(Int(1, MAX_WIDTH), 0, MAX_LAYERS)),
        "activation": OneOf(*ACTIVATIONS),
        "scaling": OneOf("auto", *SCALINGS),
        "epochs": Int(1, 1_000_000),
        "batch_size": Int(1),
        "lr": Real(0, open="lo"),
        "weight_decay": Real(0),
        "validation_fraction": Real(0, 1, open="hi"),
        "patience": Int(0),
        "seed": SEEDS,
        "device": DEVICE,
        "verbose": Bool(),
        "noise": Maybe(Satisfies(parse_noise, f"a noise spec: {NOISE_HELP}")),
    }
    # Inputs far outside the training range are clipped to a window around it (see scaling.py).
    _clip_inputs: ClassVar[bool] = True
    # Arrays of the subclass's own fitted state in model.safetensors start with this (see ``_fitted_state``).
    _state_prefix: ClassVar[str] = ""

    # ----------------------------------------------------------------------------------- training
    def fit(
        self: E, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None, resume: bool = False
    ) -> E:
        """Learn the scaling and the weights from ``X`` alone; ``y`` is ignored (unsupervised).

        ``checkpoint_dir``: a folder where a checkpoint is written after every epoch (weights,
        optimiser, learning-rate schedule, random state, history). With ``resume=True`` training
        continues from the checkpoint there, or starts afresh when there is none; a resumed fit
        ends with the same weights as an uninterrupted one. Under torchrun every process calls
        ``fit`` with the same ``X``; each trains on its own shard (see ``hourglass.training.distributed``).
        """
        self._validate_params()
        # What the last fit's data was and how it was read: X may be anything else, so only whoever
        # loaded it (the CLI) can say again.
        for stale in ("data_source_", "data_options_"):
            self.__dict__.pop(stale, None)
        pixels = getattr(X, "dtype", None) == np.uint8
        flat = self._validate(X, reset=True)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing spread is reported just below, in words
            images = pixels or self.kind_ == "image"
            self.scaler_ = Scaler.fit(flat, self._scaling(images), images=images, clip=self._clip_inputs)
        scaling = self.scaler_.kind
        if not (np.isfinite(self.scaler_.offset).all() and np.isfinite(self.scaler_.scale).all()):
            raise HourglassError(
                "X: values too large to scale (their spread overflows float32, beyond 3.4e38); rescale the data"
            )
        device = distributed.setup(resolve_device(self.device))  # under torchrun, this rank's GPU
        # Seeding touches torch's global generators (a VAE's sampling noise draws from them): those of the
        # CPU and of the GPU trained on, which fork_rng puts back as they were.
        gpu = [device] if device.type == "cuda" else []
        threads = torch_threads(CPU_THREADS if device.type == "cpu" else None)
        with threads, exact_cuda(device), torch.random.fork_rng(devices=gpu):
            seed_torch(self.seed, device)
            self.model_ = build_model(self._model_name(), **self._model_config(scaling))
            # Scaling is affine, so the scaled data's mean is its mean scaled (no scaled copy of X).
            self.model_.start_at(self.scaler_.transform(np.asarray(flat.mean(axis=0, keepdims=True)))[0])
            self.history_ = train_model(
                self.model_, flat, self.scaler_, self._train_config(), device, checkpoint_dir, resume
            )
        self.prior_ = None if self.model_.learns_prior else self._fit_prior(flat)
        for warning in self.history_.warnings:  # a dead model must not pass for a trained one
            warnings.warn(warning, UserWarning, stacklevel=2)
        return self

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_specs``; the first bad one is one HourglassError."""
        for name, value in self.get_params(deep=False).items():
            validate(value, self._parameter_specs[name], type(self).__name__, f"parameter {name}")

    def _scaling(self, images: bool) -> str:
        """The scaling asked for; ``"auto"`` is resolved by ``Scaler.fit`` from the data."""
        return self.scaling

    def _model_name(self) -> str:
        raise NotImplementedError

    def _fit_prior(self, flat: np.ndarray) -> Prior:
        """The mixture over training codes that ``sample`` draws from (on a subsample of big data)."""
        rows = flat
        if len(flat) > MAX_FIT_ROWS:  # pick before encoding so a memory-mapped file is read only in part
            rows = flat[np.sort(np.random.default_rng(self.seed).choice(len(flat), MAX_FIT_ROWS, replace=False))]
        codes = self._run(self.model_.encode, rows, self.model_.latent_dim, np.float64)
        return fit_prior(codes, seed=int(self.seed))

    def _output_activation(self, scaling: str) -> str:
        return "sigmoid" if scaling == "minmax" else "identity"

    def _model_config(self, scaling: str) -> dict[str, Any]:
        """The model's constructor arguments: the shared ones, and the facts about the data it ``needs``."""
        config = {
            "n_features": self.n_features_in_,
            "latent_dim": int(self.latent_dim),
            "activation": self.activation,
            "output_activation": self._output_activation(scaling),
        }
        if self.hidden is not None:
            config["hidden"] = [int(h) for h in self.hidden]
        offered = self._model_facts()
        return config | {key: offered[key]() for key in model_class(self._model_name()).needs}

    def _model_facts(self) -> dict[str, Callable[[], Any]]:
        """What a model may ask for in ``needs``, read only when it asks."""
        return {"sample_shape": lambda: list(self.sample_shape_)}

    def _loss(self) -> str:
        return "mse"

    def _structure(self) -> Structure | None:
        return None

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            validation_fraction=float(self.validation_fraction),
            patience=int(self.patience),
            loss=self._loss(),
            seed=int(self.seed),
            verbose=bool(self.verbose),
            corrupt=parse_noise(self.noise) if self.noise is not None else None,
            noise=self.noise,
            structure=self._structure(),
        )

    # ---------------------------------------------------------------------------------- using it
    def transform(self, X: Any) -> np.ndarray:
        """Encode rows (or images) to their codes Z, shape (n, latent_dim)."""
        check_is_fitted(self)
        flat = self._validate(X, reset=False)
        return self._run(self.model_.encode, flat, self.model_.latent_dim, out_dtype(flat))

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decode codes to rows in the original units, shape (n, n_features_in_)."""
        check_is_fitted(self)
        Z = self._validate_codes(Z)
        decoded = self._run(self.model_.decode, Z, self.n_features_in_, out_dtype(Z), scale_input=False)
        return finite_output(self.scaler_.inverse_transform(decoded).astype(decoded.dtype, copy=False))

    def reconstruct(self, X: Any) -> np.ndarray:
        """Rebuild X through the waist, X_hat = G(F(X)), in X's shape and original units."""
        check_is_fitted(self)
        shape = np.shape(X)
        flat = self._validate(X, reset=False)
        rebuilt = self._run(self.model_, flat, self.n_features_in_, np.float32)
        return finite_output(self.scaler_.inverse_transform(rebuilt)).reshape(shape)

    def denoise(self, X: Any) -> np.ndarray:
        """Clean noisy X: the reconstruction of a model trained with ``noise``, in X's shape and units."""
        return self.reconstruct(X)

    def sample(self, n: int = 64, seed: int = 0) -> np.ndarray:
        """``n`` new examples shaped like the training samples: codes drawn from the prior, decoded.

        A VAE draws its codes from N(0, I), the prior it was trained towards. A plain autoencoder
        has no prior of its own, so ``fit`` fits a Gaussian mixture to the training codes (saved
        with the model). The same seed always gives the same samples.
        """
        check_is_fitted(self)
        validate(n, Int(1, MAX_SAMPLES), "sample", "n")
        validate(seed, SEEDS, "sample", "seed")
        prior = getattr(self, "prior_", None)
        if self.model_.learns_prior:
            codes = self.model_.prior_sample(int(n), seed)
        elif prior is None:
            raise HourglassError("this model was saved without a code prior; retrain it to sample")
        else:
            codes = prior.sample(int(n), seed)
        codes = codes.astype(np.float32)
        return self.inverse_transform(codes).reshape(int(n), *self.sample_shape_)

    def score_samples(self, X: Any) -> np.ndarray:
        """Negative mean squared reconstruction error per row, in scaled units (higher = more normal).

        Inputs are clipped to a window around the training range before the network sees them; the squared
        distance the clip removed is added to the error, so rows beyond the window keep their order (a row
        1e30 out scores below one 1e6 out; clipped alone, they tied). Rows inside the window are unchanged.
        """
        check_is_fitted(self)
        flat = self._validate(X, reset=False)

        def neg_error(x: torch.Tensor) -> torch.Tensor:
            return -torch.mean((self.model_(x) - x) ** 2, dim=1, keepdim=True)

        scores = self._run(neg_error, flat, 1, np.float64, allow_inf=True)[:, 0]
        return scores - self.scaler_.clipped_away(flat)

    def _run(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        rows: np.ndarray,
        out_width: int,
        dtype: Any,
        scale_input: bool = True,
        allow_inf: bool = False,
    ) -> np.ndarray:
        """``fn`` over the rows (scaled first unless codes) in large chunks: see ``engine.forward.run_network``."""
        return run_network(self.model_, self.scaler_, fn, rows, out_width, dtype, scale_input, allow_inf)

    # ------------------------------------------------------------------------------- validation
    def _validate(self, X: Any, reset: bool) -> np.ndarray:
        """Check X at the edge and return it as 2-D rows; images (ndim > 2) are flattened."""
        if isinstance(X, np.memmap):  # stay on disk: never copy data larger than RAM
            if X.ndim < 2 or X.shape[0] == 0 or X.dtype.kind not in "biuf":
                raise HourglassError(f"need a non-empty 2-D array of numbers; got shape {X.shape}, dtype {X.dtype}")
            flat = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
            self._check_shape(X.shape[1:], reset)
            if reset:
                self.n_features_in_ = flat.shape[1]
            elif flat.shape[1] != self.n_features_in_:
                raise HourglassError(
                    f"X has {flat.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
            check_finite(flat)
            return flat
        check_columns(X)  # a DataFrame's dates: one line naming them, not numpy's DTypePromotionError
        images = isinstance(X, np.ndarray) and X.ndim > 2
        if images:
            self._check_shape(X.shape[1:], reset, images=True)
            X = X.reshape(X.shape[0], -1)
        try:
            with warnings.catch_warnings():
                # A plain array is read by position; names are checked whenever a table brings them.
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                # Finiteness is checked below, in float32, the precision the model computes in.
                flat = validate_data(self, X, reset=reset, dtype=(np.float32, np.float64), ensure_all_finite=False)
        except ValueError as e:  # sklearn's messages are clear; make them one-line user errors
            raise HourglassError(" ".join(str(e).split())) from None
        if not images:
            self._check_shape((flat.shape[1],), reset, images=False)
        check_finite(flat)
        return flat

    def _check_shape(self, sample_shape: tuple, reset: bool, images: bool | None = None) -> None:
        images = len(sample_shape) > 1 if images is None else images
        if reset:
            self.sample_shape_ = tuple(int(s) for s in sample_shape)
            self.kind_ = "image" if images else "table"
        elif images and tuple(sample_shape) != self.sample_shape_:
            raise HourglassError(
                f"got images of shape {tuple(sample_shape)}, but the model was trained on {self.sample_shape_}"
            )

    def _validate_codes(self, Z: Any) -> np.ndarray:
        from sklearn.utils import check_array

        try:
            Z = check_array(Z, dtype=(np.float32, np.float64), ensure_all_finite=False)
        except ValueError as e:
            raise HourglassError(" ".join(str(e).split())) from None
        if Z.shape[1] != self.model_.latent_dim:
            raise HourglassError(f"codes have {Z.shape[1]} columns, but the model's code has {self.model_.latent_dim}")
        check_finite(Z, "the codes")
        return Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ----------------------------------------------------------------------------------- notebooks
    def _html_repr(self) -> str:
        """Jupyter's view (``_repr_html_``, ``_repr_mimebundle_``): once fitted, a card with the architecture,
        the loss curves, a small latent map and the held-out error, above scikit-learn's parameter diagram."""
        diagram = super()._html_repr()
        if not hasattr(self, "model_"):
            return diagram
        model, history = self.model_, self.history_
        widths = [self.n_features_in_, *model.hidden, model.latent_dim]
        facts = [
            ("network", f"{model.name}, widths {' > '.join(map(str, widths))} and back, "
                        f"{sum(p.numel() for p in model.parameters()):,} weights"),
            ("data", f"{self.kind_}s of shape {tuple(self.sample_shape_)}, {self.scaler_.kind} scaling"),
            ("training", f"{len(history.train)} epochs in {history.seconds:.1f} s, best epoch {history.best_epoch}"
                         + (", stopped early" if history.stopped_early else "")),
        ]  # fmt: skip
        if history.held_out:  # the words `hourglass train` prints, beside the mean's and PCA's
            facts.append(("held out", held_out_text(history.held_out)))
        elif history.val and history.best_epoch:  # a folder saved before fits were measured against baselines
            facts.append(
                ("held-out error", f"{history.val[history.best_epoch - 1]:.4g} (validation MSE, scaled units)")
            )
        facts += [("warning", warning) for warning in history.warnings]
        codes, note = None, f"no map: the code has {model.latent_dim} numbers, the map draws 2"
        prior = getattr(self, "prior_", None)
        if model.latent_dim == 2 and prior is not None:
            # The training rows are not kept; the mixture fitted to their codes stands for them.
            codes, note = (
                prior.sample(400, seed=0),
                "map: 400 codes drawn from the mixture fitted to the training codes",
            )
        elif model.latent_dim == 2:
            note = "no map: this model's codes follow its own N(0, I) prior"
        return card(type(self).__name__, facts, history.train, history.val, codes, note) + diagram

    # ------------------------------------------------------------------------------ model files
    def save(self, path: str | os.PathLike, extra_files: dict[str, bytes] | None = None) -> Path:
        """Write the model folder (config.json + model.safetensors) atomically; returns its path.

        Under torchrun only rank 0 writes; the other ranks return the path having written nothing.
        Nothing is pickled: the folder holds JSON and tensors, so loading it runs no code from the file.

        Parameters
        ----------
        path : str or os.PathLike
            The folder to write. An existing model folder (or an empty folder) is replaced in one step, so
            a crash leaves the old model or the new one, never a mix; anything else there is refused.
        extra_files : dict of str to bytes, optional
            Further files to write into the folder with the model (name -> contents).

        Returns
        -------
        pathlib.Path
            ``path``, for ``hourglass.load``.

        Raises
        ------
        HourglassError
            ``path`` exists and is not an hourglass model folder (a file, or a folder of other things); or the folder
            would not load (a parameter changed after fit, e.g. ``set_params(latent_dim=7)``): nothing is written.

        Examples
        --------
        >>> import os
        >>> import tempfile
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
        >>> model = Autoencoder(hidden=(8,), epochs=2, seed=0).fit(X)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     sorted(os.listdir(model.save(f"{tmp}/model")))
        ['config.json', 'model.safetensors']
        """
        check_is_fitted(self)
        if not distributed.is_main():
            return Path(path)
        from hourglass import __version__

        config = {
            "hourglass_version": __version__,
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "model": {"name": self.model_.name, "config": self.model_.config()},
            "data": {
                "n_features": self.n_features_in_,
                "sample_shape": list(self.sample_shape_),
                "kind": self.kind_,
                "scaling": self.scaler_.kind,
                "feature_names": [str(f) for f in getattr(self, "feature_names_in_", [])] or None,
                # Where the training data came from and how it was read (set by the CLI's train and
                # fit-detector), so that commands default to that data (explore, serve) and read new data alike.
                "source": getattr(self, "data_source_", None),
                "options": getattr(self, "data_options_", None),
            },
            "training": self.history_.summary(),
        }
        arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in self.model_.state_dict().items()}
        arrays |= self.scaler_.arrays()
        prior = getattr(self, "prior_", None)
        if prior is not None:
            arrays |= prior.to_arrays()
        fitted, state = self._fitted_state()
        if fitted is not None:
            config["fitted"] = fitted
        arrays |= {self._state_prefix + k: v for k, v in state.items()}
        self._check_loadable(config, arrays, Path(path))
        return modelfile.save_folder(path, config, arrays, extra_files)

    def _check_loadable(self, config: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
        """Refuse, before ``path`` is touched, a folder that ``load`` would refuse: run load's own checks on what
        would be written. A parameter changed after ``fit`` (``set_params(latent_dim=7)``) no longer describes
        the fitted network; saving it would replace a good model with one that cannot load."""
        try:
            type(self)._from_files(modelfile.as_loaded(config), arrays, path)
        except HourglassError as e:
            problem = str(e).removeprefix(f"{path / modelfile.CONFIG}: ").removeprefix(f"{path}: ")
            raise HourglassError(
                f"{path}: not saved, as it could not be loaded ({problem}); set the parameter back to its "
                "value at fit (set_params), or refit"
            ) from None

    def _fitted_state(self) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
        """What a subclass learnt in ``fit`` beside the network, the scaling and the prior: numbers for
        config.json's ``fitted`` field (checked against ``_fitted_schema``) and arrays for model.safetensors
        (saved under ``_state_prefix``). The plain estimator has none."""
        return None, {}

    @classmethod
    def _fitted_schema(cls) -> dict[str, Any] | None:
        return None

    def _restore_fitted(self, config: dict[str, Any], state: dict[str, np.ndarray], source: Path) -> None:
        """Set what ``_fitted_state`` saved: ``config["fitted"]`` (already checked against the schema) and the
        arrays under ``_state_prefix`` (prefix removed; not checked yet)."""

    @classmethod
    def _config_schema(cls) -> dict[str, Any]:
        """What ``save`` writes into config.json, field by field (``load`` checks a folder against it)."""
        # Each parameter may be absent (a folder saved before it existed gets the default).
        params = {name: Omittable(spec) for name, spec in cls._parameter_specs.items()}
        return config_schema(OneOf(cls.__name__), params, cls._fitted_schema())

    @classmethod
    def _from_files(cls: type[E], config: dict[str, Any], arrays: dict[str, np.ndarray], source: Path) -> E:
        """Check the whole folder - every field, then every tensor against the model the config
        describes - before any of it is used; each problem is one HourglassError naming file and field."""
        where = source / modelfile.CONFIG
        validate(config, cls._config_schema(), str(where))
        params = dict(config["params"])
        if params.get("hidden") is not None:
            params["hidden"] = tuple(params["hidden"])
        est = cls(**params)
        data = config["data"]
        est.n_features_in_ = data["n_features"]
        est.sample_shape_ = tuple(data["sample_shape"])
        est.kind_ = data["kind"]
        if data.get("source"):
            est.data_source_ = data["source"]
        if data.get("options"):
            est.data_options_ = data["options"]
        if data.get("feature_names"):
            est.feature_names_in_ = np.asarray(data["feature_names"], dtype=object)
        weights = source / modelfile.WEIGHTS
        prior = {k: v for k, v in arrays.items() if k.startswith("prior.")}
        prefix = cls._state_prefix
        own = {k[len(prefix) :]: v for k, v in arrays.items() if prefix and k.startswith(prefix)}
        rest = {k: v for k, v in arrays.items() if k not in prior and not (prefix and k.startswith(prefix))}
        est.model_, est.scaler_ = read_network(config, rest, source)
        est.history_ = _history_from(config.get("training", {}))
        est.prior_ = Prior.from_arrays(prior, latent_dim=est.model_.latent_dim, where=str(weights)) if prior else None
        est.model_.to(run_device(est.device)).eval()
        est._restore_fitted(config, own, source)
        return est


@register_estimator
class Autoencoder(_Estimator):
    """An autoencoder X -> code Z -> X_hat trained without labels by shrinking reconstruction loss.

    Every parameter is checked against ``_parameter_specs`` when ``fit`` starts, before the data is
    read: a bad value is one ``HourglassError`` naming the parameter and what it accepts.

    Parameters
    ----------
    latent_dim : int, default 2
        Width of the code Z (the waist of the hourglass).
    hidden : sequence of int or None, default None
        Encoder widths from the input inward (units of an MLP, channels of a conv model); the decoder
        mirrors them. ``None``: the model's own default (128,64 for mlp; 32,64 for conv).
    model : str, default "auto"
        Name of a registered model (``hourglass.models.available_models()``), or ``"auto"``: ``"conv"``
        for images larger than 16x16, ``"mlp"`` for smaller images and tables. ``"vae"`` is a variational
        autoencoder (conv body for images larger than 16x16).
    activation : str, default "gelu"
        Hidden-layer activation (relu, gelu, silu, elu, tanh, leaky_relu). GELU, chosen leave-one-dataset-out
        over 11 datasets (``benchmarks/defaults.py``), won every fold; ReLU units die at a 2-number waist and
        cost 10-25% in held-out error on digits.
    output_activation : str, default "auto"
        ``"auto"`` (sigmoid when inputs are min-max scaled to [0, 1], else identity), ``"sigmoid"`` or
        ``"identity"``.
    scaling : str, default "auto"
        ``"auto"``, ``"minmax"``, ``"standard"`` or ``"none"``. ``"auto"`` picks by the data: bounded data
        (images, uint8, rows whose every value is within [0, 1], or integer pixel values in [0, 255] over
        at least 16 columns) is min-max scaled by one global range, its own minimum and maximum over all
        values; other tables are standardised per feature, each feature's scale floored at 5% of its
        training range (``hourglass.data.scaling`` gives the reasons).
    loss : str, default "mse"
        ``"mse"`` or ``"bce"`` (BCE needs a sigmoid output).
    epochs : int, default 200
        Most passes over the training rows; training stops early once the validation loss has not improved
        for ``patience`` epochs, and keeps the best epoch's weights.
    batch_size : int, default 128
        Rows per Adam step (per process under torchrun).
    lr : float, default 0.01
        Adam's learning rate, cut 0.3x after 4 epochs without progress (not with ``structure``).
    weight_decay : float, default 0.0
        Adam's L2 penalty.
    validation_fraction : float, default 0.1
        Share of the rows held out for the validation curve and the early stop.
    patience : int, default 10
        Epochs without progress on the held-out rows before training stops; 0 never stops early.
    seed : int, default 0
        Fixes initialisation, the split and shuffling: the same seed gives the same weights. Torch's global
        random state (CPU and CUDA) is left as it was.
    device : str, default "auto"
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    verbose : bool, default False
        Show a progress bar (only on a terminal).
    noise : str or None, default None
        A corruption spec such as ``"gaussian:0.3"`` or ``"gaussian:0.3+mask:0.1"`` (see ``hourglass.data.noise``)
        to train a denoising autoencoder: each batch's inputs get fresh noise in scaled units while the
        target stays clean. Saved with the model.
    beta : float, default 0.03
        Weight of the VAE's KL term per input feature (``model="vae"`` only; loss = MSE + beta * KL /
        n_features). Larger values trade reconstruction for a code closer to N(0, I); around 1 the code
        collapses onto the prior and carries nothing (see ``models/vae.py``).
    structure : str or None, default None
        ``"neighbors"`` trains a neighbor-preserving code: UMAP's fuzzy graph of the ``n_neighbors``
        nearest training rows is built at ``fit``, the rows are laid out in the code's width by UMAP's
        objective, and each code is pulled towards its place in that layout beside the reconstruction loss
        (see ``hourglass.training.neighbors``), so that rows close in the data stay close in the code, and
        clusters apart. Saved with the model.
    n_neighbors : int, default 15
        Neighbors per row in that graph (besides the row itself), at least 1 and fewer than the training rows.
    structure_weight : float, default 1.0
        Weight of the neighbor term (the codes' mean squared distance to their places in the layout, which
        has unit variance), relative to the data's variance (the error of a code that carries nothing); 0
        keeps the term's bookkeeping but not its pull.

    Attributes
    ----------
    model_ : hourglass.models.base.Hourglass
        The trained network (its ``encode`` and ``decode`` work on scaled rows).
    scaler_ : hourglass.data.scaling.Scaler
        The scaling learnt from the training data; the network sees ``scaler_``'s output.
    history_ : hourglass.training.state.History
        Per-epoch training and validation losses, the best epoch and whether training stopped early;
        ``held_out``, the final model's MSE on the held-out rows beside predicting the training mean and
        PCA at the code's width (scaled units); and ``warnings``, raised by ``fit`` as ``UserWarning`` too,
        when the model is no better than the mean or kept its first epoch.
    prior_ : hourglass.training.prior.Prior or None
        The Gaussian mixture over training codes that ``sample`` draws from; None for a VAE, which
        samples from its own N(0, I).
    kind_ : str
        ``"image"`` (fitted on an array of ndim > 2) or ``"table"``.
    sample_shape_ : tuple of int
        The shape of one sample: ``(n_features_in_,)`` for a table, e.g. ``(28, 28)`` for images.
    n_features_in_ : int
        Values per sample (pixels of an image).
    feature_names_in_ : np.ndarray of str
        The column names, only when fitted on a table with string column names (a pandas DataFrame).
    data_source_, data_options_ : str, dict
        Only when ``hourglass train`` (or ``fit-detector``) fitted it from a file or built-in name: that
        source, and how it was read (``label``, an image folder's ``image_size`` and ``color`` ...); the
        commands read data for the model with these options unless told otherwise. ``fit`` clears both.

    Examples
    --------
    >>> import numpy as np
    >>> import hourglass as hg
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> ae = hg.Autoencoder(latent_dim=2, hidden=(8,), epochs=2).fit(X)
    >>> ae.transform(X).shape
    (100, 2)
    >>> ae.reconstruct(X).shape, len(ae.history_.train)
    ((100, 5), 2)
    >>> ae.sample(3, seed=0).shape
    (3, 5)
    """

    # The shared table plus the parameters only an Autoencoder has.
    _parameter_specs: ClassVar[dict[str, Spec]] = _Estimator._parameter_specs | {
        "model": OneOf("auto", available_models),
        "output_activation": OneOf("auto", *OUTPUT_ACTIVATIONS),
        "loss": OneOf(*LOSSES),
        "beta": Real(0),
        "structure": Maybe(OneOf("neighbors")),
        "n_neighbors": Int(1),
        "structure_weight": Real(0),
    }

    def __init__(
        self,
        latent_dim: int = AUTOENCODER.latent_dim,
        hidden: Sequence[int] | None = AUTOENCODER.hidden,
        *,
        model: str = AUTOENCODER.model,
        activation: str = AUTOENCODER.activation,
        output_activation: str = AUTOENCODER.output_activation,
        scaling: str = AUTOENCODER.scaling,
        loss: str = AUTOENCODER.loss,
        epochs: int = AUTOENCODER.epochs,
        batch_size: int = AUTOENCODER.batch_size,
        lr: float = AUTOENCODER.lr,
        weight_decay: float = AUTOENCODER.weight_decay,
        validation_fraction: float = AUTOENCODER.validation_fraction,
        patience: int = AUTOENCODER.patience,
        seed: int = AUTOENCODER.seed,
        device: str = AUTOENCODER.device,
        verbose: bool = AUTOENCODER.verbose,
        noise: str | None = AUTOENCODER.noise,
        beta: float = AUTOENCODER.beta,
        structure: str | None = AUTOENCODER.structure,
        n_neighbors: int = AUTOENCODER.n_neighbors,
        structure_weight: float = AUTOENCODER.structure_weight,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.model = model
        self.activation = activation
        self.output_activation = output_activation
        self.scaling = scaling
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.noise = noise
        self.beta = beta
        self.structure = structure
        self.n_neighbors = n_neighbors
        self.structure_weight = structure_weight

    def _model_name(self) -> str:
        if self.model != "auto":
            return self.model
        return "conv" if self.kind_ == "image" and suits_conv(self.sample_shape_) else "mlp"

    def _output_activation(self, scaling: str) -> str:
        output = super()._output_activation(scaling) if self.output_activation == "auto" else self.output_activation
        if self.loss == "bce" and output != "sigmoid":
            raise HourglassError("loss='bce' needs output_activation='sigmoid' (data scaled to [0, 1])")
        return output

    def _model_facts(self) -> dict[str, Callable[[], Any]]:
        return super()._model_facts() | {"beta": lambda: float(self.beta)}

    def _loss(self) -> str:
        return self.loss

    def _structure(self) -> Structure | None:
        if self.structure != "neighbors":
            return None
        return Structure(n_neighbors=int(self.n_neighbors), weight=float(self.structure_weight))


def load(path: str | os.PathLike) -> _Estimator:
    """Load a model folder of any estimator class registered so far, checked completely first.

    Estimators above this layer (``AnomalyDetector``) register themselves when imported; ``hourglass.load``
    imports them all first, so it loads every kind of folder.
    """
    config, arrays = modelfile.load_folder(path)
    validate(config.get("estimator"), OneOf(lambda: ESTIMATORS), str(Path(path) / modelfile.CONFIG), "estimator")
    return ESTIMATORS[config["estimator"]]._from_files(config, arrays, Path(path))


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
