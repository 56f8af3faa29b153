"""Render the explorer: ONE self-contained HTML file (inline CSS/JS/data, no network) around a model and data."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import math
import os
import re
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hourglass.anomaly import AnomalyDetector
from hourglass.atomic import atomic_file
from hourglass.data import Dataset, model_input
from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder
from hourglass.explorer.ink import ink_style
from hourglass.explorer.weights import (
    b64_float32,
    browser_encodable,
    export_decoder,
    export_detector,
    export_encoder,
)
from hourglass.params import MAX_POINTS

MAX_CATEGORIES = 20  # more distinct labels than this are coloured as a continuous value
MAX_COLOURED_LABELS = 256  # more distinct text labels than this name the dots but do not colour them

MODES = ("file", "server")  # a file reaches nothing at all; the served page talks only to its own server


def _static(name: str) -> str:
    return resources.files("hourglass.explorer").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def script() -> str:
    """The page's one script: network.js (the network's evaluation), then explorer.js (the page) that uses it."""
    return _static("network.js") + "\n" + _static("explorer.js")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@functools.cache
def csp(mode: str) -> str:
    """The page's content-security policy: only the page's own script and style (by hash) run, no inline handler,
    no markup sink (Trusted Types), nothing fetched; the served page may talk to its own server and nothing else."""
    connect = "'self'" if mode == "server" else "'none'"
    script_hash, style = _sha256(script()), _sha256(_static("explorer.css"))
    return (
        f"default-src 'none'; script-src {script_hash}; style-src {style}; connect-src {connect}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


# Characters that could end or confuse the <script> element holding the data, or (U+2028/9) old JS parsers.
_SCRIPT_SAFE = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(data: Any) -> str:
    """Strict JSON (no NaN/Infinity, which JSON.parse rejects) that is safe inside a ``<script>`` element."""
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise HourglassError("the explorer's data holds NaN or infinite values (in the data or its codes)") from None
    return text.translate(_SCRIPT_SAFE)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _missing(y: np.ndarray) -> np.ndarray:
    """Blank labels: NaN or inf in numbers; None, NaN or pd.NA in text (pandas reads a blank text cell as NaN)."""
    if y.dtype.kind == "f":
        return ~np.isfinite(y)
    if y.dtype.kind == "O":
        import pandas as pd

        return np.array([bool(pd.isna(v)) or (isinstance(v, float) and math.isinf(v)) for v in y], bool)
    return np.zeros(len(y), bool)


def _labels(y: np.ndarray | None) -> dict[str, Any] | None:
    """Few distinct values (or text) are categories; many numbers are a continuous colour. Blanks become null."""
    if y is None:
        return None
    if y.dtype.kind == "S":  # bytes (an .npz of byte strings): any encoding shows, undecodable bytes as U+FFFD
        y = np.array([v.decode("utf-8", "replace") for v in y.tolist()], dtype=object)
    numeric = y.dtype.kind in "iufb"
    missing = _missing(y)
    present = y[~missing]
    names, index = np.unique(present if numeric else present.astype(str), return_inverse=True)
    if numeric and len(names) > MAX_CATEGORIES:
        return {"kind": "number", "values": [None if m else float(v) for v, m in zip(y.tolist(), missing, strict=True)]}
    kind = "category"
    if len(names) > MAX_COLOURED_LABELS:
        # Free text, nearly one value per row: colouring by it would say nothing, but each dot still shows
        # its label, search finds it and the lasso CSV lists it.
        kind = "text"
        warnings.warn(
            f"{len(names):,} distinct labels: too many to colour the dots by (at most {MAX_COLOURED_LABELS}); "
            "the dots are coloured by error, and still show, search and export their labels",
            stacklevel=2,
        )
    values = np.full(len(y), len(names))  # blanks point at a last, null name
    values[~missing] = index.reshape(-1)
    return {
        "kind": kind,
        "names": [str(v) for v in names.tolist()] + ([None] if missing.any() else []),
        "values": values.tolist(),
    }


def score_meta(model: Autoencoder) -> dict[str, Any]:
    """What the dots' ``errors`` are: a detector's anomaly score and threshold, or an autoencoder's reconstruction
    MSE (coloured on a log scale: it spans decades and is never negative)."""
    if isinstance(model, AnomalyDetector):
        legend = "anomaly score (above the threshold: anomaly)"
        return {"threshold": -float(model.offset_), "log": False, "legend": legend}
    return {"threshold": None, "log": True, "legend": "reconstruction error (MSE, scaled units, log colour)"}


def pad_meta(model: Autoencoder, mode: str) -> dict[str, Any]:
    """Whether the page offers the drawing pad, and if not, the note that says why."""
    if model.kind_ != "image":
        return {"ok": False, "note": "The drawing pad needs an image model; this one reads table rows."}
    if mode == "file" and not browser_encodable(model):
        note = "This model's encoder cannot run in the page; `hourglass serve MODEL` draws with it."
        return {"ok": False, "note": note}
    if mode == "file" and model.runner_.placement is not None:
        note = "This model places rows by its training rows, which the page does not carry; `hourglass serve MODEL` "
        note += "draws with it."
        return {"ok": False, "note": note}
    return {"ok": True, "note": ""}


def _row_names(rows: Any, ids: Any, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's number in its source (0-based; by default its position in X) and, when given, its id (text)."""
    numbers = np.arange(n) if rows is None else np.asarray(rows).reshape(-1)
    if len(numbers) != n:
        raise HourglassError(f"got {len(numbers)} row numbers for {n} rows")
    if numbers.dtype.kind not in "iu" or (n and numbers.min() < 0):
        raise HourglassError("row numbers must be whole numbers from 0 (each row's place in its source)")
    if ids is None:
        return numbers, None
    names = np.asarray(ids).reshape(-1)
    if len(names) != n:
        raise HourglassError(f"got {len(names)} ids for {n} rows")
    if names.dtype.kind == "S":  # bytes: any encoding shows, undecodable bytes as U+FFFD
        return numbers, np.array([v.decode("utf-8", "replace") for v in names.tolist()], dtype=object)
    return numbers, names.astype(str)


