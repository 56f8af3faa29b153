"""``InferenceModel``: the network runner. A fitted network, its input scaling and the facts about its data, with
the one check of rows and codes and the one set of passes (encode, decode, reconstruct, score) that every user
of a model goes through.

``Autoencoder`` and ``AnomalyDetector`` each hold one (``runner_``) once fitted or loaded and delegate to it;
the command line's encode, decode and reconstruct load one straight from a model folder, and the explorer's
server asks the estimator's. So a row is checked with the same words and encoded to the same bits whichever
door it came in by.

This module imports torch but not scikit-learn: the estimators subclass scikit-learn's base classes, whose
import pulls in SciPy's statistics and pandas and takes about as long as torch's own, and the command line's
passes need none of it. Loading a folder here checks what the passes use, with ``hourglass.load``'s messages:
the format, the network and its tensors, the input scaling, the data's shape, the training summary and the
parameters that must agree with the network (``params.device`` among them). What only an estimator uses (its
other parameters, the code prior ``sample`` draws from, a detector's threshold, forest and reference rows) is checked by
``hourglass.load``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hourglass.data.scaling import Scaler
from hourglass.errors import HourglassError
from hourglass.models.base import Hourglass
from hourglass.params import AUTOENCODER
from hourglass.runtime.device import DEVICE, run_device
from hourglass.runtime.forward import check_finite, finite_output, out_dtype, run_network
from hourglass.schema import OneOf, Satisfies, validate
from hourglass.storage import modelfile
from hourglass.storage.folder import NETWORK_ARRAYS, config_schema, read_network
from hourglass.training.placement import PLACEMENT_ARRAYS, Placement

# The estimators whose folders this runs, and whether each clips its inputs to a window around the training
# range (a detector does not: how far out a row lies is what it measures). tests/test_inference.py holds this
# to ``hourglass.registry.ESTIMATORS`` and to each class's ``_clip_inputs``.
ESTIMATORS = {"Autoencoder": True, "AnomalyDetector": False}
_OBJECT = Satisfies(lambda value: isinstance(value, dict), "an object")
_ANYTHING = Satisfies(lambda value: True, "anything")


@dataclass(eq=False)
class InferenceModel:
    """A fitted network and its input scaling, run over rows and codes; build one with ``load`` or ``fit``.

    Its attributes are named as the estimators' fitted ones, so code written for a fitted model's shape
    (``hourglass.data.model_input``, the command line's writers) takes either.

    Attributes
    ----------
    model_ : hourglass.models.base.Hourglass
        The network, in eval mode.
    scaler_ : hourglass.data.scaling.Scaler
        The scaling learnt in training; the network sees its output.
    kind_ : str
        ``"image"`` or ``"table"``.
    sample_shape_ : tuple of int
        The shape of one sample.
    n_features_in_ : int
        Values per sample.
    estimator : str
        The class that fitted it (``"Autoencoder"`` or ``"AnomalyDetector"``), named by its messages.
    feature_names_in_ : np.ndarray of str or None
        The column names of a model fitted on a named table, else None.
    data_source_ : str or None
        The training data's source, when it was fitted on a ``Dataset`` that names one (``hourglass train``).
    data_options_ : dict or None
        How that data was read (its label column, an image folder's size and colour ...).
    placement : hourglass.training.placement.Placement or None
        With an Autoencoder's ``placement="neighbors"``: the kept training rows and their places, by which
        ``encode`` places rows; None: the encoder's codes.

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
    estimator: str
    feature_names_in_: np.ndarray | None = None
    data_source_: str | None = None
    data_options_: dict | None = None
    placement: Placement | None = None

    # ---------------------------------------------------------------------------------- loading
    @classmethod
    def load(cls, path: str | os.PathLike) -> InferenceModel:
        """Read and check a model folder of any estimator in ``ESTIMATORS``.

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
        own = {k: v for k, v in arrays.items() if k.startswith((*NETWORK_ARRAYS, PLACEMENT_ARRAYS))}  # no prior
        return cls.from_config(config, own, source, device)

    @classmethod
    def from_config(
        cls, config: dict[str, Any], arrays: dict[str, np.ndarray], source: Path, device: str
    ) -> InferenceModel:
        """The runner a checked config.json describes, its network built from ``arrays`` (checked here) and
        put on ``device``'s run device (the CPU when the saved GPU is absent)."""
        estimator = config["estimator"]
        placing = config["params"].get("placement") == "neighbors"
        kept = {k: v for k, v in arrays.items() if placing and k.startswith(PLACEMENT_ARRAYS)}
        network_arrays = {k: v for k, v in arrays.items() if k not in kept}  # any other is refused as unexpected
        network, scaler = read_network(config, network_arrays, source, clipped=ESTIMATORS[estimator])
        placement = None
        if placing:
            k = config["params"].get("n_neighbors", AUTOENCODER.n_neighbors)
            where = str(source / modelfile.WEIGHTS)
            placement = Placement.from_arrays(kept, config["data"]["n_features"], network.latent_dim, k, where)
        network.to(run_device(device)).eval()
        data = config["data"]
        names = data.get("feature_names")
        return cls(
            model_=network,
            scaler_=scaler,
            kind_=data["kind"],
            sample_shape_=tuple(data["sample_shape"]),
            n_features_in_=data["n_features"],
            estimator=estimator,
            feature_names_in_=np.asarray(names, dtype=object) if names else None,
            data_source_=data.get("source"),
            data_options_=data.get("options"),
            placement=placement,
        )

    @property
    def latent_dim(self) -> int:
        """Width of the code ``transform`` returns (a detector's members' codes side by side)."""
        return self.model_.latent_dim

    # ------------------------------------------------------------------------------- the checks
    def rows(self, X: np.ndarray) -> np.ndarray:
        """``X`` checked and as 2-D rows: an array (or a memory map) of ``(n, *sample_shape_)`` or
        ``(n, n_features_in_)`` numbers, finite in float32. A memory map stays one (it stays on disk); other
        arrays are converted as scikit-learn's checks convert them for the estimators."""
        if X.ndim < 2 or X.shape[0] == 0 or X.dtype.kind not in "biuf":
            raise HourglassError(f"need a non-empty 2-D array of numbers; got shape {X.shape}, dtype {X.dtype}")
        if X.ndim > 2:
            self.check_images(X.shape[1:])
        flat = X.reshape(X.shape[0], -1)
        if flat.shape[1] != self.n_features_in_:
            # scikit-learn's words for it, which its estimator checks hold the estimators to.
            raise HourglassError(
                f"X has {flat.shape[1]} features, but {self.estimator} is expecting {self.n_features_in_} "
                "features as input."
            )
        flat = flat if isinstance(X, np.memmap) else _as_float(flat)
        check_finite(flat)
        return flat

    def check_images(self, shape: tuple[int, ...]) -> None:
        """Refuse images (samples of more than one dimension) of another shape than the training samples'."""
        if tuple(shape) != self.sample_shape_:
            raise HourglassError(
                f"got images of shape {tuple(shape)}, but the model was trained on {self.sample_shape_}"
            )

    def codes(self, Z: np.ndarray) -> np.ndarray:
        """Codes checked: shape (n, latent_dim), finite in float32."""
        Z = _as_float(np.asarray(Z))
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            width = Z.shape[1] if Z.ndim == 2 else 1
            raise HourglassError(f"codes have {width} columns, but the model's code has {self.latent_dim}")
        check_finite(Z, "the codes")
        return Z

    # ------------------------------------------------------------------------------- the passes
    def transform(self, X: np.ndarray) -> np.ndarray:
        """Encode rows (or images) to their codes, shape (n, latent_dim)."""
        return self.encode(self.rows(X))

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Decode codes, shape (n, latent_dim), to rows in the original units, shape (n, n_features_in_)."""
        return self.decode(self.codes(Z))

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        """Rebuild X through the waist, in X's shape and original units."""
        return self.rebuild(self.rows(X)).reshape(X.shape)

    def encode(self, flat: np.ndarray, placed: bool = True) -> np.ndarray:
        """Checked rows (``rows``) -> codes, float32 for float32 rows, else float64: the encoder's, or with a
        ``placement`` (unless ``placed`` is False) the places of the rows by their nearest kept training rows."""
        if self.placement is None or not placed:
            return self.run(self.model_.encode, flat, self.latent_dim, out_dtype(flat))
        by_cell = self.placement.by_cell  # else every kept row is searched: no encoder pass at all
        if not self.placement.indexed:  # the search over the kept rows (by cell: their codes' grid), built once
            kept = self.placement.rows
            kept_codes = self.run(self.model_.encode, kept, self.latent_dim, np.float32, False) if by_cell else None
            self.placement.index(kept_codes)
        codes = self.run(self.model_.encode, flat, self.latent_dim, out_dtype(flat)) if by_cell else None
        return self.placement.place(flat, codes, self.scaler_.transform).astype(out_dtype(flat), copy=False)

    def decode(self, Z: np.ndarray) -> np.ndarray:
        """Checked codes (``codes``) -> rows in the original units, shape (n, n_features_in_)."""
        decoded = self.run(self.model_.decode, Z, self.n_features_in_, out_dtype(Z), scale_input=False)
        return finite_output(self.scaler_.inverse_transform(decoded).astype(decoded.dtype, copy=False))

    def rebuild(self, flat: np.ndarray) -> np.ndarray:
        """Checked rows -> their reconstructions in the original units, flat, float32."""
        rebuilt = self.run(self.model_, flat, self.n_features_in_, np.float32)
        return finite_output(self.scaler_.inverse_transform(rebuilt))

    def neg_errors(self, flat: np.ndarray) -> np.ndarray:
        """Checked rows -> minus the mean squared reconstruction error per row in scaled units, float64.

        Inputs are clipped to a window around the training range before the network sees them; the squared
        distance the clip removed is added to the error, so rows beyond the window keep their order (a row
        1e30 out scores below one 1e6 out; clipped alone, they tied). Rows inside the window are unchanged.
        """

        def neg_error(x: torch.Tensor) -> torch.Tensor:
            return -torch.mean((self.model_(x) - x) ** 2, dim=1, keepdim=True)

        scores = self.run(neg_error, flat, 1, np.float64, allow_inf=True)[:, 0]
        return scores - self.scaler_.clipped_away(flat)

    def run(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        rows: np.ndarray,
        out_width: int,
        dtype: Any,
        scale_input: bool = True,
        allow_inf: bool = False,
    ) -> np.ndarray:
        """``fn`` over the rows (scaled first unless ``scale_input`` is False) in large chunks: see
        ``hourglass.runtime.forward.run_network``."""
        return run_network(self.model_, self.scaler_, fn, rows, out_width, dtype, scale_input, allow_inf)


def _as_float(rows: np.ndarray) -> np.ndarray:
    """float32 and float64 as they are, anything else as float32: what scikit-learn's ``check_array`` makes of
    them for the estimator (the first of its dtypes), so that codes come back in the same dtype."""
    return rows if rows.dtype in (np.float32, np.float64) else rows.astype(np.float32)
