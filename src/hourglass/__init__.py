"""hourglass: autoencoders made practical and visible."""

from hourglass.anomaly import AnomalyDetector
from hourglass.data import Dataset, load_dataset
from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder, load

__version__ = "0.1.0"

__all__ = ["AnomalyDetector", "Autoencoder", "Dataset", "HourglassError", "__version__", "load", "load_dataset"]
