"""Choose the detector's fusion of terms across both ADBench families, from ``anomaly_terms.py``'s cache (issue 23).

Run: ``python benchmarks/anomaly_terms.py --wide`` once (and ``--wide --data DIR --family classical --cap 2000``
for the 22 other ADBench classical sets), then ``python benchmarks/anomaly_recipe.py`` (seconds; ``--grid broad``
for every space, statistic and extra term the cache holds, ``--grid focused``, the default, for the recipes the
detector could carry: the autoencoder, the forest and a min-max kNN term, at a few weights).

A *recipe* is a weighted sum of robust z-scores of terms, each z-score centred on the term's median over the
training rows the members trained on and divided by its interquartile range there (the detector's
``_robust``), exactly as the default detector fuses its autoencoder and forest terms today. Terms:
``ae`` (reconstruction error), ``forest`` (isolation forest), ``wae`` (the wide-code detector's error) and a
nearest-neighbour term ``knn`` in a space (``raw``: rows as given; ``std``: the detector's standardised
units; ``code``/``wcode``: the members' codes, default or wide), scored by the ``mean`` of the distances to
the ``k`` nearest reference rows or the ``k``-th of them, against every reference row or a ``cap``-row sample.

Selection: leave-one-dataset-out over every cached set (for each held-out set, the recipe best on the
others by its *margin*: the worse family's mean minus that family's target, the best PyOD default's mean
there, and on the classical family at least IsolationForest's + 0.02; scored on the held-out set), and
leave-one-family-out (chosen on one family's sets, scored on the other's). ``simple`` picks, among the
recipes within ``NEAR`` of the best, the one with the fewest terms (a column-count rule counts as one more),
then the best.

The one *shape rule* measured (``cols``): the kNN weight rises log-linearly with the column count ``d``,
from ``knn`` at ``d <= 16`` to ``knn_wide`` at ``d >= 512``. ``--trend`` prints what it rests on: each
set's best kNN weight against its column count, over all sets and within each family.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE = Path("/tmp/anomaly23/terms")
NEAR = 0.005
PEERS = ("IForest", "KNN", "LOF", "ECOD", "COPOD", "PCA")
SPACES = ("raw", "std", "code", "wcode")
KS = (1, 3, 5, 10, 20)
CAPS = (2_000, 5_000, 10_000)


@dataclass(frozen=True)
class Recipe:
    ae: float = 1.0
    forest: float = 1.0
    knn: float = 0.0
    ecod: float = 0.0
    space: str = "std"
    stat: str = "mean"
    k: int = 5
    cap: int = 0  # 0: every reference row
    wide_ae: bool = False  # the wide-code detector's error in place of the default's
    knn_wide: float = 0.0  # > 0: the ``cols`` shape rule, the kNN weight at 512 columns and more

    def knn_weight(self, columns: int) -> float:
        """The kNN weight on a set of ``columns`` columns: ``knn``, or under the shape rule, log-linear in the
        column count between ``knn`` (16 columns or fewer) and ``knn_wide`` (512 or more)."""
        if not self.knn_wide:
            return self.knn
        t = float(np.clip(np.log(columns / 16) / np.log(512 / 16), 0.0, 1.0))
        return float(self.knn * (self.knn_wide / self.knn) ** t)

    def name(self) -> str:
        parts = []
        if self.ae:
            parts.append(f"{self.ae:g}*{'wae' if self.wide_ae else 'ae'}")
        if self.forest:
            parts.append(f"{self.forest:g}*forest")
        if self.knn:
            cap = f",cap{self.cap}" if self.cap else ""
            weight = f"[{self.knn:g}..{self.knn_wide:g} by columns]" if self.knn_wide else f"{self.knn:g}"
            parts.append(f"{weight}*knn({self.space},{self.stat},k={self.k}{cap})")
        if self.ecod:
            parts.append(f"{self.ecod:g}*ecod")
        return " + ".join(parts)

    def terms(self) -> int:
        return sum(w > 0 for w in (self.ae, self.forest, self.knn, self.ecod)) + self.wide_ae + (self.knn_wide > 0)


def robust(values: np.ndarray) -> tuple[float, float]:
    """The detector's ``_robust``: median and IQR (else mean absolute deviation, else 1)."""
    values = values[np.isfinite(values)]
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else np.mean(np.abs(values - median))
    return float(median), float(spread) if spread > 0 else 1.0


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC by ranks (ties averaged), the same number as scikit-learn's."""
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks of tied groups
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


