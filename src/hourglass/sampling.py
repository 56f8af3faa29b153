"""A prior over codes for a plain autoencoder: a Gaussian mixture fitted to the training codes.

A plain autoencoder learns no distribution over its code, so decoding random normal noise lands
mostly where no training code ever was. Fitting a mixture to where the codes really are, and
sampling from it, gives codes the decoder knows how to draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from hourglass.errors import HourglassError

MAX_COMPONENTS = 10
MAX_FIT_ROWS = 20_000  # a mixture over a few thousand codes is as good as over millions, and far cheaper
ARRAY_KEYS = ("weights", "means", "covariances")


@dataclass
class Prior:
    """Mixture weights (k,), means (k, d) and full covariances (k, d, d) of the codes."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` codes drawn from the mixture; the same seed always gives the same codes."""
        if n < 0:
            raise HourglassError(f"cannot draw {n} samples; need n >= 0")
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        chol = np.linalg.cholesky(self.covariances)
        noise = rng.standard_normal((n, self.means.shape[1]))
        return self.means[component] + np.einsum("nij,nj->ni", chol[component], noise)

    def to_arrays(self, prefix: str = "prior.") -> dict[str, np.ndarray]:
        return {prefix + key: np.asarray(getattr(self, key), np.float64) for key in ARRAY_KEYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "prior.") -> Prior | None:
        """The prior stored by ``to_arrays``, or None for a model saved without one."""
        if not all(prefix + key in arrays for key in ARRAY_KEYS):
            return None
        return cls(*(np.asarray(arrays[prefix + key], np.float64) for key in ARRAY_KEYS))


def fit_prior(codes: np.ndarray, n_components: int = MAX_COMPONENTS, seed: int = 0) -> Prior:
    """Fit a full-covariance Gaussian mixture to ``codes`` (n, d)."""
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or len(codes) < 1:
        raise HourglassError(f"need a non-empty 2-D array of codes to fit a prior; got shape {codes.shape}")
    if len(codes) == 1:  # nothing to fit: all mass on the one code (sklearn's mixture needs two)
        return Prior(np.ones(1), codes.copy(), np.full((1, 1, 1), 1e-12) * np.eye(codes.shape[1]))
    rng = np.random.default_rng(seed)
    if len(codes) > MAX_FIT_ROWS:
        codes = codes[rng.choice(len(codes), MAX_FIT_ROWS, replace=False)]
    k = max(1, min(n_components, len(codes) // 10))  # at least ~10 codes per component
    gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6 * float(codes.var()) + 1e-12, random_state=seed)
    # A few thousand 2-D points: BLAS/OpenMP threads only add overhead (2 s vs 0.1 s on a busy 2-core box).
    with threadpool_limits(1):
        gmm.fit(codes)
    return Prior(gmm.weights_, gmm.means_, gmm.covariances_)
