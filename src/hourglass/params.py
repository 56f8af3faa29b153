"""What a user can set and its default, in a module that imports nothing heavy (only the standard library).

``Autoencoder`` and ``AnomalyDetector`` take their ``__init__`` defaults from here, and ``hourglass train
--help`` shows the same values without importing torch or scikit-learn, so the two cannot disagree. What
each parameter *accepts* stays with the estimator (``_parameter_specs``: its ranges need the model
registry, which imports torch); the command line checks its flags against that table before any data
is read (``hourglass.cli.common.check_params``).

The constants at the end are here for the same reason: the modules that use them import torch or
matplotlib, and ``--help`` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AutoencoderDefaults:
    """``hourglass.Autoencoder``'s defaults; its docstring says what each parameter means."""

    latent_dim: int = 2
    hidden: tuple[int, ...] | None = None  # the model's own (128,64 for mlp; 32,64 for conv)
    model: str = "auto"
    activation: str = "gelu"  # won every leave-one-dataset-out fold over 11 datasets (benchmarks/defaults.py)
    output_activation: str = "auto"
    scaling: str = "auto"
    loss: str = "mse"
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-2
    weight_decay: float = 0.0
    validation_fraction: float = 0.1
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    verbose: bool = False
    noise: str | None = None
    beta: float = 0.03
    structure: str | None = None
    n_neighbors: int = 15
    structure_weight: float = 1.0


@dataclass(frozen=True)
class DetectorDefaults:
    """``hourglass.anomaly.AnomalyDetector``'s defaults; its module docstring says how they were chosen."""

    latent_dim: int = 4
    hidden: tuple[int, ...] = (32,)
    n_members: int = 3
    trim: float = 0.2
    contamination: float | str = "auto"
    iforest: bool = True
    activation: str = "relu"
    scaling: str = "auto"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    noise: str | None = None
    validation_fraction: float = 0.1
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    verbose: bool = False


AUTOENCODER = AutoencoderDefaults()
DETECTOR = DetectorDefaults()

# What a ``device`` parameter may name (``hourglass.runtime.device.resolve_device`` says whether it is here).
DEVICE_PATTERN = r"auto|cpu|cuda(:\d{1,3})?"
DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
# The figures' file names, one list for `hourglass plot` (its figure names are the keys) and the demo's
# report (which also keeps the loss curve in its model folder), so the same figure has one name.
FIGURE_FILES = {
    "loss": "loss_curve.png",
    "reconstructions": "reconstructions.png",
    "latent": "latent_map.png",
    "manifold": "manifold.png",
}
# The syntax of a noise spec (``hourglass.data.noise.parse_noise``), for its error messages and --help.
NOISE_HELP = "gaussian:SIGMA, saltpepper:P or mask:P, joined with + (e.g. gaussian:0.3+mask:0.1)"
# Dots on the explorer's map; more data is subsampled (fixed seed) so the page stays small and fast.
MAX_POINTS = 20_000
# The interpolation walk's paths (``hourglass.viz.interpolate.PATHS``): straight line, great circle.
WALK_PATHS = ("linear", "spherical")
