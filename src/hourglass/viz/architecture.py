"""The hourglass itself: layer widths drawn as bars narrowing to the code and widening back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from hourglass.viz.figure import new_figure


def hourglass_diagram(n_features: int, hidden: Sequence[int], latent_dim: int) -> Figure:
    """Encoder widths ``n_features -> *hidden -> latent_dim`` and the mirrored decoder, left to right.

    Bar heights are on a square-root scale, so a 2-number code stays visible next to 128 inputs.

    Parameters
    ----------
    n_features : int
        Values per input (and output).
    hidden : sequence of int
        The encoder's hidden widths, input side first; the decoder mirrors them.
    latent_dim : int
        The code's width.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = hourglass_diagram(49, [32, 16], 2)
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().isdigit()]  # the widths, input to output
    ['49', '32', '16', '2', '16', '32', '49']
    """
    widths = [n_features, *hidden, latent_dim, *reversed(hidden), n_features]
    names = ["input", *["encoder"] * len(hidden), "code Z", *["decoder"] * len(hidden), "output"]
    middle = len(hidden) + 1
    fig = new_figure(7.5, 3.0)
    ax = fig.add_subplot()
    # Heights on a square-root scale: 2 must stay visible next to 128.
    heights = np.sqrt(widths) / np.sqrt(max(widths))
    for i, (width, height, name) in enumerate(zip(widths, heights, names, strict=True)):
        color = "tab:red" if i == middle else ("tab:blue" if i < middle else "tab:green")
        ax.add_patch(
            FancyBboxPatch((i - 0.28, -height / 2), 0.56, height, boxstyle="round,pad=0.02", color=color, alpha=0.85)
        )
        ax.text(i, height / 2 + 0.06, str(width), ha="center", va="bottom", fontsize=10, weight="bold")
        ax.text(i, -0.62, name, ha="center", va="top", fontsize=8)
        if i:
            ax.annotate("", (i - 0.3, 0), (i - 0.7, 0), arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax.set_xlim(-0.6, len(widths) - 0.4)
    ax.set_ylim(-0.8, 0.72)
    ax.axis("off")
    ax.set_title(
        f"The hourglass: {n_features} numbers squeezed through a {latent_dim}-number code and rebuilt", fontsize=10
    )
    return fig
