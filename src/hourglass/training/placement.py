"""New rows placed on the neighbor map the way UMAP's ``transform`` places them: by their nearest training rows.

With ``structure="neighbors"`` the fit lays out its training rows (``hourglass.training.layout``) and the
encoder learns to draw that map; an encoder generalises it only so far. UMAP's ``transform`` does not
generalise: it finds a new row's nearest training rows *in input space*, starts the row at the mean of
their places, weighted by the fuzzy graph's weights, and refines it by the layout's moves. ``Placement`` does
the same from rows the model keeps (the training rows, or a seeded sample of ``MAX_KEPT_BYTES`` of them) and
their places in the layout:

* candidates: all kept rows when they are few (``EXACT_VALUES``); else the encoder's code of a new row falls
  in a cell of a grid laid over the kept rows' codes, and the cell holds the ``CANDIDATES`` kept rows whose
  codes are nearest its centre. Searching those, not all kept rows, is what makes a placement cost about
  the same whatever the number of kept rows;
* the ``k`` candidates nearest the row in input space (scaled units) weigh in with UMAP's weights
  ``exp(-(d - rho) / sigma)``, ``rho`` the nearest distance and ``sigma`` set so the weights sum to
  ``log2(k)``; the row starts at their places' weighted mean, as UMAP's does;
* UMAP then refines the row by its layout's moves: pulled towards each neighbor's place by the gradient of
  ``log q``, ``q = 1 / (1 + a d^(2b))``, whose pull fades with distance, so the row settles among its
  nearest places rather than between groups. Here that pull's fixed point is sought directly, ``SHIFT_STEPS``
  mean-shift steps with the pull's weights, ``w d^(2b - 2) / (1 + a d^(2b))`` (distances in the layout's
  own units, ``spread`` times the codes'), and without UMAP's push from random rows;
* a row equal to a kept row takes that row's place, as in UMAP.

So a training row the model kept lands on its own place: the map of the training rows is the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from hourglass.errors import HourglassError
from hourglass.training.layout import A, B

PLACEMENT_ARRAYS = "placement."  # the prefix of the kept rows' and places' tensors in model.safetensors
MAX_KEPT_BYTES = 64 << 20  # kept rows (float32) at most; a seeded sample of the training rows beyond
CANDIDATES = 32  # kept rows searched per placed row
EXACT_VALUES = 1 << 18  # kept rows x features up to which every kept row is searched: as fast, and exact
CELL_ROWS = 4  # kept rows per grid cell on average: the grid has about rows / CELL_ROWS cells
BLOCK_ROWS = 8_192  # rows placed at a time (their candidates' values stay a few MiB)
SHIFT_STEPS = 10  # mean-shift steps from the weighted mean
SIGMA_STEPS = 24  # bisection steps on log(sigma): a relative precision far below the weights' use


@dataclass(frozen=True)
class _Search:
    """What ``Placement.index`` builds: a grid over the kept rows' codes, each cell's candidate kept rows, and
    the kept rows' hash keys in sorted order (with their positions) to find a row equal to a kept one."""

    low: np.ndarray
    size: np.ndarray
    cells: int
    candidates: torch.Tensor | None  # (cells ** width, CANDIDATES) kept rows, by cell; None: search them all
    keys: np.ndarray
    order: np.ndarray


