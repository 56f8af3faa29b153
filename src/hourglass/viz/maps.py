"""The map evaluation drawn: each method's 2-D test codes side by side, coloured by label."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from hourglass.evaluations.maps import MapEvaluation, _num

LEGEND_CLASSES = 20  # labels map_figure names in a legend; more get a continuous colour scale


def map_figure(evaluation: MapEvaluation) -> Figure:
    """The 2-D test codes of every method side by side, coloured by label (first two code dimensions).

    Parameters
    ----------
    evaluation : MapEvaluation
        What ``evaluate_map`` returned.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per method, titled with its 1-NN accuracy and MSE, and one legend that names each colour's
        label (up to ``LEGEND_CLASSES`` labels; more are drawn on a continuous scale with a colour bar).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> from hourglass.evaluations.maps import MapScores
    >>> scores = MapScores("PCA-2", 1.0, 1.0, 1.0, 0.5, 0.1, 0.0, 1e6, 1e6)
    >>> ev = MapEvaluation([scores], {"PCA-2": rng.normal(size=(10, 2))}, np.arange(10) % 2)
    >>> [t.get_text() for t in map_figure(ev).legends[0].get_texts()]
    ['0', '1']
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    n = len(evaluation.codes)
    fig = Figure(figsize=(4.2 * n + 0.8, 4.2), layout="constrained")
    labels = evaluation.labels
    classes, index = np.unique(labels, return_inverse=True) if labels is not None else (np.zeros(0), None)
    many = len(classes) > LEGEND_CLASSES
    # The latent map's colours (``viz.latent_map``): class k is the k-th colour of a listed map.
    cmap = colormaps["viridis" if many else "tab20" if len(classes) > 10 else "tab10"]
    scores = {s.name: s for s in evaluation.scores}
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, z) in zip(axes, evaluation.codes.items(), strict=True):
        ys = z[:, 1] if z.shape[1] > 1 else np.zeros(len(z))
        if index is None:
            ax.scatter(z[:, 0], ys, s=3, linewidths=0)
        elif many:  # too many labels to name: a continuous scale, by label value when they are numbers
            value = labels if np.issubdtype(np.asarray(labels).dtype, np.number) else index
            dots = ax.scatter(z[:, 0], ys, c=value, cmap=cmap, s=3, linewidths=0)
        else:
            ax.scatter(z[:, 0], ys, c=[cmap(k) for k in index], s=3, linewidths=0)
        s = scores[name]
        ax.set_title(f"{name}\n1-NN {s.knn1:.3f}  MSE {_num(s.mse, '.4f')}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    title = "label\n(not used\nin training)"
    if index is not None and many:
        fig.colorbar(dots, ax=list(axes), label=title.replace("\n", " "), shrink=0.8)
    elif index is not None:
        handles = [Line2D([], [], marker="o", linestyle="", color=cmap(k), markersize=5) for k in range(len(classes))]
        names = [str(c) for c in classes]
        fig.legend(handles, names, loc="outside right center", title=title, fontsize=8, title_fontsize=8, frameon=False)
    return fig