class Cache:
    """The cached terms of every (dataset, seed), with each term's z-scores computed once."""

    def __init__(self, folder: Path = CACHE) -> None:
        self.files = {}
        for path in sorted(folder.glob("*_s[0-9].npz")):
            ds, seed = path.stem.rsplit("_s", 1)
            self.files[(ds, int(seed))] = dict(np.load(path))
        self.datasets = sorted({ds for ds, _ in self.files})
        self.family = {ds: str(self.files[(ds, 1)]["family"]) for ds in self.datasets}
        self.columns = {ds: self._columns(ds) for ds in self.datasets}
        self.folder = {
            ds: str(self.files[(ds, 1)].get("folder", "")) or self._source(ds).parent.name for ds in self.datasets
        }
        self._z: dict = {}

    def _source(self, ds: str) -> Path:
        """The data file of a set cached before the cache recorded its width (the shared families only)."""
        from anomaly_terms import FAMILIES

        return next(f / f"{ds}.npz" for f in FAMILIES.values() if (f / f"{ds}.npz").exists())

    def _columns(self, ds: str) -> int:
        z = self.files[(ds, 1)]
        if "columns" in z:
            return int(z["columns"])
        with np.load(self._source(ds)) as data:
            return int(data["X"].shape[1])

    def seeds(self, ds: str) -> list[int]:
        return sorted(s for d, s in self.files if d == ds)

    def term(self, ds: str, seed: int, key: str) -> np.ndarray:
        """A term's test-row robust z-score (training statistics on the reference rows)."""
        cached = self._z.get((ds, seed, key))
        if cached is not None:
            return cached
        z = self.files[(ds, seed)]
        kind, *spec = key.split(":")
        if kind == "knn":
            space, stat, k, cap = spec
            k, cap = int(k), int(cap)
            name = {"wcode": "wide_knn_code"}.get(space, f"knn_{space}")
            if cap and f"{name}_cap{cap}_tr" in z:
                name = f"{name}_cap{cap}"
            tr, te = z[f"{name}_tr"], z[f"{name}_te"]
            k = min(k, tr.shape[1])
            tr, te = (D[:, :k].mean(1) if stat == "mean" else D[:, k - 1] for D in (tr, te))
        else:
            tr, te = z[f"{kind}_tr"], z[f"{kind}_te"]
        med, spread = robust(tr[z["rows"]])
        out = (te.astype(np.float64) - med) / spread
        self._z[(ds, seed, key)] = out
        return out

    def score(self, r: Recipe, ds: str, seed: int) -> np.ndarray:
        s = 0.0
        if r.ae:
            s = s + r.ae * self.term(ds, seed, "wide_ae" if r.wide_ae else "ae")
        if r.forest:
            s = s + r.forest * self.term(ds, seed, "forest")
        if r.knn:
            s = s + r.knn_weight(self.columns[ds]) * self.term(ds, seed, f"knn:{r.space}:{r.stat}:{r.k}:{r.cap}")
        if r.ecod:
            s = s + r.ecod * self.term(ds, seed, "ecod")
        return s

    def auc(self, r: Recipe, ds: str) -> float:
        """Mean ROC-AUC over the seeds."""
        return float(np.mean([auc(self.files[(ds, s)]["y_te"], self.score(r, ds, s)) for s in self.seeds(ds)]))

    def peer_auc(self, name: str, ds: str) -> float:
        return float(
            np.mean([auc(self.files[(ds, s)]["y_te"], self.files[(ds, s)][f"peer_{name}_te"]) for s in self.seeds(ds)])
        )


def focused() -> list[Recipe]:
    """The recipes the detector could carry: today's default (ae + forest), its ablations, issue 23's proposal
    (ae + 2 knn, k=3), ae + forest + w knn and ae + w knn at a few weights and k, all with the min-max kNN
    term against at most 2,000 reference rows; and the ``cols`` shape rule at a few end weights."""
    out = [Recipe(), Recipe(forest=0), Recipe(ae=0), Recipe(ae=0, forest=0, knn=1, space="raw", k=3, cap=2_000)]
    for forest, knn, k in itertools.product((0, 0.5, 1), (0.5, 1, 1.5, 2, 3), (1, 3, 5, 10)):
        out.append(Recipe(forest=forest, knn=knn, space="raw", k=k, cap=2_000))
    for forest, knn, wide in itertools.product((0, 1), (0.5, 1), (2, 3, 4)):
        out.append(Recipe(forest=forest, knn=knn, knn_wide=wide, space="raw", k=3, cap=2_000))
    return out


