"""Anomaly detection: ``AnomalyDetector`` (``detector``), an autoencoder ensemble's reconstruction error plus
an isolation forest (``iforest``), as an outlier score.

>>> from hourglass.anomaly import AnomalyDetector
"""

from hourglass.anomaly.detector import AnomalyDetector

__all__ = ["AnomalyDetector"]
