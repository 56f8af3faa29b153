"""Anomaly detection: ``AnomalyDetector`` (``detector``), an autoencoder ensemble's reconstruction error plus
a nearest-neighbour distance (``knn``) and optionally an isolation forest (``iforest``), as an outlier score;
a flagged row's nearest normal row (``nearest``).

>>> from hourglass.anomaly import AnomalyDetector
"""

from hourglass.anomaly.detector import AnomalyDetector
from hourglass.anomaly.nearest import Deviation, NearestNormal

__all__ = ["AnomalyDetector", "Deviation", "NearestNormal"]
