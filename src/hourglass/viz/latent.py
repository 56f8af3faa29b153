"""The latent map: every code Z as a dot on a plane, coloured by label or by reconstruction error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from hourglass.viz.figure import new_figure

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from hourglass.viz.images import Model

MAX_CLASSES = 20  # more distinct labels than this are drawn on a continuous colour scale
MAX_POINTS = 20_000  # a scatter of more dots is slow to draw and no clearer


@dataclass
class Plane:
    """How codes map to the page: as they are for a 2-D code, by PCA for a wider one.

    Build one with ``Plane.fit``; ``latent_map`` and ``manifold`` share one so their axes agree.

    Attributes
    ----------
    latent_dim : int
        The code's width.
    pca : sklearn.decomposition.PCA or None, default None
        The projection of a code wider than 2; None otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.random.default_rng(0).normal(size=(50, 3))
    >>> plane = Plane.fit(codes)
    >>> plane.to_plane(codes).shape, plane.from_plane(np.zeros((1, 2))).shape, plane.note
    ((50, 2), (1, 3), ' (3-D code, PCA projection)')
    """

    latent_dim: int
    pca: PCA | None = None

    @classmethod
    def fit(cls, codes: np.ndarray) -> Plane:
        """The plane for ``codes`` of shape (n, latent_dim): PCA fitted to them when wider than 2."""
        codes = np.asarray(codes, np.float64)
        if codes.shape[1] <= 2:
            return cls(codes.shape[1])
        return cls(codes.shape[1], PCA(2, random_state=0).fit(codes))

    def to_plane(self, codes: np.ndarray) -> np.ndarray:
        """Points (n, 2) on the page for ``codes`` (n, latent_dim); a 1-D code gets y = 0."""
        codes = np.asarray(codes, np.float64)
        if self.pca is not None:
            return self.pca.transform(codes)
        if self.latent_dim == 1:
            return np.column_stack([codes[:, 0], np.zeros(len(codes))])
        return codes

    def from_plane(self, points: np.ndarray) -> np.ndarray:
        """Codes for points on the plane (for PCA, the point in the code space's 2-D PCA plane)."""
        points = np.asarray(points, np.float64)
        if self.pca is not None:
            return self.pca.inverse_transform(points)
        return points[:, : self.latent_dim]

    @property
    def axis_labels(self) -> tuple[str, str]:
        """The x and y axis labels (a PCA plane's give each component's share of the variance)."""
        if self.pca is not None:
            share = self.pca.explained_variance_ratio_
            return f"PC 1 of Z ({share[0]:.0%} of variance)", f"PC 2 of Z ({share[1]:.0%} of variance)"
        return ("z1", "z2") if self.latent_dim == 2 else ("z1", "")

    @property
    def note(self) -> str:
        """What titles append: how the code was put on the page (empty for a 2-D code)."""
        if self.pca is not None:
            return f" ({self.latent_dim}-D code, PCA projection)"
        return " (1-D code)" if self.latent_dim == 1 else ""


def latent_map(
    model: Model,
    X: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    codes: np.ndarray | None = None,
    path: np.ndarray | None = None,
    plane: Plane | None = None,
    title: str = "Latent map",
    seed: int = 0,
) -> Figure:
    """Scatter the codes of ``X``; ``labels`` only colour the dots (they never touched training).

    Without labels the dots are coloured by reconstruction error. ``path`` (codes, e.g. an
    interpolation walk) is drawn on top with its ends marked. Pass ``codes`` to skip encoding.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator.
    X : array-like, shape (n, *sample_shape)
        The rows to map (at most ``MAX_POINTS`` of them, a seeded subsample, are drawn).
    labels : array-like of shape (n,), optional
        Colours the dots by class; without them, by reconstruction error.
    codes : np.ndarray, shape (n, latent_dim), optional
        ``model.codes(X)`` when the caller has it already.
    path : np.ndarray, shape (steps, latent_dim), optional
        Codes drawn as a line on top, ends marked A and B.
    plane : Plane, optional
        How codes map to the page; by default fitted to ``codes`` (PCA beyond 2-D).
    title : str, default "Latent map"
    seed : int, default 0
        Seeds the subsample and a 1-D code's vertical jitter.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import Autoencoder
    >>> X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    >>> model = Autoencoder(latent_dim=3, hidden=(8,), epochs=2, seed=0).fit(X)
    >>> fig = latent_map(model, X, labels=np.arange(64) % 2)
    >>> fig.axes[0].get_title()
    'Latent map (3-D code, PCA projection)'
    """
    X = np.asarray(X)
    codes = model.codes(X) if codes is None else np.asarray(codes)
    plane = plane or Plane.fit(codes)
    keep = np.arange(len(codes))
    if len(keep) > MAX_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), MAX_POINTS, replace=False))
    points = plane.to_plane(codes[keep])
    if plane.latent_dim == 1:  # spread dots vertically so a 1-D code is not one solid line
        points[:, 1] = np.random.default_rng(seed).uniform(-1, 1, len(points))
    fig = new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    dot = max(2.0, min(14.0, 15_000 / len(points)))
    if labels is not None:
        _scatter_labels(fig, ax, points, np.asarray(labels)[keep], dot, names_on_map=path is None)
    else:
        errors = -model.score_samples(X[keep])
        sc = ax.scatter(
            points[:, 0],
            points[:, 1],
            c=errors,
            s=dot,
            cmap="viridis",
            linewidths=0,
            vmax=float(np.quantile(errors, 0.99)),
        )
        fig.colorbar(sc, ax=ax, label="reconstruction error (MSE, scaled units)", extend="max")
    if path is not None:
        line = plane.to_plane(np.asarray(path))
        if plane.latent_dim == 1:
            line[:, 1] = 0.0
        ax.plot(line[:, 0], line[:, 1], "-", color="black", linewidth=1.5, zorder=3)
        ax.plot(line[:, 0], line[:, 1], "o", color="white", markeredgecolor="black", markersize=4, zorder=4)
        for (x, y), name in ((line[0], "A"), (line[-1], "B")):
            ax.annotate(
                name,
                (x, y),
                xytext=(6, 6),
                textcoords="offset points",
                fontsize=11,
                weight="bold",
                zorder=5,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8},
            )
    xlabel, ylabel = plane.axis_labels
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or "(random jitter)")
    ax.set_title(title + plane.note, fontsize=10)
    ax.grid(alpha=0.2)
    _frame(ax, points, np.empty((0, 2)) if path is None else line)
    return fig


