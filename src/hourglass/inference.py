"""Run a saved model without its estimator class: ``InferenceModel`` encodes, decodes and reconstructs from the
model folder alone.

The command line's encode, decode and reconstruct use it, so that they import torch but not scikit-learn: the
estimators subclass scikit-learn's base classes, whose import pulls in SciPy's statistics and pandas and takes
about as long as torch's own. The numbers are the estimator's, bit for bit: the folder is checked and the
network rebuilt by ``hourglass.storage.folder`` and the rows run through ``hourglass.runtime.forward``, as
``hourglass.load`` and ``Autoencoder.transform`` do, after the same conversion of the input.

It checks what it reads, with ``hourglass.load``'s messages: the format, the network and its tensors, the
input scaling, the data's shape, the training summary and the parameters that must agree with the network
(``params.device`` among them). What only an estimator uses (its other parameters, the code prior ``sample``
draws from, a detector's threshold and forest) is checked by the commands that load the estimator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models.base import Hourglass
from hourglass.params import AUTOENCODER
from hourglass.runtime.device import DEVICE, run_device
from hourglass.runtime.forward import check_finite, finite_output, out_dtype, run_network
from hourglass.schema import OneOf, Satisfies, validate
from hourglass.storage import modelfile
from hourglass.storage.folder import NETWORK_ARRAYS, config_schema, read_network

# The estimators whose transform, inverse_transform and reconstruct are their network's encode, decode and
# forward pass on scaled rows, so that this runs their folders (tests/test_inference.py holds every registered
# estimator to that, and to this list).
ESTIMATORS = ("Autoencoder", "AnomalyDetector")
_OBJECT = Satisfies(lambda value: isinstance(value, dict), "an object")
_ANYTHING = Satisfies(lambda value: True, "anything")


@dataclass(eq=False)
class InferenceModel:
    """A model folder's network and input scaling, run as the estimator that saved it runs them.

    Its attributes are named as the estimator's fitted ones, so code written for a loaded estimator's shape
    (``hourglass.data.model_input``, the command line's writers) takes either. Build one with ``load``.

    Attributes
    ----------
    model_ : hourglass.models.base.Hourglass
        The network, on the device the folder's ``params.device`` names, in eval mode.
    scaler_ : hourglass.data.scaling.Scaler
        The scaling learnt in training; the network sees its output.
    kind_ : str
        ``"image"`` or ``"table"``.
    sample_shape_ : tuple of int
        The shape of one sample.
    n_features_in_ : int
        Values per sample.
    feature_names_in_ : np.ndarray of str or None
        The column names of a model fitted on a named table, else None.
    data_source_ : str or None
        The training data's source, when the command line trained the model from a file or built-in name.
    data_options_ : dict or None
        How that data was read (its label column, an image folder's size and colour ...).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import hourglass
    >>> X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    >>> model = hourglass.Autoencoder(hidden=(8,), epochs=2, seed=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     saved = InferenceModel.load(model.save(f"{tmp}/model"))
    >>> bool(np.array_equal(saved.transform(X), model.transform(X)))
    True
    """

    model_: Hourglass
    scaler_: Scaler
    kind_: str
    sample_shape_: tuple[int, ...]
    n_features_in_: int
    feature_names_in_: np.ndarray | None = None
    data_source_: str | None = None
    data_options_: dict | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> InferenceModel:
        """Read and check a model folder of any estimator in ``ESTIMATORS``.

        Parameters
        ----------
        path : str or os.PathLike
            The model folder (``config.json`` and ``model.safetensors``).

        Returns
        -------
        InferenceModel

        Raises
        ------
        HourglassError
            The folder is missing, is a file, lacks a file, is of a newer format, or holds a corrupt or
            inconsistent config, network or scaling (in ``hourglass.load``'s words).
        """
        config, arrays = modelfile.load_folder(path)
        source = Path(path)
        where = str(source / modelfile.CONFIG)
        validate(config.get("estimator"), OneOf(*ESTIMATORS), where, "estimator")
        validate(config, config_schema(OneOf(*ESTIMATORS), _OBJECT, _ANYTHING), where)
        device = config["params"].get("device", AUTOENCODER.device)  # every estimator's default
        validate(device, DEVICE, where, "params.device")
        own = {k: v for k, v in arrays.items() if k.startswith(NETWORK_ARRAYS)}  # not the prior's, nor a forest's
        network, scaler = read_network(config, own, source)
        network.to(run_device(device)).eval()
        data = config["data"]
        names = data.get("feature_names")
        return cls(
            network,
            scaler,
            data["kind"],
            tuple(data["sample_shape"]),
            data["n_features"],
            np.asarray(names, dtype=object) if names else None,
            data.get("source"),
            data.get("options"),
        )

    @property
    def latent_dim(self) -> int:
        """Width of the code ``transform`` returns (a detector's members' codes side by side)."""
        return self.model_.latent_dim

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Encode rows (or images) to their codes, shape (n, latent_dim): ``Autoencoder.transform``'s numbers.

        ``X`` is what ``hourglass.data.model_input`` gives for this model: an array (or a memory map) of
        ``(n, *sample_shape_)`` or ``(n, n_features_in_)`` numbers.
        """
        flat = self._rows(X)
        return run_network(self.model_, self.scaler_, self.model_.encode, flat, self.latent_dim, out_dtype(flat))

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Decode codes, shape (n, latent_dim), to rows in the original units: ``inverse_transform``'s numbers."""
        Z = _as_float(Z)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            width = Z.shape[1] if Z.ndim == 2 else 1
            raise HourglassError(f"codes have {width} columns, but the model's code has {self.latent_dim}")
        check_finite(Z, "the codes")
        decoded = run_network(
            self.model_, self.scaler_, self.model_.decode, Z, self.n_features_in_, out_dtype(Z), scale_input=False
        )
        return finite_output(self.scaler_.inverse_transform(decoded).astype(decoded.dtype, copy=False))

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        """Rebuild X through the waist in X's shape and original units: ``Autoencoder.reconstruct``'s numbers."""
        flat = self._rows(X)
        rebuilt = run_network(self.model_, self.scaler_, self.model_, flat, self.n_features_in_, np.float32)
        return finite_output(self.scaler_.inverse_transform(rebuilt)).reshape(X.shape)

    def _rows(self, X: np.ndarray) -> np.ndarray:
        """X as the 2-D rows the estimator's ``_validate`` makes of it: a memory map as it is (it stays on
        disk), other arrays converted as scikit-learn's checks convert them."""
        if X.ndim < 2 or X.shape[0] == 0 or X.dtype.kind not in "biuf":
            raise HourglassError(f"need a non-empty 2-D array of numbers; got shape {X.shape}, dtype {X.dtype}")
        flat = X.reshape(X.shape[0], -1)
        if flat.shape[1] != self.n_features_in_:
            raise HourglassError(f"X has {flat.shape[1]} features, but the model expects {self.n_features_in_}")
        flat = flat if isinstance(X, np.memmap) else _as_float(flat)
        check_finite(flat)
        return flat


def _as_float(rows: np.ndarray) -> np.ndarray:
    """float32 and float64 as they are, anything else as float32: what scikit-learn's ``check_array`` makes of
    them for the estimator (the first of its dtypes), so that codes come back in the same dtype."""
    return rows if rows.dtype in (np.float32, np.float64) else rows.astype(np.float32)