def _feature_names(model: Autoencoder, X: Any) -> list[str] | None:
    """A table's feature names, which label the bars: the model's, else the data's own columns (a model fitted
    on an array), else x1..xm, as ``top_features`` calls them. None for images."""
    if model.kind_ != "table":
        return None
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = X.feature_names if isinstance(X, Dataset) else getattr(X, "columns", None)
    if names is None or len(names) != model.n_features_in_:
        names = [f"x{j + 1}" for j in range(model.n_features_in_)]
    return [str(name) for name in names]


def explorer_data(
    model: Autoencoder,
    X: Any,
    y: Any = None,
    *,
    rows: Any = None,
    ids: Any = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
    title: str | None = None,
) -> dict[str, Any]:
    """Everything the page draws: codes (and their 2-D view), errors, originals, labels, each dot's row number and
    id, shapes. A Dataset brings its own labels, row numbers and ids unless ``y``, ``rows`` or ``ids`` are given."""
    if isinstance(X, Dataset):
        y = X.y if y is None else y
        rows = X.index if rows is None else rows
        ids = X.ids if ids is None else ids
    columns = _feature_names(model, X)
    frame = hasattr(X, "to_numpy")
    X = model_input(X, model, where="data")  # a table's columns matched to the model's by name, rows checked
    if frame:  # in the model's column order now: read by position from here on
        X = np.asarray(X, np.float32)
    n = int(np.shape(X)[0])
    if n == 0:
        raise HourglassError("need at least one row to draw the latent map")
    if y is not None and len(np.asarray(y).reshape(-1)) != n:
        raise HourglassError(f"got {len(np.asarray(y).reshape(-1))} labels for {n} rows")
    numbers, names = _row_names(rows, ids, n)
    keep = np.arange(n)
    if n > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    rows = np.asarray(X[keep] if n > max_points else X)
    labels = None if y is None else np.asarray(y).reshape(-1)[keep]

    codes = model.codes(rows).astype(np.float32)
    errors = -model.score_samples(rows)  # mean squared error per row in scaled units, or a detector's anomaly score
    latent_dim = codes.shape[1]
    projection = None
    view = codes
    if latent_dim > 2:
        from sklearn.decomposition import PCA

        pca = PCA(2).fit(codes)
        view = pca.transform(codes).astype(np.float32)
        projection = {
            "mean": pca.mean_.astype(float).tolist(),
            "components": pca.components_.astype(float).tolist(),
            "explained": float(pca.explained_variance_ratio_.sum()),
        }
    elif latent_dim == 1:  # a 1-D code still gets a plane: spread along x, y = 0
        view = np.column_stack([codes[:, 0], np.zeros(len(codes), np.float32)])

    flat = rows.reshape(len(rows), -1)
    uint8 = flat.dtype == np.uint8
    lo, hi = (0.0, 255.0) if uint8 else (float(flat.min()), float(flat.max()))
    config = model.model_.config()
    widths = [model.n_features_in_, *config.get("hidden", []), latent_dim]
    return {
        "title": title or "hourglass explorer",
        "kind": model.kind_,
        "sample_shape": list(model.sample_shape_),
        "n_features": int(model.n_features_in_),
        "latent_dim": int(latent_dim),
        "architecture": f"{model.model_.name.upper()} {'-'.join(str(w) for w in widths)}",
        "feature_names": columns,
        "scaled_offset": b64_float32(model.scaler_.offset),
        "scaled_scale": b64_float32(model.scaler_.scale),
        "n_total": n,
        "n": len(rows),
        "index": keep.tolist(),  # each dot's position in X
        "rows": numbers[keep].tolist(),  # each dot's row number in its source: what the page calls it
        "ids": None if names is None else names[keep].tolist(),  # e.g. an image folder's file paths
        "codes": b64_float32(codes),
        "view": b64_float32(view),
        "errors": b64_float32(errors),
        "originals": {"dtype": "uint8" if uint8 else "float32", "data": _b64(flat if uint8 else flat.astype("<f4"))},
        "range": [lo, hi if hi > lo else lo + 1.0],
        "labels": _labels(labels),
        "projection": projection,
        "score": score_meta(model),
        # how the images are drawn, so the pad draws alike (image models)
        "ink": ink_style(flat.reshape(len(flat), *model.sample_shape_)) if model.kind_ == "image" else None,
    }


