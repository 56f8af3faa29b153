"""``Autoencoder``: the scikit-learn-style estimator around a registered hourglass model."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from hourglass import distributed, modelfile
from hourglass.errors import HourglassError
from hourglass.models import build_model, model_class
from hourglass.models.conv import suits_conv
from hourglass.noise import parse_noise
from hourglass.runtime import CPU_THREADS, resolve_device, torch_threads
from hourglass.sampling import MAX_FIT_ROWS, Prior, fit_prior
from hourglass.scaling import Scaler
from hourglass.train import History, TrainConfig
from hourglass.train import fit as train_model

INFER_ROWS = 8_192  # rows per forward pass: activations stay in cache (1.5x faster than 65k here)
ESTIMATORS: dict[str, type[Autoencoder]] = {}


def register_estimator(cls: type[Autoencoder]) -> type[Autoencoder]:
    """Make a saved model of this class loadable by ``hourglass.load``."""
    ESTIMATORS[cls.__name__] = cls
    return cls


@register_estimator
class Autoencoder(TransformerMixin, BaseEstimator):
    """An autoencoder X -> code Z -> X_hat trained without labels by shrinking reconstruction loss.

    Parameters
    ----------
    latent_dim : width of the code Z (the waist of the hourglass).
    hidden : encoder widths from the input inward (units of an MLP, channels of a conv model); the
        decoder mirrors them. ``None``: the model's own default (128,64 for mlp; 32,64 for conv).
    model : name of a registered model (``hourglass.models.available_models()``), or ``"auto"``:
        ``"conv"`` for images larger than 16x16, ``"mlp"`` for smaller images and tables.
        ``"vae"`` is a variational autoencoder (conv body for images larger than 16x16).
    activation : hidden-layer activation (relu, gelu, silu, elu, tanh, leaky_relu).
    output_activation : ``"auto"`` (sigmoid when inputs are min-max scaled to [0, 1], else
        identity), ``"sigmoid"`` or ``"identity"``.
    scaling : ``"auto"`` (min-max over all pixels for images, i.e. arrays of ndim > 2 or uint8;
        per-feature standardisation for tables), ``"minmax"``, ``"standard"`` or ``"none"``.
    loss : ``"mse"`` or ``"bce"`` (BCE needs a sigmoid output).
    epochs, batch_size, lr, weight_decay : Adam training budget; training stops early once the
        validation loss has not improved for ``patience`` epochs and keeps the best epoch's weights.
    validation_fraction : share of the rows held out for the validation curve and early stop.
    seed : fixes initialisation, the split and shuffling: the same seed gives the same weights.
    device : ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    verbose : show a progress bar (only on a terminal).
    noise : ``None``, or a corruption spec such as ``"gaussian:0.3"`` or ``"gaussian:0.3+mask:0.1"``
        (see ``hourglass.noise``) to train a denoising autoencoder: each batch's inputs get fresh
        noise in scaled units while the target stays clean. Saved with the model.
    beta : weight of the VAE's KL term per input feature (``model="vae"`` only; loss = MSE +
        beta * KL / n_features). Larger values trade reconstruction for a code closer to N(0, I);
        around 1 the code collapses onto the prior and carries nothing (see ``models/vae.py``).
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden: Sequence[int] | None = None,
        *,
        model: str = "auto",
        activation: str = "relu",
        output_activation: str = "auto",
        scaling: str = "auto",
        loss: str = "mse",
        epochs: int = 200,
        batch_size: int = 128,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int = 10,
        seed: int = 0,
        device: str = "auto",
        verbose: bool = False,
        noise: str | None = None,
        beta: float = 0.03,
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

    # ----------------------------------------------------------------------------------- training
    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None, resume: bool = False
    ) -> Autoencoder:
        """Learn the scaling and the weights from ``X`` alone; ``y`` is ignored (unsupervised).

        ``checkpoint_dir``: a folder where a checkpoint is written after every epoch (weights,
        optimiser, learning-rate schedule, random state, history). With ``resume=True`` training
        continues from the checkpoint there, or starts afresh when there is none; a resumed fit
        ends with the same weights as an uninterrupted one. Under torchrun every process calls
        ``fit`` with the same ``X``; each trains on its own shard (see ``hourglass.distributed``).
        """
        pixels = getattr(X, "dtype", None) == np.uint8
        flat = self._validate(X, reset=True)
        pixels = pixels or self.kind_ == "image"
        scaling = self.scaling
        if scaling == "auto":
            scaling = "minmax" if pixels else "standard"
        self.scaler_ = Scaler.fit(flat, scaling, per_feature=not pixels)
        device = resolve_device(self.device)
        with torch_threads(CPU_THREADS if device.type == "cpu" else None), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # also seeds a VAE's sampling noise in training
            self.model_ = build_model(self._model_name(), **self._model_config(scaling))
            self.history_ = train_model(
                self.model_, flat, self.scaler_, self._train_config(), device, checkpoint_dir, resume
            )
        self.prior_ = None if self.model_.learns_prior else self._fit_prior(flat)
        return self

    def _model_name(self) -> str:
        if self.model != "auto":
            return self.model
        return "conv" if self.kind_ == "image" and suits_conv(self.sample_shape_) else "mlp"

    def _fit_prior(self, flat: np.ndarray) -> Prior:
        """The mixture over training codes that ``sample`` draws from (on a subsample of big data)."""
        rows = flat
        if len(flat) > MAX_FIT_ROWS:  # pick before encoding so a memory-mapped file is read only in part
            rows = flat[np.sort(np.random.default_rng(self.seed).choice(len(flat), MAX_FIT_ROWS, replace=False))]
        codes = self._run(self.model_.encode, rows, self.model_.latent_dim, np.float64)
        return fit_prior(codes, seed=int(self.seed))

    def _model_config(self, scaling: str) -> dict[str, Any]:
        output = self.output_activation
        if output == "auto":
            output = "sigmoid" if scaling == "minmax" else "identity"
        if self.loss == "bce" and output != "sigmoid":
            raise HourglassError("loss='bce' needs output_activation='sigmoid' (data scaled to [0, 1])")
        config = {
            "n_features": self.n_features_in_,
            "latent_dim": int(self.latent_dim),
            "activation": self.activation,
            "output_activation": output,
        }
        if self.hidden is not None:
            config["hidden"] = [int(h) for h in self.hidden]
        # Read only when the model asks: subclasses (AnomalyDetector) have no beta parameter.
        offered = {"sample_shape": lambda: list(self.sample_shape_), "beta": lambda: float(self.beta)}
        return config | {key: offered[key]() for key in model_class(self._model_name()).needs}

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=int(self.epochs),
            batch_size=int(self.batch_size),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            validation_fraction=float(self.validation_fraction),
            patience=int(self.patience),
            loss=self.loss,
            seed=int(self.seed),
            verbose=bool(self.verbose),
            corrupt=parse_noise(self.noise) if self.noise is not None else None,
            noise=self.noise,
        )

    # ---------------------------------------------------------------------------------- using it
    def transform(self, X: Any) -> np.ndarray:
        """Encode rows (or images) to their codes Z, shape (n, latent_dim)."""
        check_is_fitted(self)
        flat = self._validate(X, reset=False)
        return self._run(self.model_.encode, flat, self.model_.latent_dim, _out_dtype(flat))

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decode codes to rows in the original units, shape (n, n_features_in_)."""
        check_is_fitted(self)
        Z = self._validate_codes(Z)
        decoded = self._run(self.model_.decode, Z, self.n_features_in_, _out_dtype(Z), scale_input=False)
        return self.scaler_.inverse_transform(decoded).astype(decoded.dtype, copy=False)

    def reconstruct(self, X: Any) -> np.ndarray:
        """Rebuild X through the waist, X_hat = G(F(X)), in X's shape and original units."""
        check_is_fitted(self)
        shape = np.shape(X)
        flat = self._validate(X, reset=False)
        rebuilt = self._run(self.model_, flat, self.n_features_in_, np.float32)
        return self.scaler_.inverse_transform(rebuilt).reshape(shape)

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
        if int(n) < 1:
            raise HourglassError(f"cannot generate {n} samples; need n >= 1")
        if self.model_.learns_prior:
            codes = self.model_.prior_sample(int(n), seed)
        elif getattr(self, "prior_", None) is None:
            raise HourglassError("this model was saved without a code prior; retrain it to sample")
        else:
            codes = self.prior_.sample(int(n), seed)
        codes = codes.astype(np.float32)
        return self.inverse_transform(codes).reshape(int(n), *self.sample_shape_)

    def score_samples(self, X: Any) -> np.ndarray:
        """Negative mean squared reconstruction error per row, in scaled units (higher = more normal)."""
        check_is_fitted(self)
        flat = self._validate(X, reset=False)

        def neg_error(x: torch.Tensor) -> torch.Tensor:
            return -torch.mean((self.model_(x) - x) ** 2, dim=1, keepdim=True)

        return self._run(neg_error, flat, 1, np.float64)[:, 0]

    @torch.inference_mode()
    def _run(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        rows: np.ndarray,
        out_width: int,
        dtype: Any,
        scale_input: bool = True,
    ) -> np.ndarray:
        """Apply ``fn`` to rows in large chunks, with no DataLoader; rows are scaled first unless codes."""
        device = next(self.model_.parameters()).device
        offset = torch.as_tensor(self.scaler_.offset, device=device)
        scale = torch.as_tensor(self.scaler_.scale, device=device)
        out = np.empty((rows.shape[0], out_width), dtype=dtype)
        self.model_.eval()
        with torch_threads(CPU_THREADS if device.type == "cpu" else None):
            for start in range(0, rows.shape[0], INFER_ROWS):
                x = torch.as_tensor(_writable(rows[start : start + INFER_ROWS]), device=device)
                if scale_input:
                    x = (x - offset) / scale
                out[start : start + x.shape[0]] = fn(x).cpu().numpy()
        return out

    # ------------------------------------------------------------------------------- validation
    def _validate(self, X: Any, reset: bool) -> np.ndarray:
        """Check X at the edge and return it as 2-D rows; images (ndim > 2) are flattened."""
        if isinstance(X, np.memmap):  # stay on disk: never copy data larger than RAM
            flat = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
            if X.ndim < 2 or X.shape[0] == 0:
                raise HourglassError(f"need a non-empty 2-D array; got shape {X.shape}")
            self._check_shape(X.shape[1:], reset)
            if reset:
                self.n_features_in_ = flat.shape[1]
            elif flat.shape[1] != self.n_features_in_:
                raise HourglassError(
                    f"X has {flat.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
            return flat
        images = isinstance(X, np.ndarray) and X.ndim > 2
        if images:
            self._check_shape(X.shape[1:], reset, images=True)
            X = X.reshape(X.shape[0], -1)
        try:
            with warnings.catch_warnings():
                # A plain array is read by position; names are checked whenever a table brings them.
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                flat = validate_data(self, X, reset=reset, dtype=(np.float32, np.float64))
        except ValueError as e:  # sklearn's messages are clear; make them one-line user errors
            raise HourglassError(" ".join(str(e).split())) from None
        if not images:
            self._check_shape((flat.shape[1],), reset, images=False)
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

        Z = check_array(Z, dtype=(np.float32, np.float64))
        if Z.shape[1] != self.model_.latent_dim:
            raise HourglassError(f"codes have {Z.shape[1]} columns, but the model's code has {self.model_.latent_dim}")
        return Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------------------------ model files
    def save(self, path: str | os.PathLike, extra_files: dict[str, bytes] | None = None) -> Path:
        """Write the model folder (config.json + model.safetensors) atomically; returns its path.

        Under torchrun only rank 0 writes; the other ranks return the path having written nothing.
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
                # where the training data came from (set by the CLI), so explore/serve can default to it
                "source": getattr(self, "data_source_", None),
            },
            "training": self.history_.summary(),
        }
        arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in self.model_.state_dict().items()}
        arrays |= {"scaler.offset": self.scaler_.offset, "scaler.scale": self.scaler_.scale}
        if getattr(self, "prior_", None) is not None:
            arrays |= self.prior_.to_arrays()
        return modelfile.save_folder(path, config, arrays, extra_files)

    @classmethod
    def _from_files(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], source: Path) -> Autoencoder:
        try:
            params = dict(config["params"])
            if params.get("hidden") is not None:
                params["hidden"] = tuple(params["hidden"])
            est = cls(**params)
            data = config["data"]
            est.n_features_in_ = int(data["n_features"])
            est.sample_shape_ = tuple(data["sample_shape"])
            est.kind_ = data["kind"]
            if data.get("source"):
                est.data_source_ = data["source"]
            if data.get("feature_names"):
                est.feature_names_in_ = np.asarray(data["feature_names"], dtype=object)
            est.scaler_ = Scaler(data["scaling"], arrays["scaler.offset"], arrays["scaler.scale"])
            est.model_ = build_model(config["model"]["name"], **config["model"]["config"])
            weights = {k[len("model.") :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("model.")}
            est.model_.load_state_dict(weights)
            est.history_ = _history_from(config.get("training", {}))
            est.prior_ = Prior.from_arrays(arrays)
        except HourglassError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise HourglassError(
                f"{source}: model files do not match ({type(e).__name__}: {str(e).splitlines()[0]})"
            ) from None
        est.model_.to(resolve_device(est.device)).eval()
        return est


def load(path: str | os.PathLike) -> Autoencoder:
    """Load a model folder written by ``save`` (or by ``hourglass train``)."""
    config, arrays = modelfile.load_folder(path)
    cls = ESTIMATORS.get(config.get("estimator", ""))
    if cls is None:
        raise HourglassError(f"{path}: unknown estimator {config.get('estimator')!r} in config.json")
    return cls._from_files(config, arrays, Path(path))


def _history_from(summary: dict[str, Any]) -> History:
    return History(
        train=list(summary.get("train_loss", [])),
        val=list(summary.get("val_loss", [])),
        parts=dict(summary.get("loss_parts", {})),
        best_epoch=int(summary.get("best_epoch", 0)),
        stopped_early=bool(summary.get("stopped_early", False)),
        seconds=float(summary.get("seconds", 0.0)),
    )


def _out_dtype(rows: np.ndarray) -> Any:
    return np.float32 if rows.dtype == np.float32 else np.float64


def _writable(rows: np.ndarray) -> np.ndarray:
    """float32 rows torch may wrap: read-only inputs (memory maps) are copied, others converted as needed."""
    chunk = np.asarray(rows, np.float32)
    return chunk if chunk.flags.writeable else chunk.copy()
