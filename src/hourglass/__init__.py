"""hourglass: autoencoders made practical and visible.

The public names load on first use (PEP 562), so ``import hourglass`` and the command line's start-up
stay light: torch, scikit-learn and pandas are imported only by what needs them.

Examples
--------
Fit a small autoencoder, encode, rebuild, generate, and keep it as a model folder:

>>> import tempfile
>>> import numpy as np
>>> import hourglass
>>> X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
>>> model = hourglass.Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(X)
>>> model.transform(X).shape  # one 2-number code per row
(64, 2)
>>> model.reconstruct(X[:3]).shape
(3, 5)
>>> model.sample(4, seed=0).shape  # codes drawn from a mixture fitted to the training codes, decoded
(4, 5)
>>> with tempfile.TemporaryDirectory() as tmp:
...     again = hourglass.load(model.save(f"{tmp}/model"))
...     bool(np.array_equal(again.transform(X), model.transform(X)))
True

The same network as an anomaly detector (an ensemble of them plus a nearest-neighbour distance):

>>> det = hourglass.AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2, seed=0, contamination=0.1).fit(X)
>>> det.predict(X[:4])  # +1 normal, -1 anomaly
array([1, 1, 1, 1])
>>> names, errors = det.top_features(X[:1], k=2)
>>> names
[['x3', 'x5']]
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from hourglass.errors import HourglassError

__version__ = "0.1.0"

_LAZY = {
    "AnomalyDetector": "hourglass.anomaly",
    "Autoencoder": "hourglass.estimator",
    "Dataset": "hourglass.data",
    "load_dataset": "hourglass.data",
    "evaluate_map": "hourglass.evaluations.maps",
}

# Subpackages reached as attributes (``hg.explorer.show(...)`` in a notebook), imported on first use too.
_SUBPACKAGES = ("explorer", "export", "viz")

__all__ = [
    "AnomalyDetector",
    "Autoencoder",
    "Dataset",
    "HourglassError",
    "__version__",
    "evaluate_map",
    "load",
    "load_dataset",
]

if TYPE_CHECKING:
    from hourglass.anomaly import AnomalyDetector
    from hourglass.data import Dataset, load_dataset
    from hourglass.estimator import Autoencoder
    from hourglass.evaluations.maps import evaluate_map


def load(path: str | os.PathLike) -> Autoencoder | AnomalyDetector:
    """Load a model folder written by ``save`` (or by ``hourglass train``), checked completely first.

    Every file is read and checked (the JSON against its schema, each tensor's name, shape and finiteness)
    before a model is built, so a damaged folder is one error rather than a half-loaded model.

    Parameters
    ----------
    path : str or os.PathLike
        The model folder (``config.json`` and ``model.safetensors``).

    Returns
    -------
    Autoencoder or AnomalyDetector
        The fitted estimator of the class that saved the folder, ready to use.

    Raises
    ------
    HourglassError
        The folder is missing, is a file, lacks a file, or holds a corrupt or inconsistent config or weights.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> import tempfile
    >>> import hourglass
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     again = hourglass.load(model.save(f"{tmp}/model"))
    ...     type(again).__name__, bool((again.transform(images) == model.transform(images)).all())
    ('Autoencoder', True)
    >>> hourglass.load("no/such/folder")
    Traceback (most recent call last):
    ...
    hourglass.errors.HourglassError: no/such/folder: no such model folder
    """
    from hourglass.registry import load as load_folder

    return load_folder(path)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"hourglass.{name}")  # binds it here too: later lookups skip this function
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hourglass' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES))
