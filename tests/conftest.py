import os

# scikit-learn runs its array-API check (NumPy inputs with dispatch on) only when SciPy was imported
# with this set, so set it before anything imports SciPy: the estimator checks then skip nothing.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from hypothesis import settings

import hourglass as hg

# CI runs the hostile-input corpora the same way every time (a red CI must be reproducible);
# HYPOTHESIS_PROFILE=explore draws fresh cases, as a fuzzing session should.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def mnist7():
    return hg.load_dataset("mnist7")


@pytest.fixture(scope="session")
def small_model(mnist7):
    """A quickly trained 49 -> 2 model on 1,000 digits, shared by read-only tests."""
    return hg.Autoencoder(hidden=(32,), epochs=15, seed=0).fit(mnist7.X[:1000])


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    X = np.column_stack([z[:, 0], z[:, 1], z[:, 0] + z[:, 1], z[:, 0] - z[:, 1], rng.normal(size=200) * 0.1])
    return X.astype(np.float32)


# The slow tier's statistical tests read the demo's own models, trained once per worker: the default 2-number
# autoencoder on mnist7's training split, and the 40-epoch denoiser beside it (the demo run reuses both).
@pytest.fixture(scope="session")
def demo_result():
    """``train_demo()``: the default autoencoder on mnist7's training split, its held-out rows and scores."""
    from hourglass.demo.run import train_demo

    return train_demo(verbose=False)


@pytest.fixture(scope="session")
def demo_denoiser(demo_result):
    """``denoise_demo()`` on the demo's digits: the 40-epoch denoiser and its evaluation on the held-out ones."""
    from hourglass.demo.denoise import denoise_demo

    return denoise_demo(demo_result)
