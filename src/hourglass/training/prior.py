"""A prior over codes for a plain autoencoder: a Gaussian mixture fitted to the training codes.

A plain autoencoder learns no distribution over its code, so decoding random normal noise lands
mostly where no training code ever was. Fitting a mixture to where the codes really are, and
sampling from it, gives codes the decoder knows how to draw.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from hourglass.errors import HourglassError

MAX_COMPONENTS = 10
MAX_FIT_ROWS = 20_000  # a mixture over a few thousand codes is as good as over millions, and far cheaper
ARRAY_KEYS = ("weights", "means", "covariances")
MAX_STORED_COMPONENTS = 1000  # what a loaded prior may hold (fit_prior makes at most MAX_COMPONENTS)


@dataclass
class Prior:
    """A Gaussian mixture over d-dimensional codes (``fit_prior`` makes one).

    Attributes
    ----------
    weights : np.ndarray, shape (k,)
        Mixture weights (they sum to 1).
    means : np.ndarray, shape (k, d)
    covariances : np.ndarray, shape (k, d, d)
        Full, symmetric positive-definite covariances.

    Examples
    --------
    >>> import numpy as np
    >>> prior = Prior(np.array([1.0]), np.zeros((1, 2)), np.eye(2)[None])
    >>> prior.sample(3, seed=0).shape
    (3, 2)
    >>> bool(np.array_equal(prior.sample(3, seed=0), prior.sample(3, seed=0)))  # same seed, same codes
    True
    """

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
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], prefix: str = "prior.", latent_dim: int | None = None, where: str = "prior"
    ) -> Prior | None:
        """The prior stored by ``to_arrays`` (checked: see ``check``), or None for a model saved without one."""
        present = [key for key in ARRAY_KEYS if prefix + key in arrays]
        if not present:
            return None
        extra = sorted(k for k in arrays if k.startswith(prefix) and k[len(prefix) :] not in ARRAY_KEYS)
        if len(present) < len(ARRAY_KEYS) or extra:
            odd = extra[0] if extra else prefix + next(k for k in ARRAY_KEYS if k not in present)
            raise HourglassError(f"{where}: the code prior is incomplete or damaged (tensor {odd[:80]!r})")
        prior = cls(*(arrays[prefix + key] for key in ARRAY_KEYS))
        prior.check(latent_dim, f"{where}: the code prior")
        prior.weights, prior.means, prior.covariances = (
            np.asarray(a, np.float64) for a in (prior.weights, prior.means, prior.covariances)
        )
        return prior

    def check(self, latent_dim: int | None, where: str) -> None:
        """Shapes (k,), (k, d), (k, d, d); finite; weights >= 0 summing to 1; covariances symmetric
        positive definite (what ``sample`` needs), so a damaged prior fails on loading, in one line."""
        arrays = {"weights": self.weights, "means": self.means, "covariances": self.covariances}
        if any(a.dtype.kind != "f" for a in arrays.values()):
            raise HourglassError(f"{where}: its tensors must hold floating-point numbers")
        k = self.weights.shape[0] if self.weights.ndim == 1 else -1
        d = latent_dim if latent_dim is not None else (self.means.shape[-1] if self.means.ndim == 2 else -1)
        shapes = {"weights": (k,), "means": (k, d), "covariances": (k, d, d)}
        for name, a in arrays.items():
            if not 1 <= k <= MAX_STORED_COMPONENTS or a.shape != shapes[name]:
                raise HourglassError(
                    f"{where}: {name} has shape {a.shape}; expected {shapes[name]} with 1 <= k <= 1000"
                )
            if not np.isfinite(a).all():
                raise HourglassError(f"{where}: {name} hold NaN or infinite values")
        if (self.weights < 0).any() or abs(float(self.weights.sum()) - 1) > 1e-6:
            raise HourglassError(f"{where}: weights must be >= 0 and sum to 1")
        cov = np.asarray(self.covariances, np.float64)
        if not np.allclose(cov, cov.transpose(0, 2, 1), rtol=1e-6, atol=0):
            raise HourglassError(f"{where}: covariances must be symmetric")
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise HourglassError(f"{where}: covariances must be positive definite") from None


def fit_prior(codes: np.ndarray, n_components: int = MAX_COMPONENTS, seed: int = 0) -> Prior:
    """Fit a full-covariance Gaussian mixture to ``codes``.

    Parameters
    ----------
    codes : np.ndarray, shape (n, d)
        Training codes; at most ``MAX_FIT_ROWS`` of them (a seeded subsample) are used.
    n_components : int, default ``MAX_COMPONENTS`` (10)
        The most components; fewer are fitted when there are fewer than ten codes per component, or
        fewer distinct codes.
    seed : int, default 0
        Seeds the subsample and the mixture's initialisation.

    Returns
    -------
    Prior

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.random.default_rng(0).normal(size=(200, 2))
    >>> prior = fit_prior(codes, n_components=2)
    >>> prior.means.shape, prior.covariances.shape
    ((2, 2), (2, 2, 2))
    >>> print(round(float(prior.weights.sum()), 6))
    1.0
    """
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or len(codes) < 1:
        raise HourglassError(f"need a non-empty 2-D array of codes to fit a prior; got shape {codes.shape}")
    if len(codes) == 1:  # nothing to fit: all mass on the one code (sklearn's mixture needs two)
        return Prior(np.ones(1), codes.copy(), np.full((1, 1, 1), 1e-12) * np.eye(codes.shape[1]))
    rng = np.random.default_rng(seed)
    if len(codes) > MAX_FIT_ROWS:
        codes = codes[rng.choice(len(codes), MAX_FIT_ROWS, replace=False)]
    # At least ~10 codes per component, and no more components than distinct codes (constant data
    # encodes to one point, where k-means would warn and the mixture degenerate).
    k = max(1, min(n_components, len(codes) // 10, len(np.unique(codes, axis=0))))
    gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6 * float(codes.var()) + 1e-12, random_state=seed)
    # A few thousand 2-D points: BLAS/OpenMP threads only add overhead, many times the fit on a busy machine.
    # Codes are NumPy here whatever the caller's array-API setting (k-means init does not dispatch).
    with threadpool_limits(1), config_context(array_api_dispatch=False), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        gmm.fit(codes)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        warnings.warn("the mixture that sample() draws codes from did not converge; samples may be poor", stacklevel=3)
    return Prior(gmm.weights_, gmm.means_, gmm.covariances_)