@dataclass
class Placement:
    """Kept training rows (scaled, float32) and their places in the neighbor layout, and the search over them.

    ``rows`` (m, features), ``places`` (m, width, centred and scaled to unit variance as the codes are) and
    ``spread`` are what a model folder saves; the search is built from the encoder's codes of the kept rows
    (``index``) on first use and is not saved."""

    rows: np.ndarray
    places: np.ndarray
    spread: float  # the layout's standard deviation in its own units: places are in units of it
    k: int
    search: _Search | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rows = np.ascontiguousarray(self.rows, dtype=np.float32)
        self.places = np.ascontiguousarray(self.places, dtype=np.float32)
        if self.rows.ndim != 2 or self.places.ndim != 2 or len(self.rows) != len(self.places):
            raise HourglassError(
                f"the kept rows ({self.rows.shape}) and their places ({self.places.shape}) must be two tables "
                "of as many rows"
            )
        if not (np.isfinite(self.spread) and self.spread > 0):
            raise HourglassError(f"the layout's spread must be a positive number; got {self.spread}")
        if not 1 <= self.k <= len(self.rows):
            raise HourglassError(f"placement needs 1 to {len(self.rows)} neighbors (the kept rows); got {self.k}")

    @classmethod
    def keep(cls, rows: np.ndarray, places: np.ndarray, spread: float, k: int, seed: int) -> Placement:
        """The training rows to keep: all of them, or a seeded sample of ``MAX_KEPT_BYTES`` of them."""
        limit = max(MAX_KEPT_BYTES // (4 * max(rows.shape[1], 1)), k)
        if len(rows) > limit:
            pick = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
            rows, places = rows[pick], places[pick]
        return cls(rows, places, float(spread), min(k, len(rows)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The tensors a model folder saves."""
        spread = np.array([self.spread], np.float32)
        return {
            f"{PLACEMENT_ARRAYS}rows": self.rows,
            f"{PLACEMENT_ARRAYS}places": self.places,
            f"{PLACEMENT_ARRAYS}spread": spread,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_features: int, width: int, k: int, where: str) -> Placement:
        """The placement a folder saved, checked against the model's features and code width."""
        shapes = {"rows": n_features, "places": width, "spread": 1}
        for name, columns in shapes.items():
            array = arrays.get(f"{PLACEMENT_ARRAYS}{name}")
            if array is None:
                raise HourglassError(f"{where}: tensor '{PLACEMENT_ARRAYS}{name}' is missing (params.placement)")
            if array.ndim != (1 if name == "spread" else 2) or array.shape[-1] != columns or array.dtype != np.float32:
                raise HourglassError(
                    f"{where}: tensor '{PLACEMENT_ARRAYS}{name}' is {array.dtype} {array.shape}; the model needs "
                    f"float32 of {columns} columns" + (" (one value)" if name == "spread" else "")
                )
            if not np.isfinite(array).all():
                raise HourglassError(f"{where}: tensor '{PLACEMENT_ARRAYS}{name}' is not finite")
        extra = set(arrays) - {f"{PLACEMENT_ARRAYS}{name}" for name in shapes}
        if extra:
            raise HourglassError(f"{where}: unexpected tensors {sorted(extra)}")
        rows, places = arrays[f"{PLACEMENT_ARRAYS}rows"], arrays[f"{PLACEMENT_ARRAYS}places"]
        if len(rows) != len(places) or len(rows) < k:
            raise HourglassError(
                f"{where}: {len(rows)} kept rows and {len(places)} places; need as many, and at least "
                f"params.n_neighbors ({k})"
            )
        return cls(rows, places, float(arrays[f"{PLACEMENT_ARRAYS}spread"][0]), k)

    def index(self, codes: np.ndarray) -> None:
        """Build the search from the encoder's codes of the kept rows (their first two coordinates)."""
        codes = np.asarray(codes, dtype=np.float64)[:, :2]
        cells = max(int(np.sqrt(len(codes) / CELL_ROWS)), 1)
        low = codes.min(axis=0)
        size = np.maximum((codes.max(axis=0) - low) / cells, 1e-12)
        axes = [low[d] + (np.arange(cells) + 0.5) * size[d] for d in range(codes.shape[1])]
        centres = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
        from scipy.spatial import cKDTree

        candidates = None
        if self.rows.size > EXACT_VALUES:
            _, nearest = cKDTree(codes).query(centres, min(CANDIDATES, len(codes)))
            candidates = torch.from_numpy(nearest.reshape(len(centres), -1).astype(np.int64))
        keys = np.concatenate([row_keys(self.rows[i : i + BLOCK_ROWS]) for i in range(0, len(self.rows), BLOCK_ROWS)])
        order = np.argsort(keys, kind="stable")
        self.search = _Search(low, size, cells, candidates, keys[order], order)

    @property
    def indexed(self) -> bool:
        return self.search is not None

    def place(self, rows: np.ndarray, codes: np.ndarray, scale: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Places of ``rows`` (in the data's units; ``scale`` takes them to the kept rows' scaled units) whose
        encoder codes are ``codes``."""
        if self.search is None:
            raise HourglassError("Placement.index must run before place")
        kept = torch.from_numpy(self.rows)
        norms = kept.square().sum(dim=1)
        places = torch.from_numpy(self.places)
        out = np.empty((len(rows), self.places.shape[1]), np.float32)
        for start in range(0, len(rows), BLOCK_ROWS):
            block = torch.from_numpy(np.ascontiguousarray(scale(rows[start : start + BLOCK_ROWS]), dtype=np.float32))
            # |r - x|^2 = |r|^2 - 2 r.x + |x|^2 over each row's candidates, or over all kept rows
            if self.search.candidates is None:
                d2, chosen = torch.addmm(norms, block, kept.T, alpha=-2).topk(self.k, dim=1, largest=False)
            else:
                candidates = self._candidates(np.asarray(codes[start : start + BLOCK_ROWS]))
                near = torch.baddbmm(norms[candidates][:, :, None], kept[candidates], block[:, :, None], alpha=-2)
                d2, order = near[:, :, 0].topk(self.k, dim=1, largest=False)
                chosen = candidates.gather(1, order)
            d2 += block.square().sum(dim=1, keepdim=True)
            weights = fuzzy_weights(d2.clamp_min(0).sqrt())
            near = places[chosen] * self.spread  # (rows, k, width), in the layout's units
            placed = (weights[:, :, None] * near).sum(dim=1) / weights.sum(dim=1, keepdim=True)
            for _ in range(SHIFT_STEPS):
                apart = (placed[:, None, :] - near).square().sum(dim=2).clamp_min(1e-12)
                power = torch.exp(B * apart.log())  # d^(2b), and d^(2b - 2) = d^(2b) / d^2
                pull = weights * power / (apart * (1 + A * power))
                placed = torch.bmm(pull[:, None, :], near)[:, 0] / pull.sum(dim=1, keepdim=True)
            out[start : start + len(block)] = (placed / self.spread).numpy()
            same, which = self._find(block.numpy())  # a row equal to a kept row: its place, as UMAP's transform
            out[start + np.flatnonzero(same)] = self.places[which[same]]
        return out

    def _candidates(self, codes: np.ndarray) -> torch.Tensor:
        search = self._built()
        assert search.candidates is not None  # only asked where the kept rows are too many to search all
        cell = np.clip(np.floor((codes[:, :2] - search.low) / search.size), 0, search.cells - 1).astype(np.int64)
        flat = cell[:, 0] * search.cells + cell[:, 1] if cell.shape[1] > 1 else cell[:, 0]
        return search.candidates[torch.from_numpy(flat)]

    def _find(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which rows equal a kept row, bit for bit, and which kept row (by a hash of their bits, then checked)."""
        search = self._built()
        keys = row_keys(rows)
        slot = np.minimum(np.searchsorted(search.keys, keys), len(self.rows) - 1)
        which = search.order[slot]
        same = (search.keys[slot] == keys) & np.all(self.rows[which] == rows, axis=1)
        return same, which

    def _built(self) -> _Search:
        if self.search is None:
            raise HourglassError("placement: the search over the kept rows is not built (call index first)")
        return self.search


def row_keys(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each float32 row's bits (a random multiply-add that wraps): equal rows, equal keys."""
    bits = np.ascontiguousarray(rows, dtype=np.float32).view(np.uint32).astype(np.uint64)
    multipliers = np.random.default_rng(0).integers(1, 2**63, size=bits.shape[1], dtype=np.uint64) * 2 + 1
    return (bits * multipliers).sum(axis=1, dtype=np.uint64)


def fuzzy_weights(dist: torch.Tensor) -> torch.Tensor:
    """UMAP's membership weights of each row's ``k`` nearest distances (ascending): ``exp(-(d - rho) / sigma)``,
    ``rho`` the nearest distance, ``sigma`` such that they sum to ``log2(k)`` (at least 1 for the nearest)."""
    gap = (dist - dist[:, :1]).clamp_min(0)
    target = float(np.log2(max(dist.shape[1], 2)))
    scale = gap.mean(dim=1).clamp_min(1e-12).log()
    low, high = torch.full_like(scale, -20.0), torch.full_like(scale, 10.0)  # log(sigma) - scale
    for _ in range(SIGMA_STEPS):
        mid = (low + high) / 2
        over = torch.exp(-gap / torch.exp(scale + mid)[:, None]).sum(dim=1) > target
        high, low = torch.where(over, mid, high), torch.where(over, low, mid)
    return torch.exp(-gap / torch.exp(scale + (low + high) / 2)[:, None])
