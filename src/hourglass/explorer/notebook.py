"""The explorer inside a notebook cell: the same self-contained page, in an iframe's ``srcdoc``, no server."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from hourglass.explorer.page import MAX_POINTS, render_page

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder


class Embedded:
    """An HTML fragment that Jupyter displays as it is (``_repr_html_``); ``str()`` gives the same text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text


def show(
    model: Autoencoder,
    X: Any,
    y: Any = None,
    *,
    rows: Any = None,
    ids: Any = None,
    height: int = 640,
    max_points: int = MAX_POINTS,
) -> Embedded:
    """The interactive explorer of ``model`` on ``X`` (labels ``y`` colour the dots), for a notebook cell.

    The page is the one ``write_explorer`` writes (the network evaluated in the page), placed in an
    ``<iframe srcdoc>``: nothing is served or fetched, and the page's own content-security policy applies
    inside the frame, as in a file.

    Parameters
    ----------
    model : Autoencoder
        A fitted model (an ``Autoencoder`` or ``AnomalyDetector``).
    X : Dataset or array-like
        Rows or images to place on the map (a Dataset brings its labels and ids).
    y : array-like, optional
        Labels that colour the dots (never used by the model).
    rows : array-like of int, optional
        Each row's 0-based number in its source, as the page shows and finds it (default: its position in ``X``).
    ids : array-like of str, optional
        Each row's name, e.g. its file path, shown beside its number.
    height : int, default 640
        The frame's height in pixels.
    max_points : int, default MAX_POINTS
        At most this many dots (a seeded subsample beyond).

    Returns
    -------
    Embedded
        Displays itself in Jupyter; ``str()`` is the iframe's HTML.

    Examples
    --------
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> frame = show(model, images)
    >>> str(frame).startswith("<iframe")
    True
    """
    page = render_page(model, X, y, rows=rows, ids=ids, max_points=max_points)
    return Embedded(
        f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{int(height)}px;border:0" '
        'title="hourglass explorer"></iframe>'
    )