def grid(spaces: tuple[str, ...] = SPACES) -> list[Recipe]:
    """The default detector, its ablations, and every weighting of the terms with a nearest-neighbour term."""
    out = [Recipe(), Recipe(forest=0), Recipe(ae=0), Recipe(wide_ae=True), Recipe(wide_ae=True, forest=0)]
    out += [Recipe(ae=0, forest=0, ecod=1), Recipe(forest=0, ecod=1), Recipe(ecod=1), Recipe(ecod=0.5)]
    for space, stat, k in itertools.product(spaces, ("mean", "kth"), KS):
        out.append(Recipe(ae=0, forest=0, knn=1, space=space, stat=stat, k=k))
        for ae, forest, knn, ecod, wide in itertools.product(
            (0, 1), (0, 0.5, 1), (0.5, 1, 2), (0, 0.5, 1), (False, True)
        ):
            if (ae or forest or ecod) and (ae or not wide):
                out.append(Recipe(ae=ae, forest=forest, knn=knn, space=space, stat=stat, k=k, ecod=ecod, wide_ae=wide))
    return out


def table(cache: Cache, recipes: list[Recipe]) -> np.ndarray:
    """(recipes, datasets) mean ROC-AUC over seeds."""
    return np.array([[cache.auc(r, ds) for ds in cache.datasets] for r in recipes])


def margin(T: np.ndarray, P: np.ndarray, fam: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Each recipe's distance to issue 23's targets on the kept datasets, its worse family deciding: per family,
    its mean minus the best peer's mean there (minus IsolationForest's + 0.02 on the classical family, if higher)."""
    out = []
    for f in np.unique(fam[keep]):
        cols = keep & (fam == f)
        target = P[:, cols].mean(1).max()
        if f == "classical":
            target = max(target, P[PEERS.index("IForest"), cols].mean() + 0.02)
        out.append(T[:, cols].mean(1) - target)
    return np.min(out, axis=0)


def balanced(T: np.ndarray, fam: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Each recipe's family-balanced mean on the kept datasets: the mean of its families' means."""
    return np.mean([T[:, keep & (fam == f)].mean(1) for f in np.unique(fam[keep])], axis=0)


def choose(score: np.ndarray, recipes: list[Recipe], rule: str) -> int:
    """``best``: the top score; ``simple``: of the recipes within ``NEAR`` of it, the fewest terms, then the best."""
    if rule == "best":
        return int(np.argmax(score))
    near = np.flatnonzero(score >= score.max() - NEAR)
    return int(min(near, key=lambda i: (recipes[i].terms(), -score[i])))


def show(cache: Cache, T: np.ndarray, P: np.ndarray, fam: np.ndarray, cols: dict[str, np.ndarray]) -> None:
    """A per-dataset table of the given columns beside the peers, with family means and the best peer."""
    names = [*cols, *PEERS]
    rows = np.array([*cols.values(), *P])
    print("| dataset | family | columns | " + " | ".join(names) + " |")
    print("|---|---|---:|" + "---:|" * len(names))
    for j, ds in enumerate(cache.datasets):
        best = rows[:, j].max()
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in rows[:, j]]
        print(f"| {ds} | {fam[j]} ({cache.folder[ds]}) | {cache.columns[ds]} | " + " | ".join(cells) + " |")
    for label, keep in groups(cache, fam).items():
        means = rows[:, keep].mean(1)
        print(f"| **mean {label}** | | | " + " | ".join(f"**{m:.4f}**" for m in means) + " |")


def groups(cache: Cache, fam: np.ndarray) -> dict[str, np.ndarray]:
    """Each family, and each folder of a family drawn from more than one (the shared sets and the others)."""
    folder = np.array([cache.folder[d] for d in cache.datasets])
    out = {f"{f} ({(fam == f).sum()})": fam == f for f in np.unique(fam)}
    for f in np.unique(fam):
        if len(np.unique(folder[fam == f])) > 1:
            out |= {
                f"{f}: {g} ({((fam == f) & (folder == g)).sum()})": (fam == f) & (folder == g)
                for g in np.unique(folder[fam == f])
            }
    return out


