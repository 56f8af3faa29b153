"""A fitted model as a small HTML card, for notebooks: what it is, how training went, where its codes lie.

Plain HTML and inline SVG, no script and nothing fetched, so it shows the same in Jupyter, VS Code and a
static notebook viewer. Every text that may come from a user (feature names, a data source) is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

SPARK = (260, 64)  # width, height of the loss sparkline in pixels
MAP = 180  # side of the latent map in pixels


def estimator_card(estimator: Any) -> str:
    """A fitted estimator's card: the architecture, the loss curves, a small latent map and the held-out error."""
    runner, history = estimator.runner_, estimator.history_
    model = runner.model_
    widths = [runner.n_features_in_, *model.hidden, model.latent_dim]
    facts = [
        ("network", f"{model.name}, widths {' > '.join(map(str, widths))} and back, "
                    f"{sum(p.numel() for p in model.parameters()):,} weights"),
        ("data", f"{runner.kind_}s of shape {tuple(runner.sample_shape_)}, {runner.scaler_.kind} scaling"),
        ("training", f"{len(history.train)} epochs in {history.seconds:.1f} s, best epoch {history.best_epoch}"
                     + (", stopped early" if history.stopped_early else "")),
    ]  # fmt: skip
    if history.held_out:  # the words `hourglass train` prints, beside the mean's and PCA's
        facts.append(("held out", held_out_text(history.held_out)))
    facts += [("warning", warning) for warning in history.warnings]
    codes, note = None, f"no map: the code has {model.latent_dim} numbers, the map draws 2"
    prior = getattr(estimator, "prior_", None)
    if model.latent_dim == 2 and prior is not None:
        # The training rows are not kept; the mixture fitted to their codes stands for them.
        codes, note = prior.sample(400, seed=0), "map: 400 codes drawn from the mixture fitted to the training codes"
    elif model.latent_dim == 2:
        note = "no map: this model's codes follow its own N(0, I) prior"
    return card(type(estimator).__name__, facts, history.train, history.val, codes, note)


def card(title: str, facts: Sequence[tuple[str, str]], train: Sequence[float], val: Sequence[float],
         codes: np.ndarray | None, map_note: str) -> str:  # fmt: skip
    """The card's HTML: a table of ``facts``, the loss curves, and ``codes`` (n, 2) drawn as a map.

    Examples
    --------
    >>> page = card("Autoencoder", [("code", "2 numbers")], [1.0, 0.5, 0.2], [1.1, 0.6, 0.3], None, "no map")
    >>> page.count("<svg"), "2 numbers" in page
    (1, True)
    """
    rows = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>'
        for k, v in facts
    )
    figures = [sparkline(train, val)] if len(train) else []
    figures.append(latent_map(codes) if codes is not None else "")
    caption = f'<div style="font-size:smaller;color:#666">{html.escape(map_note)}</div>' if map_note else ""
    return (
        '<div class="hourglass-card" style="font-family:sans-serif;border:1px solid #ccc;padding:8px;'
        'display:inline-block;margin-bottom:6px">'
        f"<b>{html.escape(title)}</b><table>{rows}</table>"
        f'<div style="display:flex;gap:12px;align-items:flex-end">{"".join(figures)}</div>{caption}</div>'
    )


def sparkline(train: Sequence[float], val: Sequence[float]) -> str:
    """Training (blue) and validation (orange) loss per epoch as one SVG, on a log scale when all are positive."""
    w, h = SPARK
    curves = [np.asarray(c, np.float64) for c in (train, val) if len(c)]
    values = np.concatenate(curves)
    values = values[np.isfinite(values)]
    log = bool(len(values)) and bool((values > 0).all())
    scaled = [np.log10(c) if log else c for c in curves]
    finite = np.concatenate([s[np.isfinite(s)] for s in scaled]) if len(values) else np.zeros(1)
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo or 1.0
    lines = []
    for curve, colour in zip(scaled, ("#1f77b4", "#ff7f0e"), strict=False):
        x = np.linspace(2, w - 2, len(curve)) if len(curve) > 1 else np.array([w / 2])
        y = h - 2 - (h - 4) * (np.nan_to_num(curve, nan=hi, posinf=hi, neginf=lo) - lo) / span
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
    label = "loss per epoch" + (" (log scale)" if log else "") + ": train blue, validation orange"
    return (
        f'<figure style="margin:0"><svg width="{w}" height="{h}" role="img" aria-label="{label}">{"".join(lines)}'
        f'</svg><figcaption style="font-size:smaller">{label}</figcaption></figure>'
    )


def latent_map(codes: np.ndarray) -> str:
    """Points (n, 2) as dots in a square SVG framed by their 1%-99% quantiles."""
    codes = np.asarray(codes, np.float64)
    lo, hi = np.quantile(codes, [0.01, 0.99], axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    xy = 4 + (MAP - 8) * (codes - lo) / span
    inside = np.all((xy >= 0) & (xy <= MAP), axis=1)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{MAP - y:.1f}" r="1.5"/>' for x, y in xy[inside])
    return (
        f'<figure style="margin:0"><svg width="{MAP}" height="{MAP}" role="img" aria-label="latent map" '
        f'style="border:1px solid #eee" fill="#1f77b4" fill-opacity="0.5">{dots}</svg>'
        '<figcaption style="font-size:smaller">latent map: z1 &#8594;, z2 &#8593;</figcaption></figure>'
    )


def held_out_text(held_out: dict[str, Any]) -> str:
    """A fit's held-out MSE beside predicting the mean and PCA's (``History.held_out``), in one line."""
    try:
        rows = f"{held_out['rows']:,} {'held-out' if held_out['validation'] else 'training (none held out)'} rows"
        return (
            f"MSE {held_out['mse']:.4g} on {rows} (scaled units); predicting the mean: "
            f"{held_out['mean_mse']:.4g}, PCA-{held_out['pca_width']}: {held_out['pca_mse']:.4g}"
        )
    except (KeyError, TypeError, ValueError):  # a config.json edited by hand
        return f"unreadable ({json.dumps(held_out)[:200]})"