def _frame(ax: Axes, points: np.ndarray, keep: np.ndarray) -> None:
    """Limit the view to where nearly all codes are: one stray code must not shrink the rest to a dot."""
    lo, hi = np.quantile(points, [0.001, 0.999], axis=0)
    if len(keep):
        lo, hi = np.minimum(lo, keep.min(axis=0)), np.maximum(hi, keep.max(axis=0))
    margin = 0.05 * np.maximum(hi - lo, 1e-9)
    ax.set_xlim(lo[0] - margin[0], hi[0] + margin[0])
    if np.ptp(points[:, 1]) > 0:
        ax.set_ylim(lo[1] - margin[1], hi[1] + margin[1])
    outside = int(np.sum(np.any((points < lo - margin) | (points > hi + margin), axis=1)))
    if outside:
        ax.text(
            0.99,
            0.01,
            f"{outside} outlying code{'s' * (outside > 1)} beyond the frame",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color="0.4",
        )


def _scatter_labels(
    fig: Figure, ax: Axes, points: np.ndarray, labels: np.ndarray, dot: float, names_on_map: bool
) -> None:
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) > MAX_CLASSES and np.issubdtype(labels.dtype, np.number):
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, s=dot, cmap="viridis", linewidths=0)
        fig.colorbar(sc, ax=ax, label="label (not used in training)")
        return
    cmap = colormaps["tab20" if len(classes) > 10 else "tab10"]
    colors = [cmap(i) for i in range(cmap.N)]  # a listed map: integer i is its i-th colour
    shown = min(len(classes), MAX_CLASSES)
    rest = index >= shown
    if rest.any():
        ax.scatter(points[rest, 0], points[rest, 1], s=dot, color="0.7", linewidths=0, label="other")
    for k in range(shown):
        mine = index == k
        ax.scatter(points[mine, 0], points[mine, 1], s=dot, color=colors[k], linewidths=0, label=str(classes[k]))
        if not names_on_map:  # a drawn path needs the room; the legend still names the colours
            continue
        # The label at the class's median code shows where each cluster sits without hunting the legend.
        cx, cy = np.median(points[mine], axis=0)
        ax.text(
            cx,
            cy,
            str(classes[k]),
            fontsize=11,
            weight="bold",
            ha="center",
            va="center",
            color=colors[k],
            zorder=6,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colors[k], "alpha": 0.85},
        )
    ax.legend(
        title="label\n(not used\nin training)",
        fontsize=7,
        title_fontsize=7,
        markerscale=8 / np.sqrt(dot),
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
    )
