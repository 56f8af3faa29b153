"""Prove an export computes what the model computes: the same probe rows through PyTorch (the estimator's own
``transform``, ``inverse_transform``, ``score_samples``, ``verdicts``), onnxruntime, and the explorer's
JavaScript (``explorer/static/network.js``: the page's decoder, encoder and the drawing pad's score), every pair
compared. An autoencoder's score (its reconstruction error) has no ONNX graph: PyTorch and JavaScript compare.

Decoders are compared on the same codes (PyTorch's), so a difference is the decoder's alone. A difference is
measured as ``|a - b| / max(1, |b|, scale)``: absolute for values within 1, relative beyond, and for rows at
least relative to the feature's scale (the scaler's), so that a float32 rounding of a large-unit feature
(1e6 +- 0.06) is not mistaken for a disagreement. Any pair above ``TOLERANCE``, or any detector verdict that
differs, fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hourglass.anomaly import AnomalyDetector
from hourglass.estimator import _Estimator
from hourglass.export import browser
from hourglass.export.onnx import Runtime

TOLERANCE = 1e-5
TORCH, ORT, JS = "pytorch", "onnxruntime", "javascript"


@dataclass(frozen=True)
class Check:
    """One compared pair: the worst difference of ``output`` between ``pair``'s two, where it is and the values."""

    output: str
    pair: tuple[str, str]
    worst: float  # the largest difference; for verdicts, the number of rows that differ
    where: str
    values: tuple[str, str]
    ok: bool
    ties: int = 0  # verdicts only: rows that differ with a score at the threshold (see ``compare_verdicts``)


@dataclass(frozen=True)
class Report:
    """Every check, the notes (a skipped column and why) and the probe size; ``ok`` when every check passed."""

    checks: list[Check]
    notes: list[str]
    rows: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def table(self) -> str:
        """The checks as an aligned text table, the notes below it, then a one-line verdict."""
        header = ("output", "pair", "worst difference", "at", "values there", "")
        lines = [
            (c.output, " vs ".join(c.pair), _shown(c), c.where, " vs ".join(c.values), "ok" if c.ok else "FAIL")
            for c in self.checks
        ]
        widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
        text = [
            "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [header, *lines]
        ]
        text += [f"note: {note}" for note in self.notes]
        failed = [c for c in self.checks if not c.ok]
        if failed:
            text.append(f"DISAGREE: {len(failed)} of {len(self.checks)} checks failed on {self.rows} probe rows")
        else:
            text.append(f"agree: every pair within {TOLERANCE:g} on {self.rows} probe rows")
        return "\n".join(text)


def verify(estimator: _Estimator, runtime: Runtime, X: np.ndarray) -> Report:
    """Run the probe rows ``X`` (n, features) through PyTorch, onnxruntime and (where Chromium runs) JavaScript.

    Parameters
    ----------
    estimator : Autoencoder or AnomalyDetector
        The fitted model.
    runtime : hourglass.export.onnx.Runtime
        Sessions for its export.
    X : np.ndarray, shape (n, features)
        Probe rows in the model's units (flattened images).

    Returns
    -------
    Report
    """
    rows = np.ascontiguousarray(X, dtype=np.float32)
    scale = np.asarray(estimator.scaler_.scale, np.float64)
    codes = estimator.runner_.encode(estimator._rows(rows), placed=False)  # the encoder's: what is exported
    encoded = {TORCH: codes, ORT: runtime.run("encoder", rows)}
    decoded = {TORCH: estimator.runner_.inverse_transform(codes), ORT: runtime.run("decoder", codes)}
    scores = {TORCH: estimator.score_samples(rows)}
    if isinstance(estimator, AnomalyDetector):
        scores[ORT] = runtime.run("scorer", rows).astype(np.float64)
    notes = []
    reason = browser.unavailable(estimator)
    if reason is None:
        try:
            js = browser.run_in_browser(estimator, rows, codes)
        except Exception as e:  # Playwright's Error, or Chromium that would not start: the column is skipped
            reason = f"Chromium failed ({' '.join(str(e).split())[:160]})"
        else:
            decoded[JS] = js.rows
            if js.codes is None or js.scores is None:
                notes.append(f"{JS} codes and scores skipped: the encoder has no JavaScript twin in the explorer")
            else:
                encoded[JS], scores[JS] = js.codes, js.scores
    if reason is not None:
        notes.append(f"{JS} column skipped: {reason}")
    checks = _pairs("codes", encoded) + _pairs("rows", decoded, scale) + _pairs("scores", scores)
    if isinstance(estimator, AnomalyDetector):
        checks += [
            compare_verdicts(estimator, scores[TORCH], scores[other], (TORCH, other))
            for other in scores
            if other != TORCH
        ]
    return Report(checks, notes, len(rows))


