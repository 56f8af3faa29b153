"""How good a map a code is: do held-out rows land among training rows of their own label?

``evaluate_map`` scores a fitted model's code beside PCA at the same width and, when umap-learn is
installed (an optional extra), UMAP fitted on the same training rows: k-NN accuracy of the test codes
against the training codes (1 and 5 neighbors), trustworthiness (k=5, on up to ``TRUST_ROWS`` test
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
    from hourglass.estimator import Autoencoder

TRUST_ROWS = 2_000  # trustworthiness is quadratic in rows: scored on a fixed subsample beyond this
UMAP_DECODE_ROWS = 50  # umap-learn's inverse_transform decodes ~30 rows/s: timed and scored on a few


@dataclass
class MapScores:
    """One method's scores as a map of the held-out rows (one row of ``MapEvaluation.table``).

    Attributes
    ----------
    name : str
        The method: ``"hourglass"`` (``"hourglass+neighbors"`` with a structure term), ``"PCA-<width>"``
        or ``"UMAP"``.
    knn1, knn5 : float
        Accuracy of 1- and 5-nearest-neighbor classification of the test codes against the training codes.
    trust : float
        Trustworthiness (k=5) of the test codes against the test rows, on up to ``TRUST_ROWS`` of them.
    silhouette : float
        Silhouette of the test codes by label (nan with a single label).
    mse : float
        Held-out reconstruction MSE in the model's scaled units (nan: the method cannot decode).
    fit_s : float
        Seconds to fit (nan: not timed here, the model was fitted before).
    encode_rps, decode_rps : float
        Rows per second encoded and decoded (UMAP decodes ``UMAP_DECODE_ROWS`` rows only).
    """

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
    """What ``evaluate_map`` returns: the scores of each method and the test codes they were scored on.

    Attributes
    ----------
    scores : list of MapScores
        The model's scores first, then each baseline's.
    codes : dict of str to np.ndarray
        Each method's test codes, shape ``(n_test, width)``, by ``MapScores.name``.
    labels : np.ndarray of shape (n_test,), or None
        The test labels the codes were scored by (``map_figure`` colours by them).
    """

    scores: list[MapScores]
    codes: dict[str, np.ndarray] = field(default_factory=dict)  # test codes by method
    labels: np.ndarray | None = None

    def table(self) -> str:
        """The scores as a fixed-width text table, one line per method; ``-`` where a value is nan.

        Returns
        -------
        str
            A header line, a rule, then one line per ``MapScores``.
        """
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
    # A silhouette needs 2 to n - 1 labels: one label, or one per row (ids, say), has none (was a traceback).
    labelled = 1 < len(np.unique(y_test[pick])) < len(pick)
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
    """Score ``model``'s code as a map of ``X_test`` (see the module's doc) beside PCA and UMAP.

    Every method is scored the same way: k-NN accuracy of the test codes against the training codes,
    trustworthiness, silhouette by label, held-out reconstruction MSE in the model's scaled units, and
    encode/decode speed. Labels only score; nothing is trained on them.

    Parameters
    ----------
    model : Autoencoder
        A fitted autoencoder; its code width is the baselines' width.
    X_train : array-like, shape (n_train, *sample_shape)
        Rows the neighbors are looked up among; the baselines are fitted on them.
    y_train : array-like of shape (n_train,)
        Their labels.
    X_test : array-like, shape (n_test, *sample_shape)
        Held-out rows, the ones scored.
    y_test : array-like of shape (n_test,)
        Their labels.
    baselines : bool, default True
        Add PCA at the code's width.
    umap : bool or None, default None
        ``None`` adds UMAP when umap-learn is importable, ``True`` requires it, ``False`` leaves it out.
    seed : int, default 0
        Seeds the baselines and the trustworthiness subsample.

    Returns
    -------
    MapEvaluation
        The scores (the model first) and the test codes of each method.

    Raises
    ------
    HourglassError
        A label count differs from its rows', or ``umap=True`` without umap-learn installed.

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass import Autoencoder
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(80) % 2
    >>> X = (rng.normal(size=(80, 6)) + 3 * y[:, None]).astype(np.float32)
    >>> model = Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(X[:60])
    >>> ev = evaluate_map(model, X[:60], y[:60], X[60:], y[60:], umap=False)
    >>> [s.name for s in ev.scores], ev.codes["PCA-2"].shape
    (['hourglass', 'PCA-2'], (20, 2))
    >>> print(ev.table().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
    map 1-NN 5-NN trust silh. MSE fit s enc rows/s dec rows/s
    """
    from sklearn.decomposition import PCA
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    y_train, y_test = np.asarray(y_train).ravel(), np.asarray(y_test).ravel()
    if len(y_train) != len(X_train) or len(y_test) != len(X_test):
        raise HourglassError("evaluate_map needs one label per row of X_train and of X_test")
    flat_train = model.scaler_.transform(model._rows(X_train)).astype(np.float32)
    flat_test = model.scaler_.transform(model._rows(X_test)).astype(np.float32)
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