def render_page(
    model: Autoencoder,
    X: Any,
    y: Any = None,
    *,
    mode: str = "file",
    rows: Any = None,
    ids: Any = None,
    max_points: int = MAX_POINTS,
    title: str | None = None,
) -> str:
    """The explorer page. ``mode="file"`` encodes and decodes in the page (any model); ``"server"`` asks /api/*.

    One self-contained HTML text: CSS, script and data inline, a content-security policy that lets
    nothing be fetched (the served page may talk to its own server only).

    Parameters
    ----------
    model : Autoencoder
        A fitted estimator; for ``mode="file"`` its decoder must run in the browser (``browser_decodable``).
    X : Dataset, pandas.DataFrame or array-like
        The rows to map (a table's columns are matched to the model's by name).
    y : array-like of shape (n,), optional
        Labels that colour the map; never used otherwise (a Dataset's own by default).
    mode : {"file", "server"}, default "file"
        ``"file"``: the page carries the decoder's weights and decodes by itself.
    rows : array-like of int, shape (n,), optional
        Each row's number in its source, 0-based, as the page shows, finds (``#12``) and downloads them; by
        default its position in ``X``. Pass the source's indices when ``X`` is a subset (a held-out split).
    ids : array-like of str, shape (n,), optional
        What each row is called, shown and downloaded beside its number (an image folder's file paths; a
        Dataset's ``ids`` by default).
    max_points : int, default MAX_POINTS
        At most this many rows (a seeded subsample) are drawn.
    title : str, optional
        The page's title; by default "hourglass explorer".

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    HourglassError
        An unknown ``mode``; no rows, or a label, row-number or id count that differs from the rows'; rows that
        do not fit the model; in ``"file"`` mode, a decoder layer with no JavaScript twin.

    Examples
    --------
    >>> import numpy as np
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> render_page(model, images, np.arange(32) % 2).startswith("<!doctype html>")
    True
    """
    if mode not in MODES:
        raise HourglassError(f"unknown explorer mode {mode!r}; choose one of {', '.join(MODES)}")
    data = explorer_data(model, X, y, rows=rows, ids=ids, max_points=max_points, title=title)
    data["mode"] = mode
    data["decoder"] = export_decoder(model) if mode == "file" else None
    data["pad"] = pad_meta(model, mode)
    # The served page asks the server (any model); the file encodes by itself.
    data["encoder"] = export_encoder(model) if mode == "file" and data["pad"]["ok"] else None
    # What a detector's score adds to the reconstruction error (distance, forest), for the pad's score in the page.
    data["detector"] = export_detector(model) if data["encoder"] else None
    parts = {
        "CSS": _static("explorer.css"),
        "JS": script(),  # exactly what csp() hashes
        "CSP": csp(mode),  # our own text: no quotes or angle brackets
        "TITLE": html.escape(data["title"]),
        "DATA": script_json(data),
    }
    # One pass, so text inserted for one marker is never searched for another.
    page = re.sub(r"/\*HG:(\w+)\*/", lambda m: parts[m.group(1)], _static("explorer.html"))
    return page


def write_explorer(
    model: Autoencoder,
    X: Any,
    y: Any = None,
    path: str | os.PathLike = "explorer.html",
    *,
    rows: Any = None,
    ids: Any = None,
    max_points: int = MAX_POINTS,
    title: str | None = None,
) -> Path:
    """Write the self-contained explorer page for ``model`` over ``X`` (labels ``y`` colour it); returns the path.

    The page needs no network and no server: open it in any browser. A decoder that cannot run in the
    browser (``browser_decodable`` is False) needs ``hourglass serve`` instead.

    Parameters
    ----------
    model : Autoencoder
        A fitted estimator whose decoder is ``browser_decodable`` (every registered model's is).
    X : Dataset, pandas.DataFrame or array-like
        The rows to map.
    y : array-like of shape (n,), optional
        Labels that colour the map.
    path : str or os.PathLike, default "explorer.html"
        The file to write; an existing file is replaced whole, never left half-written.
    rows : array-like of int, shape (n,), optional
        Each row's 0-based number in its source (default: its position in ``X``), as in ``render_page``.
    ids : array-like of str, shape (n,), optional
        Each row's name, e.g. its file path (default: a Dataset's ``ids``).
    max_points : int, default MAX_POINTS
        At most this many rows (a seeded subsample) are drawn.
    title : str, optional
        The page's title.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    HourglassError
        As ``render_page`` in ``"file"`` mode.

    Examples
    --------
    >>> import tempfile
    >>> # images: 32 random 4x4 images; model: Autoencoder(latent_dim=2, hidden=(8,), epochs=2, seed=0).fit(images)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_explorer(model, images, path=f"{tmp}/explorer.html").stat().st_size > 0
    True
    """
    page = render_page(model, X, y, mode="file", rows=rows, ids=ids, max_points=max_points, title=title)
    target = Path(path)
    with atomic_file(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target
