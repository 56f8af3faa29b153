"""The doctests' shared models (`pytest --doctest-modules src/hourglass`), fitted once instead of per docstring.

An Example about something other than fitting reads ``images``, ``model`` or ``detector`` from here, and its first
line says how they were made; ``hourglass/__init__.py``'s Example shows the fit itself.
"""

import warnings

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _fitted(doctest_namespace: dict[str, object]) -> None:
    from hourglass import AnomalyDetector, Autoencoder

    images = np.random.default_rng(0).integers(0, 256, size=(32, 4, 4), dtype=np.uint8)  # 32 random 4x4 images
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs on noise: no better than the mean, and not what they show
        model = Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
        detector = AnomalyDetector(latent_dim=2, hidden=(8,), epochs=2).fit(images)
    doctest_namespace.update(images=images, model=model, detector=detector)
