"""Input scaling learned on the training data, saved with the model and undone on output.

``scaling="auto"`` looks at the data once and picks what is safe for its kind:

- **bounded data** (images, uint8, every value within [0, 1], or integer pixel values in [0, 255]
  over at least ``PIXEL_MIN_COLUMNS`` columns) is scaled by one global range, as pixels are: the
  data's own minimum and maximum over all its values. Not a nominal range such as [0, 255]: digits
  with values 0..16 taken for 0..255 pixels filled a sixteenth of the sigmoid output's range and
  trained to black. Nor one anchored at 0, which squeezes data far from 0 (thermal images in
  kelvin) the same way. ``benchmarks/scaling.py`` compares these rules on 24 datasets. One range
  for all pixels, not one each: a pixel that is nearly always dark is not stretched to full range,
  so a slightly brighter pixel in new data stays slightly brighter instead of being blown up. The
  range is also what black and white mean where images are drawn (``hourglass.viz``).
- **tables** are standardised per feature, with a floor on each feature's scale: at least
  ``RANGE_FLOOR`` of that feature's own training range. A near-constant column (a rare 1 among
  0s) can then amplify a deviation at most ``1 / RANGE_FLOOR``-fold. The floor is relative to the
  feature's own range, not to other features', so tables that mix units (grams beside
  kilometres) keep every feature.

Inputs far outside the training range are clipped, in scaled units, to the training range widened
by its own width (at least 1) on each side: a value 10^6 times too large encodes like a value at
the edge of that window instead of driving the network into a region it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hourglass.errors import HourglassError

KINDS = ("minmax", "standard", "none")  # what a fitted scaler is; "auto" picks one of them
CHUNK_ROWS = 65_536
RANGE_FLOOR = 0.05
PIXEL_MIN_COLUMNS = 16


@dataclass
class Scaler:
    """``scaled = clip((x - offset) / scale)`` per feature; every vector has one entry per feature.

    Build one with ``Scaler.fit`` (or ``from_arrays`` for a saved one).

    Attributes
    ----------
    kind : str
        What it is: ``"minmax"``, ``"standard"`` or ``"none"`` (``"auto"`` is resolved by ``fit``).
    offset, scale : np.ndarray of float32, shape (features,)
        Subtracted, then divided by.
    low, high : np.ndarray of float32, shape (features,), or None
        The training minimum and maximum in scaled units, or ``None`` for a scaling that does not clip
        (``fit(clip=False)``, an anomaly detector's).

    Examples
    --------
    >>> import numpy as np
    >>> s = Scaler.fit(np.array([[0.0, 10.0], [2.0, 30.0]]), "minmax")
    >>> s.offset, s.scale
    (array([ 0., 10.], dtype=float32), array([ 2., 20.], dtype=float32))
    >>> s.transform(np.array([[1.0, 20.0]]))
    array([[0.5, 0.5]], dtype=float32)
    >>> s.inverse_transform(np.array([[0.5, 0.5]], np.float32))
    array([[ 1., 20.]], dtype=float32)
    """

    kind: str
    offset: np.ndarray
    scale: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    @classmethod
    def fit(cls, X: np.ndarray, kind: str = "auto", images: bool = False, clip: bool = True) -> Scaler:
        """Learn the statistics in one chunked pass (memory-mapped arrays stay on disk).

        Parameters
        ----------
        X : np.ndarray, shape (n, features)
            The training rows.
        kind : {"auto", "minmax", "standard", "none"}, default "auto"
            ``"auto"`` picks min-max for bounded data and per-feature standardising for tables
            (see the module docstring).
        images : bool, default False
            Image arrays (uint8): pool every value for min-max instead of scaling each pixel on its own.
        clip : bool, default True
            Keep a clip window; ``False`` lets inputs pass unclipped.

        Returns
        -------
        Scaler
        """
        if kind not in ("auto", *KINDS):
            raise HourglassError(f"unknown scaling {kind!r}; choose one of auto, {', '.join(KINDS)}")
        stats = _Stats.of(X)
        bounded = images or stats.bounded
        if kind == "auto":
            kind = "minmax" if bounded else "standard"
        n = X.shape[1]
        if kind == "none":
            offset, scale = np.zeros(n), np.ones(n)
        elif kind == "minmax" and bounded:
            lo, hi = stats.global_range()
            offset, scale = np.full(n, lo), np.full(n, hi - lo)
        elif kind == "minmax":
            offset, scale = stats.lo, stats.hi - stats.lo
        elif images:  # one mean and deviation over every pixel
            mean = stats.mean.mean()
            offset, scale = np.full(n, mean), np.full(n, np.sqrt(np.mean(stats.std**2 + stats.mean**2) - mean**2))
        else:
            offset, scale = stats.mean, np.maximum(stats.std, RANGE_FLOOR * (stats.hi - stats.lo))
        # A constant feature keeps scale 1 so it maps to 0 instead of dividing by zero.
        scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(offset)), scale, 1.0)
        offset, scale = np.asarray(offset, np.float32), np.asarray(scale, np.float32)
        if not clip:
            return cls(kind, offset, scale)
        # In float32, as transform computes it: the float64 extremes minus a float32-rounded offset would
        # place the window off by the rounding (1e19 for values near 1e27).
        low = (stats.lo.astype(np.float32) - offset) / scale
        high = (stats.hi.astype(np.float32) - offset) / scale
        return cls(kind, offset, scale, low, high)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Rows (n, features) in scaled units, as float32, clipped to ``clip_window``."""
        scaled = (np.asarray(X, np.float32) - self.offset) / self.scale
        if self.low is not None and self.high is not None:
            lo, hi = self.clip_window()
            np.clip(scaled, lo, hi, out=scaled)
        return scaled.astype(np.float32, copy=False)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Scaled rows back in the data's units (no clipping), as float32."""
        return (np.asarray(X, np.float32) * self.scale + self.offset).astype(np.float32, copy=False)

    def clipped_away(self, X: np.ndarray, rows: int = 65_536) -> np.ndarray:
        """Per row, the mean squared distance (scaled units, float64) that ``transform``'s clip removes: 0 for a
        row inside ``clip_window``, and growing with how far one lies beyond it, without overflowing for any
        finite float32 value. Chunked, so a memory-mapped array stays on disk."""
        out = np.zeros(X.shape[0], np.float64)
        if self.low is None or self.high is None:
            return out
        lo, hi = (w.astype(np.float64) for w in self.clip_window())
        offset, scale = self.offset.astype(np.float64), self.scale.astype(np.float64)
        for start in range(0, X.shape[0], rows):
            scaled = (np.asarray(X[start : start + rows], np.float64) - offset) / scale
            beyond = scaled - np.clip(scaled, lo, hi)
            out[start : start + rows] = np.mean(beyond * beyond, axis=1)
        return out

    def clip_window(self) -> tuple[np.ndarray, np.ndarray]:
        """The scaled values inputs are clipped to: the training range widened by its width (>= 1)."""
        assert self.low is not None and self.high is not None
        margin = np.maximum(self.high - self.low, 1.0)
        return self.low - margin, self.high + margin

    def arrays(self) -> dict[str, np.ndarray]:
        """What a model folder stores (see ``from_arrays``)."""
        out = {"scaler.offset": self.offset, "scaler.scale": self.scale}
        if self.low is not None and self.high is not None:
            out |= {"scaler.low": self.low, "scaler.high": self.high}
        return out

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict[str, np.ndarray]) -> Scaler:
        low, high = arrays.get("scaler.low"), arrays.get("scaler.high")
        return cls(kind, arrays["scaler.offset"], arrays["scaler.scale"], low, high)


