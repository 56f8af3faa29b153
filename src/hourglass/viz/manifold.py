"""The manifold grid: decode a regular grid over where the codes lie and tile what comes out."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from hourglass.errors import HourglassError
from hourglass.viz.figure import new_figure
from hourglass.viz.images import PAD_VALUE, centers, require_images, show, tile, to_unit
from hourglass.viz.latent import Plane

if TYPE_CHECKING:
    from hourglass.viz.images import Model


def _linear(values: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    a, b = np.quantile(values, [lo, hi])
    return np.linspace(a, b, n)


def _quantile(values: np.ndarray, lo: float, hi: float, n: int) -> np.ndarray:
    return np.quantile(values, np.linspace(lo, hi, n))


# "linear": evenly spaced in latent units between the low and high quantile (a true map of the plane);
# "quantile": one tile per equal share of the codes, so dense clusters get as many tiles as sparse tails.
SPACINGS: dict[str, Callable[[np.ndarray, float, float, int], np.ndarray]] = {"linear": _linear, "quantile": _quantile}


def manifold_grid(
    model: Model,
    codes: np.ndarray,
    n: int = 15,
    quantiles: tuple[float, float] = (0.02, 0.98),
    plane: Plane | None = None,
    spacing: str = "linear",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode an ``n`` x ``n`` grid spanning the ``quantiles`` of the codes on the latent plane.

    Quantiles, not a fixed +/-3: a plain autoencoder's codes can sit anywhere, and the tails are
    sparse. A 1-D code gives one row; a wider code is gridded on its 2-D PCA plane.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A fitted estimator.
    codes : np.ndarray, shape (n, latent_dim)
        The codes the grid spans (``model.codes(X)``).
    n : int, default 15
        Grid points per side (at least 2).
    quantiles : tuple of (float, float), default (0.02, 0.98)
        The low and high quantile of the codes the grid spans, ``0 <= low < high <= 1``.
    plane : Plane, optional
        How codes map to the page; by default fitted to ``codes``.
    spacing : {"linear", "quantile"}, default "linear"
        ``"linear"``: evenly spaced in latent units (a true map of the plane); ``"quantile"``: one point
        per equal share of the codes, so dense clusters get as many tiles as sparse tails.

    Returns
    -------
    images : np.ndarray, shape (rows, n, *sample_shape)
        The decoded grid in the model's units, the top row at the largest y (``rows`` is 1 for a 1-D code).
    xs, ys : np.ndarray
        The grid coordinates in latent units (ascending).

    Raises
    ------
    HourglassError
        ``n`` under 2, quantiles out of order or range, or an unknown ``spacing``.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> grid, xs, ys = manifold_grid(model, model.transform(images), n=3)
    >>> grid.shape, xs.shape, ys.shape
    ((3, 3, 4, 4), (3,), (3,))
    """
    if n < 2:
        raise HourglassError(f"a manifold grid needs at least 2 points per side; got {n}")
    lo, hi = quantiles
    if not 0 <= lo < hi <= 1:
        raise HourglassError(f"quantiles must satisfy 0 <= low < high <= 1; got {quantiles}")
    if spacing not in SPACINGS:
        raise HourglassError(f"unknown grid spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    plane = plane or Plane.fit(codes)
    points = plane.to_plane(codes)
    xs = SPACINGS[spacing](points[:, 0], lo, hi, n)
    ys = SPACINGS[spacing](points[:, 1], lo, hi, n) if plane.latent_dim > 1 else np.zeros(1)
    gx, gy = np.meshgrid(xs, ys[::-1])
    grid = plane.from_plane(np.column_stack([gx.ravel(), gy.ravel()])).astype(np.float32)
    images = model.runner_.inverse_transform(grid).reshape(len(ys), n, *model.sample_shape_)
    return images, xs, ys


def occupied(points: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Which grid cells hold at least one code: bool (len(ys), len(xs)), top row at the largest y.

    A cell is the box around its grid point out to halfway to its neighbors (half a step beyond the
    outer points), so the cells tile the grid's span without gaps, evenly or quantile-spaced alike.
    """

    def edges(v: np.ndarray) -> np.ndarray:
        if len(v) == 1:
            return np.array([-np.inf, np.inf])
        mid = (v[1:] + v[:-1]) / 2
        return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])

    y = points[:, 1] if points.shape[1] > 1 else np.zeros(len(points))
    counts = np.histogram2d(y, points[:, 0], bins=[edges(ys), edges(xs)])[0]
    return counts[::-1] > 0


def manifold(
    model: Model,
    X: ArrayLike | None = None,
    n: int = 15,
    *,
    codes: np.ndarray | None = None,
    quantiles: tuple[float, float] = (0.02, 0.98),
    plane: Plane | None = None,
    spacing: str = "linear",
    where_data: bool = True,
) -> Figure:
    """Tile the decoded grid; tick labels give each tile's code in latent units.

    ``where_data``: cells of the grid that hold no code are left blank (grey) rather than decoded. A code
    that keeps clusters apart (``structure="neighbors"``) leaves empty plane between them, where the
    decoder's drawing is a guess about codes no input ever had.

    Parameters
    ----------
    model : Autoencoder or AnomalyDetector
        A model fitted on images.
    X : array-like, shape (n, H, W[, C]), optional
        Rows whose codes the grid spans; not needed when ``codes`` is given.
    n : int, default 15
        Tiles per side.
    codes : np.ndarray, shape (n, latent_dim), optional
        ``model.codes(X)`` when the caller has it already.
    quantiles : tuple of (float, float), default (0.02, 0.98)
    plane : Plane, optional
    spacing : {"linear", "quantile"}, default "linear"
        As for ``manifold_grid``.
    where_data : bool, default True
        Leave cells that hold no code blank (grey).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    HourglassError
        The model was trained on a table, or as ``manifold_grid``.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> type(manifold(model, images, n=3)).__name__
    'Figure'
    """
    require_images(model, "manifold grid")
    codes = model.codes(np.asarray(X)) if codes is None else np.asarray(codes)
    plane = plane or Plane.fit(codes)
    images, xs, ys = manifold_grid(model, codes, n, quantiles, plane, spacing)
    rows, cols, h, w = images.shape[:4]
    tiles = to_unit(model, images.reshape(rows * cols, *images.shape[2:]))
    empty = ~occupied(plane.to_plane(codes), xs, ys).ravel() if where_data else np.zeros(len(tiles), bool)
    tiles[empty] = PAD_VALUE
    fig = new_figure(6.4, 6.2 if rows > 1 else 1.8)
    ax = fig.add_subplot()
    show(ax, tile(tiles, cols))
    # Ticks sit on tile centres and read in latent units, whether the grid is even or quantile-spaced.
    every = max(1, cols // 6)
    ax.set_xticks(centers(cols, w)[::every], [f"{v:.2g}" for v in xs[::every]], fontsize=8)
    xlabel, ylabel = plane.axis_labels
    ax.set_xlabel(xlabel)
    if rows > 1:
        ax.set_yticks(centers(rows, h)[::every], [f"{v:.2g}" for v in ys[::-1][::every]], fontsize=8)
        ax.set_ylabel(ylabel)
    lo, hi = quantiles
    how = "evenly spaced" if spacing == "linear" else "quantile-spaced"
    blank = f"\ngrey: no code in that cell ({int(empty.sum())} of {len(tiles)})" if empty.any() else ""
    ax.set_title(
        f"Manifold: decoded {cols}x{rows} grid, {how} over the codes' {lo:.0%}-{hi:.0%} range{plane.note}{blank}",
        fontsize=10,
    )
    return fig
