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


def show(model: Autoencoder, X: Any, y: Any = None, *, height: int = 640, max_points: int = MAX_POINTS) -> Embedded:
    """The interactive explorer of ``model`` on ``X`` (labels ``y`` colour the dots), for a notebook cell.

    The page is the one ``write_explorer`` writes (decoder in the page, so MLP models), placed in an
    ``<iframe srcdoc>``: nothing is served or fetched, and the page's own content-security policy applies
    inside the frame, as in a file.

    Parameters
    ----------
    model : Autoencoder
        A fitted model with an MLP decoder.
    X : array-like
        Rows or images to place on the map.
    y : array-like, optional
        Labels that colour the dots (never used by the model).
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
    >>> import numpy as np, hourglass as hg
    >>> X = np.random.default_rng(0).random((32, 5)).astype(np.float32)
    >>> frame = show(hg.Autoencoder(hidden=(8,), epochs=2).fit(X), X)
    >>> str(frame).startswith("<iframe")
    True
    """
    page = render_page(model, X, y, max_points=max_points)
    return Embedded(
        f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{int(height)}px;border:0" '
        'title="hourglass explorer"></iframe>'
    )
