"""``_Estimator``: the small base both estimators share.

It holds what ``Autoencoder`` and ``AnomalyDetector`` have alike and nothing they differ in: the parameter
check, the fitted runner (``hourglass.inference.InferenceModel``, through which every pass over rows or codes
goes), ``reconstruct``, ``save`` and the notebook card. ``fit`` is each estimator's own, a few calls to
``hourglass.fitting``; a folder is written and read by ``hourglass.persistence``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from hourglass import persistence
from hourglass.card import estimator_card
from hourglass.data.inputs import check_columns
from hourglass.fitting import checked_array
from hourglass.params import Table, check
from hourglass.schema import Spec


def _runner_fact(name: str, doc: str) -> property:
    return property(lambda self: getattr(self.runner_, name), doc=doc)


class _Estimator(BaseEstimator):
    """What both estimators share: their parameters checked against their table in ``hourglass.params`` when
    ``fit`` starts, and once fitted (or loaded) one ``runner_`` that every pass over rows or codes goes through.

    A subclass writes its own ``fit``, which sets ``runner_``, ``history_`` and ``prior_`` (and scikit-learn's
    ``n_features_in_``), and says what it saves beside the network (``_fitted_state``, ``_fitted_schema``,
    ``_restore_fitted``; the plain autoencoder saves nothing more).
    """

    # The estimator's parameters, defined once (``hourglass.params``): what each accepts, for fit and for load.
    _params: ClassVar[Table]
    _parameter_specs: ClassVar[dict[str, Spec]]
    # Whether inputs far outside the training range are clipped to a window around it (see scaling.py).
    _clip_inputs: ClassVar[bool] = True
    # Arrays of the subclass's own fitted state in model.safetensors start with this (see ``_fitted_state``).
    _state_prefixes: ClassVar[tuple[str, ...]] = ()  # the names of what _fitted_state saves start so

    # The runner's facts, under the names scikit-learn's fitted attributes have.
    model_ = _runner_fact("model_", "The trained network (``hourglass.models.base.Hourglass``).")
    scaler_ = _runner_fact("scaler_", "The input scaling learnt in fit (``hourglass.data.scaling.Scaler``).")
    kind_ = _runner_fact("kind_", '``"image"`` or ``"table"``.')
    sample_shape_ = _runner_fact("sample_shape_", "The shape of one sample.")
    data_source_ = _runner_fact("data_source_", "Where the training Dataset came from, or None.")
    data_options_ = _runner_fact("data_options_", "How the training Dataset was read, or None.")

    def _validate_params(self) -> None:
        """Check every parameter against the table; the first bad one is one ``ParameterError`` naming it."""
        check(self._params, self.get_params(deep=False))

    def _rows(self, X: Any) -> np.ndarray:
        """X checked by the runner and as 2-D rows; scikit-learn converts a table (a DataFrame, lists) first
        and checks its column names. A memory map goes to the runner as it is, so it stays on disk."""
        check_is_fitted(self)
        if isinstance(X, np.memmap):
            return self.runner_.rows(X)
        check_columns(X)  # a DataFrame's dates: one line naming them, not numpy's DTypePromotionError
        if isinstance(X, np.ndarray) and X.ndim > 2:
            self.runner_.check_images(X.shape[1:])  # before scikit-learn counts their pixels as features
            X = X.reshape(X.shape[0], -1)
        return self.runner_.rows(checked_array(self, X, reset=False))

    def codes(self, X: Any) -> np.ndarray:
        """X's codes, shape (n, latent_dim): ``Autoencoder.transform``. An anomaly detector, which is no
        transformer, has codes too (its members' side by side); the explorer and the latent map draw them."""
        flat = self._rows(X)  # checks it is fitted first
        return self.runner_.encode(flat)

    def reconstruct(self, X: Any) -> np.ndarray:
        """Rebuild X through the waist, X_hat = G(F(X)), in X's shape and original units."""
        shape = np.shape(X)
        flat = self._rows(X)
        return self.runner_.rebuild(flat).reshape(shape)

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
        >>> import hourglass
        >>> X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
        >>> model = hourglass.Autoencoder(hidden=(8,), epochs=2, seed=0).fit(X)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     sorted(os.listdir(model.save(f"{tmp}/model")))
        ['config.json', 'model.safetensors']
        """
        return persistence.save(self, path, extra_files)

    def _fitted_state(self) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
        """What ``fit`` learnt beside the network, the scaling and the prior: numbers for config.json's ``fitted``
        field (checked against ``_fitted_schema``) and arrays for model.safetensors (named under
        ``_state_prefixes``)."""
        return None, {}

    @classmethod
    def _fitted_schema(cls) -> dict[str, Any] | None:
        return None

    def _restore_fitted(self, config: dict[str, Any], state: dict[str, np.ndarray], source: Path) -> None:
        """Set what ``_fitted_state`` saved: ``config["fitted"]`` (already checked against the schema) and the
        arrays named under ``_state_prefixes`` (not checked yet)."""

    def _html_repr(self) -> str:
        """Jupyter's view (``_repr_html_``, ``_repr_mimebundle_``): once fitted, a card with the architecture,
        the loss curves, a small latent map and the held-out error, above scikit-learn's parameter diagram."""
        diagram = super()._html_repr()
        return estimator_card(self) + diagram if hasattr(self, "runner_") else diagram
