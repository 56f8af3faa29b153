"""The loss curve: train and validation reconstruction loss per epoch, best epoch marked."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from hourglass.errors import HourglassError
from hourglass.training.state import History
from hourglass.viz.figure import new_figure

LOSS_NAMES = {"mse": "mean squared error", "bce": "binary cross-entropy"}


def loss_curve(
    history: History, log: bool = True, loss: str = "mse", title: str = "Training: reconstruction loss per epoch"
) -> Figure:
    """Plot ``history`` (``Autoencoder.history_``); ``log`` puts the loss on a log scale.

    Terms beside the reconstruction (a VAE's KL, the neighbor term) go on a right-hand axis, and the
    train curve is then the reconstruction part alone, comparable with the validation curve.

    Parameters
    ----------
    history : History
        Per-epoch losses; the best epoch (the weights kept) is marked.
    log : bool, default True
        Put the loss on a log scale.
    loss : str, default "mse"
        The loss trained on (``"mse"`` or ``"bce"``), named on the y axis.
    title : str, default "Training: reconstruction loss per epoch"

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    HourglassError
        The history has no epochs.

    Examples
    --------
    >>> from hourglass.training.state import History
    >>> fig = loss_curve(History(train=[1.0, 0.5, 0.3], val=[1.1, 0.6, 0.4]))
    >>> fig.axes[0].get_yscale()
    'log'
    """
    if not history.train:
        raise HourglassError("no training history to plot (the model has no recorded epochs)")
    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot()
    epochs = np.arange(1, len(history.train) + 1)
    # Terms beside the reconstruction (a VAE's KL, the neighbor term): on their own axis, and the train
    # curve is then the reconstruction part alone, comparable with the validation curve.
    terms = {
        key: (history.parts[key], label, unit)
        for key, label, unit in (
            ("kl", "KL to N(0, I), right axis", "KL divergence (nats per sample)"),
            ("structure", "distance to the neighbor layout, right axis", "squared distance to the layout"),
        )
        if history.parts.get(key)
    }
    train = history.parts["recon"] if terms and "recon" in history.parts else history.train
    ax.plot(epochs, train, color="tab:blue", label="train")
    if history.val:
        ax.plot(epochs[: len(history.val)], history.val, color="tab:orange", label="validation")
    if history.best_epoch:
        curve = history.val or history.train
        best = curve[history.best_epoch - 1]
        ax.axvline(history.best_epoch, color="0.4", linestyle="--", linewidth=1)
        ax.plot([history.best_epoch], [best], "o", color="tab:red", label=f"best epoch {history.best_epoch} (kept)")
    if log:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:.3g}")
        ax.yaxis.set_major_formatter(plain)
        values = [v for v in list(train) + history.val if v > 0]
        if values and max(values) < 20 * min(values):  # under ~a decade only minor ticks fall in range: label them
            ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("epoch")
    ax.set_ylabel(LOSS_NAMES.get(loss, loss) + " (scaled units)" + (", log scale" if log else ""))
    ended = f" (stopped early after epoch {len(epochs)})" if history.stopped_early else ""
    ax.set_title(title + ended, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    handles, labels = ax.get_legend_handles_labels()
    if terms:
        right = ax.twinx()
        for (values, label, _), colour in zip(terms.values(), ("tab:green", "tab:purple"), strict=False):
            right.plot(epochs[: len(values)], values, color=colour, linestyle=":", label=label)
        right.set_ylabel(" / ".join(unit for _, _, unit in terms.values()))
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, loc="upper right")
    return fig
