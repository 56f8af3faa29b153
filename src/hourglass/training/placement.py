"""New rows placed on the neighbor map the way UMAP's ``transform`` places them: by their nearest training rows.

With ``structure="neighbors"`` the fit lays out its training rows (``hourglass.training.layout``) and the
encoder learns to draw that map; an encoder generalises it only so far. UMAP's ``transform`` does not
generalise: it finds a new row's nearest training rows *in input space*, starts the row at the mean of
their places, weighted by the fuzzy graph's weights, and refines it by the layout's moves. ``Placement`` does
the same from rows the model keeps (the rows ``fit`` was given, the held-out ones too, or a seeded sample of
``MAX_KEPT_BYTES`` of them) and their places in the layout:

* candidates: all kept rows when they are few (``EXACT_VALUES``), searched exactly; else the encoder's code
  of a new row falls in a cell of a grid laid over the kept rows' codes, and the cell holds ``CANDIDATES``
  kept rows: first those most often among the nearest kept rows (in input space) of the kept rows whose
  codes fell in that cell, then those whose codes lie nearest its centre. A new row near the rows that fell
  in its cell is near their neighbors; the encoder's 2-D code alone is a poorer guide to input-space
  neighbors. Searching a cell's candidates, not all kept rows, is what makes a placement cost about the
  same whatever the number of kept rows. Rows wider than ``WIDE`` values are compared on the kept rows'
  ``PROJECTED`` principal axes, in either search; searching all kept rows, no encoder pass is needed;
* the ``k`` candidates nearest the row in input space (scaled units) weigh in with UMAP's weights
  ``exp(-(d - rho) / sigma)``, ``rho`` the nearest distance and ``sigma`` set so the weights sum to
  ``log2(k)`` (Newton's method on ``1 / sigma``); the row starts at their places' weighted mean, as UMAP's does;
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
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from hourglass.errors import HourglassError
from hourglass.runtime.forward import ROW_GROUP
from hourglass.training.layout import A, B

PLACEMENT_ARRAYS = "placement."  # the prefix of the kept rows' and places' tensors in model.safetensors
MAX_KEPT_BYTES = 64 << 20  # kept rows (float32) at most; a seeded sample of the training rows beyond
CANDIDATES = 32  # kept rows searched per placed row
EXACT_VALUES = 1 << 18  # kept rows x values compared a row up to which every kept row is searched
VOTERS = 8_192  # kept rows (all, or a seeded sample) whose nearest kept rows are found exactly to index
INDEX_ROWS = 512  # kept rows at a time while their nearest kept rows are found
WIDE = 64  # rows wider than this many values are compared with the kept rows on PROJECTED principal axes
PROJECTED = 24  # principal axes that wide rows are compared on
CELL_ROWS = 4  # kept rows per grid cell on average: the grid has about rows / CELL_ROWS cells
BLOCK_ROWS = 1_024  # rows placed at a time: their candidates' values stay in cache
GROUP = 16  # kept rows per group in an exact search (see nearest_of_all)
EXACT_CHUNK = 1 << 20  # distances at a time in an exact search: a few MiB, in cache
SHIFT_STEPS = 6  # mean-shift steps from the weighted mean
SIGMA_STEPS = 6  # Newton steps on 1 / sigma: the weights only feed a weighted mean


@dataclass(frozen=True)
class _Search:
    """What ``Placement.index`` builds: a grid over the kept rows' codes, each cell's candidate kept rows, and
    the kept rows' hash keys in sorted order (with their positions) to find a row equal to a kept one."""

    low: np.ndarray
    size: np.ndarray
    cells: int
    candidates: torch.Tensor | None  # (cells ** width, CANDIDATES) kept rows, by cell; None: search them all
    padded: torch.Tensor  # the kept rows, then zero rows up to whole GROUPs (searched when they are few)
    norms: torch.Tensor  # their squared lengths, the padding's infinite (never among the nearest)
    mean: torch.Tensor  # with wide rows: the kept rows' mean and principal axes, (features, PROJECTED)
    axes: torch.Tensor | None  # (None: rows are compared whole)
    projected: torch.Tensor  # the kept rows compared with a row's candidates: on those axes, or whole
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

    @property
    def by_cell(self) -> bool:
        """Whether new rows are searched among their cell's candidates, which needs their encoder codes (not
        among all kept rows: the kept rows' values compared, ``PROJECTED`` a row at most, are too many)."""
        return len(self.rows) * (PROJECTED if self.rows.shape[1] > WIDE else self.rows.shape[1]) > EXACT_VALUES

    def index(self, codes: np.ndarray | None) -> None:
        """Build the search; ``by_cell``, from the encoder's codes of the kept rows (their first two coordinates)."""
        keys = np.concatenate([row_keys(self.rows[i : i + BLOCK_ROWS]) for i in range(0, len(self.rows), BLOCK_ROWS)])
        order = np.argsort(keys, kind="stable")
        rows, mean, principal = torch.from_numpy(self.rows), torch.zeros(self.rows.shape[1]), None
        if self.rows.shape[1] > WIDE:
            mean, principal = principal_axes(self.rows, PROJECTED)
            rows = torch.cat([(rows[i : i + BLOCK_ROWS] - mean) @ principal for i in range(0, len(rows), BLOCK_ROWS)])
        padded = torch.zeros(-(-len(rows) // GROUP) * GROUP, rows.shape[1])
        padded[: len(rows)] = rows
        norms = padded.square().sum(dim=1)
        norms[len(rows) :] = torch.inf
        if not self.by_cell:
            no_grid = np.zeros(2), np.ones(2), 1
            self.search = _Search(*no_grid, None, padded, norms, mean, principal, rows, keys[order], order)
            return
        if codes is None:
            raise HourglassError("placement: a search by cell is built from the kept rows' encoder codes")
        codes = np.asarray(codes, dtype=np.float64)[:, :2]
        cells = max(int(np.sqrt(len(codes) / CELL_ROWS)), 1)
        low = codes.min(axis=0)
        size = np.maximum((codes.max(axis=0) - low) / cells, 1e-12)
        axes = [low[d] + (np.arange(cells) + 0.5) * size[d] for d in range(codes.shape[1])]
        centres = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(codes).query(centres, min(CANDIDATES, len(codes)))
        nearest = nearest.reshape(len(centres), -1).astype(np.int64)
        # a first search, by the rows nearest each cell's centre, finds each kept row's neighbors roughly, and
        # VOTERS of them (all, or a seeded sample) exactly; by their votes, the cells' candidates
        search = _Search(
            low,
            size,
            cells,
            torch.from_numpy(nearest),
            padded[:0],
            norms[:0],
            mean,
            principal,
            rows,
            keys[order],
            order,
        )
        self.search = search
        neighbors = torch.cat(
            [
                self.nearest(self.rows[i : i + BLOCK_ROWS], codes[i : i + BLOCK_ROWS])[1]
                for i in range(0, len(codes), BLOCK_ROWS)
            ]
        ).numpy()
        voters = np.arange(len(codes))
        if len(voters) > VOTERS:
            voters = np.sort(np.random.default_rng(0).choice(len(codes), VOTERS, replace=False))
        for start in range(0, len(voters), INDEX_ROWS):
            which = voters[start : start + INDEX_ROWS]
            neighbors[which] = nearest_of_all(padded[torch.from_numpy(which)], padded, norms, self.k)[1].numpy()
        candidates = _vote(cell_of(codes, low, size, cells), neighbors, nearest, len(codes))
        self.search = replace(search, candidates=torch.from_numpy(candidates))

    @property
    def indexed(self) -> bool:
        return self.search is not None

    def place(
        self, rows: np.ndarray, codes: np.ndarray | None, scale: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """Places of ``rows`` (in the data's units; ``scale`` takes them to the kept rows' scaled units) whose
        encoder codes are ``codes`` (needed ``by_cell`` only). Each row's place depends on that row alone, not
        on the others placed with it."""
        places = torch.from_numpy(self.places) * self.spread  # in the layout's units, where the pull is defined
        out = np.empty((len(rows), self.places.shape[1]), np.float32)
        for start in range(0, len(rows), BLOCK_ROWS):
            block = np.ascontiguousarray(scale(rows[start : start + BLOCK_ROWS]), dtype=np.float32)
            # padded to whole ROW_GROUPs: a matmul rounds a row by how many rows share it, and an exp or pow
            # rounds the ragged tail of a tensor's values (past its last whole SIMD vector) its own way
            extra = -len(block) % ROW_GROUP
            whole = np.concatenate([block, np.zeros((extra, block.shape[1]), np.float32)])
            near = None
            if codes is not None:
                near = np.asarray(codes[start : start + BLOCK_ROWS])
                near = np.concatenate([near, np.zeros((extra, near.shape[1]), near.dtype)])
            dist, chosen = self.nearest(whole, near)
            placed = settle(fuzzy_weights(dist), places[chosen])[: len(block)]
            out[start : start + len(block)] = (placed / self.spread).numpy()
            same, which = self._find(block)  # a row equal to a kept row: its place, as UMAP's transform
            out[start + np.flatnonzero(same)] = self.places[which[same]]
        return out

    def nearest(self, block: np.ndarray, codes: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` kept rows nearest each scaled row among its cell's candidates: distances (ascending) and
        which kept rows."""
        search = self._built()
        x = torch.from_numpy(block)
        if search.axes is not None:  # wide rows: compared on their principal axes, a fraction of the values
            x = (x - search.mean) @ search.axes
        if search.candidates is None:
            d2, chosen = nearest_of_all(x, search.padded, search.norms, self.k)
            return (d2 + x.square().sum(dim=1, keepdim=True)).clamp_min_(0).sqrt_(), chosen
        if codes is None:
            raise HourglassError("placement: a search by cell needs the rows' encoder codes")
        candidates = search.candidates[torch.from_numpy(cell_of(codes, search.low, search.size, search.cells))]
        kept = search.projected.index_select(0, candidates.view(-1)).view(*candidates.shape, -1)
        d2 = kept.sub_(x[:, None, :]).square_().sum(dim=2)  # differences, not |r|^2 - 2 r.x + |x|^2: no cancellation
        d2, order = d2.topk(min(self.k, d2.shape[1]), dim=1, largest=False)
        return d2.sqrt_(), candidates.gather(1, order)

    def _find(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which rows equal a kept row, bit for bit, and which kept row (by a hash of their bits, then checked)."""
        search = self._built()
        keys = row_keys(rows)
        slot = np.minimum(np.searchsorted(search.keys, keys), len(self.rows) - 1)
        which = search.order[slot]
        same = search.keys[slot] == keys
        hits = np.flatnonzero(same)  # few, most often none: only these are compared value by value
        same[hits] = np.all(self.rows[which[hits]] == rows[hits], axis=1)
        return same, which

    def _built(self) -> _Search:
        if self.search is None:
            raise HourglassError("placement: the search over the kept rows is not built (call index first)")
        return self.search


def nearest_of_all(
    x: torch.Tensor, padded: torch.Tensor, norms: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` rows of ``padded`` nearest each row of ``x``, exactly, by ``|r|^2 - 2 r.x`` (ascending; add
    ``|x|^2`` for squared distances): the ``k`` groups of ``GROUP`` rows with the nearest minima hold the
    ``k`` nearest rows, so a top-k over the groups' minima, then over their members, finds them at a
    fraction of a top-k over every row. In chunks of whole ``ROW_GROUP``s of rows (``x`` has whole groups):
    the same bits for a row whatever rows share the call."""
    step = max(EXACT_CHUNK // len(padded) // ROW_GROUP, 1) * ROW_GROUP
    nearest = [_nearest_in_groups(x[i : i + step], padded, norms, k) for i in range(0, len(x), step)]
    return torch.cat([d for d, _ in nearest]), torch.cat([c for _, c in nearest])


def _nearest_in_groups(
    x: torch.Tensor, padded: torch.Tensor, norms: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    d2 = torch.addmm(norms, x, padded.T, alpha=-2)
    groups = d2.view(len(x), GROUP, -1).amin(dim=1)  # group j: rows j, j + n, j + 2n, ... (n groups): a
    _, best = groups.topk(min(k, groups.shape[1]), dim=1, largest=False)  # minimum over whole vectors
    columns = (best[:, :, None] + torch.arange(GROUP) * groups.shape[1]).view(len(x), -1)
    d2, order = d2.gather(1, columns).topk(k, dim=1, largest=False)
    return d2, columns.gather(1, order)


def principal_axes(rows: np.ndarray, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows' mean and their ``count`` principal axes (features, count), largest variance first."""
    data = torch.from_numpy(rows).double()
    mean = data.mean(dim=0)
    cov = torch.zeros(data.shape[1], data.shape[1], dtype=torch.float64)
    for start in range(0, len(data), BLOCK_ROWS):
        centred = data[start : start + BLOCK_ROWS] - mean
        cov += centred.T @ centred
    _, vectors = torch.linalg.eigh(cov)  # ascending
    return mean.float(), vectors[:, -count:].flip(1).float().contiguous()


def cell_of(codes: np.ndarray, low: np.ndarray, size: np.ndarray, cells: int) -> np.ndarray:
    """The grid cell (a flat index) that each code falls in; codes beyond the kept rows' range, the edge's."""
    cell = np.clip(np.floor((codes[:, :2] - low) / size), 0, cells - 1).astype(np.int64)
    return cell[:, 0] * cells + cell[:, 1] if cell.shape[1] > 1 else cell[:, 0]


def _vote(cell: np.ndarray, neighbors: np.ndarray, nearest: np.ndarray, rows: int) -> np.ndarray:
    """Each cell's candidates: the kept rows most often among the nearest kept rows (in input space) of the
    kept rows whose codes fall in the cell, then those whose codes lie nearest its centre (``nearest``, one
    row a cell, nearest first), as many as ``nearest`` has columns. A new row whose code falls in a cell is
    most likely near the rows near those that fell there: its encoder code alone chooses poorer candidates."""
    voted, count = np.unique(np.repeat(cell, neighbors.shape[1]) * rows + neighbors.ravel(), return_counts=True)
    width = nearest.shape[1]
    near = np.repeat(np.arange(len(nearest)), width) * rows + nearest.ravel()
    keys = np.concatenate([voted, near])
    score = np.concatenate([count, -1 - np.tile(np.arange(width), len(nearest))])  # votes first, then nearness
    order = np.lexsort((-score, keys))
    keys, score = keys[order], score[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]  # a row voted for and near the centre: once, by its votes
    keys, score = keys[first], score[first]
    order = np.lexsort((keys % rows, -score, keys // rows))  # by cell, most voted first
    keys = keys[order]
    starts = np.searchsorted(keys // rows, np.arange(len(nearest)))
    take = starts[:, None] + np.arange(width)  # every cell has at least its ``width`` nearest rows
    return (keys[take] % rows).astype(np.int64)


def row_keys(rows: np.ndarray) -> np.ndarray:
    """A hash of each float32 row's bits: each value's bits times an odd random number (wrapping in 32 bits, a
    one-to-one map), summed in 64 bits. Equal rows, equal keys; a key shared by unequal rows is checked."""
    bits = np.ascontiguousarray(rows, dtype=np.float32).view(np.uint32)
    multipliers = np.random.default_rng(0).integers(0, 2**31, size=bits.shape[1], dtype=np.uint32) * 2 + 1
    return (bits * multipliers).sum(axis=1, dtype=np.uint64)


def fuzzy_weights(dist: torch.Tensor) -> torch.Tensor:
    """UMAP's membership weights of each row's ``k`` nearest distances (ascending): ``exp(-(d - rho) / sigma)``,
    ``rho`` the nearest distance, ``sigma`` such that they sum to ``log2(k)`` (at least 1 for the nearest).

    The sum falls and is convex in ``1 / sigma``, so Newton's steps from below the root rise to it without
    passing it."""
    gap = dist - dist[:, :1]
    target = float(np.log2(max(dist.shape[1], 2)))
    # 1 / sigma starts below the root: by Jensen, the sum is at least k exp(-mean gap / sigma)
    inverse = float(np.log(dist.shape[1] / target)) / gap.mean(dim=1, keepdim=True).clamp_min_(1e-30)
    for _ in range(SIGMA_STEPS):
        weights = torch.exp(-gap * inverse)
        slope = (weights * gap).sum(dim=1, keepdim=True)  # minus the sum's derivative
        inverse += (weights.sum(dim=1, keepdim=True) - target).clamp_min_(0) / slope.clamp_min_(1e-30)
    return torch.exp(-gap * inverse)


def settle(weights: torch.Tensor, near: torch.Tensor) -> torch.Tensor:
    """From the weighted mean of the neighbors' places ``near`` (rows, k, width), ``SHIFT_STEPS`` mean-shift
    steps towards the fixed point of the layout's pull, ``w d^(2b - 2) / (1 + a d^(2b))``.

    Every sum runs along a row's own ``k`` values, a coordinate at a time: a sum across the rows' axis, or a
    batched product, rounds a row by how many rows share the call."""
    axes = near.permute(2, 0, 1).contiguous()  # (width, rows, k)
    total = weights.sum(dim=1, keepdim=True)
    placed = [(weights * axis).sum(dim=1, keepdim=True) / total for axis in axes]
    for _ in range(SHIFT_STEPS):
        apart = torch.stack([(p - axis).square_() for p, axis in zip(placed, axes, strict=True)]).sum(dim=0)
        apart.clamp_min_(1e-12)
        power = apart.pow(B)  # d^(2b), and d^(2b - 2) = d^(2b) / d^2
        pull = weights * power / (apart * (1 + A * power))
        total = pull.sum(dim=1, keepdim=True)
        placed = [(pull * axis).sum(dim=1, keepdim=True) / total for axis in axes]
    return torch.cat(placed, dim=1)