@dataclass
class _Stats:
    """Per-feature min, max, mean and std, and whether the values are integers, from one pass."""

    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    integers: bool

    @classmethod
    def of(cls, X: np.ndarray) -> _Stats:
        n_features = X.shape[1]
        lo, hi = np.full(n_features, np.inf), np.full(n_features, -np.inf)
        total, squares, count, integers = np.zeros(n_features), np.zeros(n_features), 0, True
        for start in range(0, X.shape[0], CHUNK_ROWS):
            chunk = np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64)
            lo, hi = np.minimum(lo, chunk.min(axis=0)), np.maximum(hi, chunk.max(axis=0))
            total += chunk.sum(axis=0)
            squares += np.square(chunk).sum(axis=0)
            count += chunk.shape[0]
            integers = integers and bool(np.all(chunk == np.round(chunk)))
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        return cls(lo, hi, mean, std, integers)

    @property
    def bounded(self) -> bool:
        low, high = self.lo.min(), self.hi.max()
        unit = low >= 0 and high <= 1
        pixels = self.integers and low >= 0 and high <= 255 and len(self.lo) >= PIXEL_MIN_COLUMNS
        return bool(unit or pixels)

    def global_range(self) -> tuple[float, float]:
        """The least and the largest value over every feature: the one range bounded data is scaled by."""
        return float(self.lo.min()), float(self.hi.max())
