"""The estimators a model folder may name, in one visible list, and ``load``, which reads a folder as the class
it names (``hourglass.load``)."""

from __future__ import annotations

import os

from hourglass import persistence
from hourglass.anomaly.detector import AnomalyDetector
from hourglass.estimator import Autoencoder

# config.json's "estimator" -> the class that reads the folder (hourglass.inference.ESTIMATORS lists the same
# names for the command line, which runs a folder without importing these).
ESTIMATORS: dict[str, type[Autoencoder] | type[AnomalyDetector]] = {
    "Autoencoder": Autoencoder,
    "AnomalyDetector": AnomalyDetector,
}


def load(path: str | os.PathLike) -> Autoencoder | AnomalyDetector:
    """The fitted estimator a model folder holds, every file checked before it is used (see ``hourglass.load``)."""
    return persistence.load(path, ESTIMATORS)
