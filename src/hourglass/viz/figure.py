"""Figures without pyplot: each is a ``matplotlib.figure.Figure`` rendered by Agg, so no global state leaks."""

from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hourglass.atomic import atomic_file

DPI = 100  # small on purpose: the images are 7x7 digits and the demo renders a dozen figures


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches attached to an Agg canvas (never to pyplot)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes, on white.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Any figure (those of ``hourglass.viz`` are already on an Agg canvas).
    dpi : int, default DPI
        Dots per inch; ``DPI`` (100) is small on purpose, for small images.

    Returns
    -------
    bytes

    Examples
    --------
    >>> png_bytes(new_figure(1, 1))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Write the figure as a PNG atomically; returns the path.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
        The file to write; an existing file is replaced whole, never left half-written.
    dpi : int, default DPI

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_png(new_figure(1, 1), f"{tmp}/blank.png").name
    'blank.png'
    """
    return save_bytes(png_bytes(fig, dpi), path)


def save_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write a file atomically, readable by others like any file the user writes (mkstemp makes it 0600).

    Parameters
    ----------
    data : bytes
        The contents, e.g. ``walk_gif``'s GIF.
    path : str or os.PathLike
        The file to write; an existing file is replaced whole, never left half-written.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_bytes(b"GIF89a", Path(tmp, "walk.gif")).read_bytes()
    b'GIF89a'
    """
    target = Path(path)
    with atomic_file(target) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(0o644)
    return target
