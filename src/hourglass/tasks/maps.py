"""How good a map a code is: do held-out rows land among training rows of their own label?

``evaluate_map`` scores a fitted model's code beside PCA at the same width and, when umap-learn is
installed (an optional extra), UMAP fitted on the same training rows: k-NN accuracy of the test codes
against the training codes (1 and 5 neighbours), trustworthiness (k=5, on up to ``TRUST_ROWS`` test
rows), silhouette of the test codes by label, held-out reconstruction MSE in the model's scaled units,
and encode/decode speed. Labels only score; nothing is trained on them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hourglass.errors import HourglassError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hourglass.estimator import Autoencoder

TRUST_ROWS = 2_000  # trustworthiness is quadratic in rows: scored on a fixed subsample beyond this
UMAP_DECODE_ROWS = 50  # umap-learn's inverse_transform decodes ~30 rows/s: timed and scored on a few


@dataclass
class MapScores:
    name: str
    knn1: float
    knn5: float
    trust: float
    silhouette: float
    mse: float  # held-out reconstruction, scaled units (nan: the method cannot decode)
    fit_s: float  # nan: not timed here (the model was fitted before)
    encode_rps: float
    decode_rps: float


@dataclass
class MapEvaluation:
    scores: list[MapScores]
    codes: dict[str, np.ndarray] = field(default_factory=dict)  # test codes by method
    labels: np.ndarray | None = None

    def table(self) -> str:
        head = f"{'map':<20} {'1-NN':>6} {'5-NN':>6} {'trust':>6} {'silh.':>6} {'MSE':>8} {'fit s':>7} "
        head += f"{'enc rows/s':>11} {'dec rows/s':>11}"
        lines = [head, "-" * len(head)]
        for s in self.scores:
            lines.append(
                f"{s.name:<20} {s.knn1:6.3f} {s.knn5:6.3f} {s.trust:6.3f} {s.silhouette:6.3f} {_num(s.mse, '8.5f')} "
                f"{_num(s.fit_s, '7.1f')} {_num(s.encode_rps, '11,.0f')} {_num(s.decode_rps, '11,.0f')}"
            )
        return "\n".join(lines)


def _num(value: float, fmt: str) -> str:
    width = int(fmt.split(".")[0].replace(",", "") or 0)
    return f"{'-':>{width}}" if not math.isfinite(value) else format(value, fmt)


def _rate(fn: Any, rows: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(rows)
    return out, len(rows) / max(time.perf_counter() - start, 1e-9)


def _scores(name: str, train: np.ndarray, test: np.ndarray, y_train, y_test, flat_test, seed: int) -> dict:
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import KNeighborsClassifier

    pick = np.arange(len(test))
    if len(pick) > TRUST_ROWS:
        pick = np.sort(np.random.default_rng(seed).choice(len(test), TRUST_ROWS, replace=False))
    knn = {k: KNeighborsClassifier(min(k, len(train))).fit(train, y_train).score(test, y_test) for k in (1, 5)}
    labelled = len(np.unique(y_test[pick])) > 1
    return {
        "name": name,
        "knn1": float(knn[1]),
        "knn5": float(knn[5]),
        "trust": float(trustworthiness(flat_test[pick], test[pick], n_neighbors=min(5, len(pick) // 2 - 1))),
        "silhouette": float(silhouette_score(test[pick], y_test[pick])) if labelled else math.nan,
    }


def evaluate_map(
    model: Autoencoder,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    *,
    baselines: bool = True,
    umap: bool | None = None,
    seed: int = 0,
) -> MapEvaluation:
    """Score ``model``'s code as a map of ``X_test`` (see the module's doc). ``umap``: ``None`` adds UMAP
    when umap-learn is importable, ``True`` requires it, ``False`` leaves it out."""
    from sklearn.decomposition import PCA
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    y_train, y_test = np.asarray(y_train).ravel(), np.asarray(y_test).ravel()
    if len(y_train) != len(X_train) or len(y_test) != len(X_test):
        raise HourglassError("evaluate_map needs one label per row of X_train and of X_test")
    flat_train = model.scaler_.transform(model._validate(X_train, reset=False)).astype(np.float32)
    flat_test = model.scaler_.transform(model._validate(X_test, reset=False)).astype(np.float32)
    model.transform(X_test[:64])  # warm-up: the first call pays one-time costs
    train_codes = model.transform(X_train)
    test_codes, enc = _rate(model.transform, X_test)
    decoded, dec = _rate(model.inverse_transform, test_codes)
    mse = float(np.mean((model.scaler_.transform(decoded.reshape(len(decoded), -1)) - flat_test) ** 2))
    label = "hourglass" if getattr(model, "structure", None) is None else f"hourglass+{model.structure}"
    fit_s = float(model.history_.seconds) if getattr(model, "history_", None) else math.nan
    scores = [MapScores(**_scores(label, train_codes, test_codes, y_train, y_test, flat_test, seed),
                        mse=mse, fit_s=fit_s, encode_rps=enc, decode_rps=dec)]  # fmt: skip
    codes = {label: test_codes}
    width = model.model_.latent_dim
    if baselines:
        start = time.perf_counter()
        pca = PCA(width, random_state=seed).fit(flat_train)
        fit = time.perf_counter() - start
        z_train = pca.transform(flat_train)
        z_test, enc = _rate(pca.transform, flat_test)
        rebuilt, dec = _rate(pca.inverse_transform, z_test)
        scores.append(
            MapScores(**_scores(f"PCA-{width}", z_train, z_test, y_train, y_test, flat_test, seed),
                      mse=float(np.mean((rebuilt - flat_test) ** 2)), fit_s=fit, encode_rps=enc, decode_rps=dec)
        )  # fmt: skip
        codes[f"PCA-{width}"] = z_test
    if umap is not False:
        try:
            import umap as umap_learn
        except ImportError:
            if umap:
                raise HourglassError("UMAP needs the optional umap-learn package: pip install umap-learn") from None
        else:
            start = time.perf_counter()
            reducer = umap_learn.UMAP(n_components=width, random_state=seed).fit(flat_train)
            fit = time.perf_counter() - start
            z_test, enc = _rate(reducer.transform, flat_test)
            few = slice(0, min(UMAP_DECODE_ROWS, len(z_test)))
            rebuilt, dec = _rate(reducer.inverse_transform, z_test[few])
            scores.append(
                MapScores(**_scores("UMAP", reducer.embedding_, z_test, y_train, y_test, flat_test, seed),
                          mse=float(np.mean((rebuilt - flat_test[few]) ** 2)), fit_s=fit, encode_rps=enc,
                          decode_rps=dec)
            )  # fmt: skip
            codes["UMAP"] = z_test
    return MapEvaluation(scores, codes, y_test)


def map_figure(evaluation: MapEvaluation) -> Figure:
    """The 2-D test codes of every method side by side, coloured by label (first two code dimensions)."""
    from matplotlib.figure import Figure

    n = len(evaluation.codes)
    fig = Figure(figsize=(4.2 * n, 4.2), layout="constrained")
    labels = evaluation.labels
    classes, colour = np.unique(labels, return_inverse=True) if labels is not None else ([0], None)
    scores = {s.name: s for s in evaluation.scores}
    for ax, (name, z) in zip(fig.subplots(1, n, squeeze=False)[0], evaluation.codes.items(), strict=True):
        ys = z[:, 1] if z.shape[1] > 1 else np.zeros(len(z))
        ax.scatter(z[:, 0], ys, c=colour, cmap="tab10" if len(classes) <= 10 else "tab20", s=3, linewidths=0)
        s = scores[name]
        ax.set_title(f"{name}\n1-NN {s.knn1:.3f}  MSE {_num(s.mse, '.4f')}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