def trend(cache: Cache, fam: np.ndarray) -> None:
    """What a column-count rule for the kNN weight would rest on: each set's best weight against its width."""
    from scipy.stats import spearmanr

    weights = (0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6)
    width = np.log([cache.columns[d] for d in cache.datasets])
    print("\n## The shape rule's evidence: Spearman rho of each set's best kNN weight (ae + f*forest + w*knn,")
    print("k=3) against log(columns), and the family means at each weight\n")
    for forest in (1, 0):
        A = table(cache, [Recipe(forest=forest, knn=w, space="raw", k=3, cap=2_000) for w in weights])
        best = np.array(weights)[A.argmax(0)]
        for label, keep in ({"all": np.ones(len(fam), bool)} | {f: fam == f for f in np.unique(fam)}).items():
            r = spearmanr(width[keep], best[keep])
            print(f"forest {forest}, {label} ({keep.sum()} sets): rho {r.correlation:+.2f} (p {r.pvalue:.2f})")
        for f in np.unique(fam):
            print(
                f"  {f} mean by kNN weight: "
                + ", ".join(f"{w:g}: {A[i, fam == f].mean():.4f}" for i, w in enumerate(weights))
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--grid", choices=["focused", "broad"], default="focused")
    p.add_argument("--trend", action="store_true", help="also the shape rule's evidence")
    args = p.parse_args()
    cache = Cache(args.cache)
    recipes = focused() if args.grid == "focused" else grid()
    names = [r.name() for r in recipes]
    T = table(cache, recipes)
    ds = cache.datasets
    fam = np.array([cache.family[d] for d in ds])
    P = np.array([[cache.peer_auc(n, d) for d in ds] for n in PEERS])
    n = len(ds)
    everything = np.ones(n, bool)
    score = margin(T, P, fam, everything)
    short = ((T - P.max(0)) < -0.05).sum(1)
    fams = ", ".join(f"{f} {(fam == f).sum()}" for f in np.unique(fam))
    print(f"{len(recipes)} recipes, {n} datasets ({fams}); margin = worse family's mean minus its target\n")
    for f in np.unique(fam):
        means = P[:, fam == f].mean(1)
        target = means.max() if f != "classical" else max(means.max(), means[PEERS.index("IForest")] + 0.02)
        print(f"target on {f}: {target:.4f} (best PyOD default {PEERS[int(np.argmax(means))]} {means.max():.4f})")
    print("\n## Best recipes on all sets (margin; classical mean; embedding mean; sets > 0.05 below the best peer)\n")
    for i in np.argsort(-score)[: args.top]:
        cl, em = T[i, fam == "classical"].mean(), T[i, fam == "embedding"].mean()
        print(f"{score[i]:+.4f} {cl:.4f} {em:.4f} {short[i]:2d}  {names[i]}")
    named = {"default": "1*ae + 1*forest", "proposal": "1*ae + 2*knn(raw,mean,k=3,cap2000)"}
    named |= {f"ae+forest+{w}knn": f"1*ae + 1*forest + {w}*knn(raw,mean,k=3,cap2000)" for w in (0.5, 1, 1.5, 2, 3)}
    rules = [i for i, r in enumerate(recipes) if r.knn_wide]
    if rules:
        named["best shape rule"] = names[max(rules, key=lambda i: score[i])]
    print("\n## The named candidates (margin; family means; per folder; sets > 0.05 below the best peer)\n")
    for label, name in named.items():
        if name in names:
            i = names.index(name)
            means = "; ".join(f"{g} {T[i, keep].mean():.4f}" for g, keep in groups(cache, fam).items())
            print(f"{label}: {name}: {score[i]:+.4f}; {means}; {short[i]} short")
    chosen = {rule: choose(score, recipes, rule) for rule in ("best", "simple")}
    print(f"\n## Leave-one-dataset-out (chosen on the other {n - 1} sets by the margin, scored on the held-out one)\n")
    loo = {}
    criteria = {"margin": lambda keep: margin(T, P, fam, keep), "balanced mean": lambda keep: balanced(T, fam, keep)}
    for by, criterion in criteria.items():
        for rule in ("best", "simple"):
            picks = [choose(criterion(everything & (np.arange(n) != j)), recipes, rule) for j in range(n)]
            held = np.array([T[i, j] for j, i in enumerate(picks)])
            loo.setdefault(rule, held)  # the margin's, for the table
            means = ", ".join(f"{g} {held[keep].mean():.4f}" for g, keep in groups(cache, fam).items())
            counts = {names[i]: picks.count(i) for i in sorted(set(picks))}
            print(f"by {by}, {rule}: {means}; picked: " + "; ".join(f"{k} ({v}x)" for k, v in counts.items()))
        i = choose(criterion(everything), recipes, "simple")
        print(f"  in sample by {by} (simple): {names[i]}\n")
    print("\n## Leave-one-family-out (chosen on one family's sets, scored on the other's)\n")
    for f in np.unique(fam):
        own = fam == f
        for rule in ("best", "simple"):
            for how, s in (("mean", T[:, own].mean(1)), ("margin", margin(T, P, fam, own))):
                i = choose(s, recipes, rule)
                mine, other = T[i, own].mean(), T[i, ~own].mean()
                print(f"chosen on {f} by its {how} ({rule}): {names[i]}: own {mine:.4f}, other {other:.4f}")
    print(f"\nin-sample choice (simple): {names[chosen['simple']]}; (best): {names[chosen['best']]}\n")
    cols = {"LOO(simple)": loo["simple"], "chosen": T[chosen["simple"]]}
    cols |= {k: T[names.index(v)] for k, v in named.items() if k in ("default", "proposal") and v in names}
    cols |= {"AE only": T[names.index("1*ae")], "forest only": T[names.index("1*forest")]}
    show(cache, T, P, fam, cols)
    if args.trend:
        trend(cache, fam)


if __name__ == "__main__":
    main()