def _pairs(output: str, values: dict[str, np.ndarray], scale: np.ndarray | None = None) -> list[Check]:
    """``compare`` on every pair of the columns that computed ``output``, in the order they were added."""
    names = list(values)
    return [compare(output, (a, b), values[a], values[b], scale) for i, a in enumerate(names) for b in names[i + 1 :]]


def compare(output: str, pair: tuple[str, str], a: np.ndarray, b: np.ndarray, scale: np.ndarray | None = None) -> Check:
    """The worst difference between ``a`` and ``b`` (see the module docstring); ``scale`` per column of rows.

    Examples
    --------
    >>> import numpy as np
    >>> check = compare("rows", ("x", "y"), np.array([[1.0, 2e6]]), np.array([[1.0, 2e6 + 1]]))
    >>> check.where, round(check.worst, 9), check.ok  # 1 in 2 million: relative beyond 1
    ('row 0, col 1', 5e-07, True)
    >>> compare("codes", ("x", "y"), np.array([0.1, 0.2]), np.array([0.1, 0.3])).ok
    False
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return Check(output, pair, np.inf, "shape", (str(a.shape), str(b.shape)), False)
    floor = np.maximum(1.0, np.abs(b))
    if scale is not None:
        floor = np.maximum(floor, scale)
    with np.errstate(invalid="ignore"):
        # Equal infinities (a score of -inf for a row too far out to measure) agree; anything else unequal fails.
        diff = np.where(a == b, 0.0, np.abs(a - b) / floor)
    diff = np.nan_to_num(diff, nan=np.inf)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    value = float(diff[worst]) if diff.size else 0.0
    where = ", ".join(f"{axis} {i}" for axis, i in zip(("row", "col"), worst, strict=False))
    values = (f"{a[worst]:.9g}", f"{b[worst]:.9g}") if diff.size else ("", "")
    return Check(output, pair, value, where, values, value <= TOLERANCE)


def compare_verdicts(
    detector: AnomalyDetector, a: np.ndarray, b: np.ndarray, pair: tuple[str, str] = (TORCH, ORT)
) -> Check:
    """The detector's verdicts (``verdicts``: +1 normal, -1 anomaly) on each side's scores: rows that differ.

    A row whose score ``a`` lies within ``TOLERANCE`` of the threshold is a tie: scores that agree to 1e-7 fall
    either side of it. That happens, since ``offset_`` is a quantile of training scores and, for some numbers
    of rows, one of them (201 rows, contamination "auto": the third lowest); such a flip is shown, not failed.
    """
    va, vb = detector.verdicts(a), detector.verdicts(b)
    differ = va != vb
    tie = np.abs(np.asarray(a, np.float64) - detector.offset_) <= TOLERANCE * np.maximum(1.0, np.abs(a))
    failed = np.flatnonzero(differ & ~tie)
    first = failed if len(failed) else np.flatnonzero(differ)
    where = f"row {first[0]}" if len(first) else ""
    counts = (f"{int((va == -1).sum())} flagged", f"{int((vb == -1).sum())} flagged")
    ties = int((differ & tie).sum())
    return Check("verdicts", pair, float(differ.sum()), where, counts, not len(failed), ties)


def _shown(check: Check) -> str:
    if check.output == "verdicts":
        return f"differing rows: {int(check.worst)}" + (f" ({check.ties} at the threshold)" if check.ties else "")
    return f"{check.worst:.2e}"
