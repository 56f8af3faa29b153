"""hourglass: autoencoders made practical and visible.

The public names load on first use (PEP 562), so ``import hourglass`` and the command line's start-up
stay light: torch, scikit-learn and pandas are imported only by what needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hourglass.errors import HourglassError

__version__ = "0.1.0"

_LAZY = {
    "AnomalyDetector": "hourglass.anomaly",
    "Autoencoder": "hourglass.estimator",
    "load": "hourglass.estimator",
    "Dataset": "hourglass.data",
    "load_dataset": "hourglass.data",
    "evaluate_map": "hourglass.maps",
}

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
    from hourglass.estimator import Autoencoder, load
    from hourglass.maps import evaluate_map


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hourglass' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
