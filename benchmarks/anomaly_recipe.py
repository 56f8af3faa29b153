"""Choose the detector's fusion of terms across both ADBench families, from ``anomaly_terms.py``'s cache (issue 23).

Run: ``python benchmarks/anomaly_terms.py --wide`` once, then ``python benchmarks/anomaly_recipe.py`` (seconds).

A *recipe* is a weighted sum of robust z-scores of terms, each z-score centred on the term's median over the
training rows the members trained on and divided by its interquartile range there (the detector's
``_robust``), exactly as the default detector fuses its autoencoder and forest terms today. Terms:
``ae`` (reconstruction error), ``forest`` (isolation forest), ``wae`` (the wide-code detector's error) and a
nearest-neighbour term ``knn`` in a space (``raw``: rows as given; ``std``: the detector's standardised
units; ``code``/``wcode``: the members' codes, default or wide), scored by the ``mean`` of the distances to
the ``k`` nearest reference rows or the ``k``-th of them, against every reference row or a ``cap``-row sample.

Selection: leave-one-dataset-out over the 32 sets (for each held-out set, the recipe best on the 31 others
by the family-balanced mean, i.e. the mean of the two families' means; scored on the held-out set), and
leave-one-family-out (chosen on one family's sets, scored on the other's). ``simple`` picks, among the
recipes within ``NEAR`` of the best, the one with the fewest terms, then the best.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass, replace
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

    def name(self) -> str:
        parts = []
        if self.ae:
            parts.append(f"{self.ae:g}*{'wae' if self.wide_ae else 'ae'}")
        if self.forest:
            parts.append(f"{self.forest:g}*forest")
        if self.knn:
            cap = f",cap{self.cap}" if self.cap else ""
            parts.append(f"{self.knn:g}*knn({self.space},{self.stat},k={self.k}{cap})")
        if self.ecod:
            parts.append(f"{self.ecod:g}*ecod")
        return " + ".join(parts)

    def terms(self) -> int:
        return sum(w > 0 for w in (self.ae, self.forest, self.knn, self.ecod)) + self.wide_ae


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
        self.columns = {}
        for (ds, _), z in self.files.items():
            self.columns[ds] = z["knn_raw_tr"].shape  # rows only; width read from the data below
        self._z: dict = {}

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
            s = s + r.knn * self.term(ds, seed, f"knn:{r.space}:{r.stat}:{r.k}:{r.cap}")
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
    print("| dataset | family | " + " | ".join(names) + " |")
    print("|---|---|" + "---:|" * len(names))
    for j, ds in enumerate(cache.datasets):
        best = rows[:, j].max()
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in rows[:, j]]
        print(f"| {ds} | {fam[j]} | " + " | ".join(cells) + " |")
    for f in np.unique(fam):
        means = rows[:, fam == f].mean(1)
        print(f"| **mean {f}** | | " + " | ".join(f"**{m:.4f}**" for m in means) + " |")
    for f in np.unique(fam):
        means = P[:, fam == f].mean(1)
        print(f"best peer on {f}: {PEERS[int(np.argmax(means))]} {means.max():.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args()
    cache = Cache(args.cache)
    recipes = grid()
    names = [r.name() for r in recipes]
    T = table(cache, recipes)
    ds = cache.datasets
    fam = np.array([cache.family[d] for d in ds])
    P = np.array([[cache.peer_auc(n, d) for d in ds] for n in PEERS])
    n = len(ds)
    everything = np.ones(n, bool)
    score = margin(T, P, fam, everything)
    print(f"{len(recipes)} recipes, {n} datasets; score = margin over issue 23's targets, worse family\n")
    print("## Best recipes on all sets (margin; classical mean; embedding mean; sets > 0.05 below the best peer)\n")
    short = ((T - P.max(0)) < -0.05).sum(1)
    for i in np.argsort(-score)[: args.top]:
        cl, em = T[i, fam == "classical"].mean(), T[i, fam == "embedding"].mean()
        print(f"{score[i]:+.4f} {cl:.4f} {em:.4f} {short[i]:2d}  {names[i]}")
    chosen = {rule: choose(score, recipes, rule) for rule in ("best", "simple")}
    print("\n## Leave-one-dataset-out (chosen on the other 31 sets, scored on the held-out one)\n")
    loo = {}
    for rule in ("best", "simple"):
        picks = [choose(margin(T, P, fam, everything & (np.arange(n) != j)), recipes, rule) for j in range(n)]
        loo[rule] = np.array([T[i, j] for j, i in enumerate(picks)])
        means = ", ".join(f"{f} {loo[rule][fam == f].mean():.4f}" for f in np.unique(fam))
        print(f"{rule}: {means}; recipes picked: " + "; ".join(sorted({names[i] for i in picks})))
    print("\n## Leave-one-family-out (chosen on one family's sets by their mean, scored on the other's)\n")
    for f in np.unique(fam):
        own = fam == f
        for rule in ("best", "simple"):
            i = choose(T[:, own].mean(1), recipes, rule)
            print(f"chosen on {f} ({rule}): {names[i]}: own {T[i, own].mean():.4f}, other {T[i, ~own].mean():.4f}")
    for f in np.unique(fam):
        own = fam == f
        i = choose(margin(T, P, fam, own), recipes, "simple")
        mine, other = T[i, own].mean(), T[i, ~own].mean()
        print(f"chosen on {f} by its margin (simple): {names[i]}: own {mine:.4f}, other {other:.4f}")
    print("\n## Shape rule: a recipe per column count (here the same split as by family, so only")
    print("leave-one-dataset-out within each family can check it; leave-one-family-out cannot)\n")
    for rule in ("best", "simple"):
        picks = {}
        loo_shape = np.zeros(n)
        for j in range(n):
            keep = (fam == fam[j]) & (np.arange(n) != j)
            i = choose(T[:, keep].mean(1), recipes, rule)
            loo_shape[j] = T[i, j]
            picks.setdefault(fam[j], set()).add(names[i])
        for f in np.unique(fam):
            i = choose(T[:, fam == f].mean(1), recipes, rule)
            mine, held = T[i, fam == f].mean(), loo_shape[fam == f].mean()
            print(f"{rule}, {f}: in sample {names[i]} {mine:.4f}; LOO {held:.4f}")
            print(f"  picked when leaving one out: {'; '.join(sorted(picks[f]))}")
    print(f"\nin-sample choice (simple): {names[chosen['simple']]}; (best): {names[chosen['best']]}\n")
    default, ae, forest = (names.index(s) for s in ("1*ae + 1*forest", "1*ae", "1*forest"))
    cols = {"LOO(simple)": loo["simple"], "LOO(best)": loo["best"], "chosen": T[chosen["simple"]]}
    cols |= {"default": T[default], "AE only": T[ae], "forest only": T[forest]}
    show(cache, T, P, fam, cols)
    print("\n## Reference-set cap for the chosen recipe (sets with more reference rows than the cap change)\n")
    r = recipes[chosen["simple"]]
    print("| cap | " + " | ".join(f"mean {f}" for f in np.unique(fam)) + " | sets changed |\n|---:|" + "---:|" * 3)
    full = T[chosen["simple"]]
    for cap in (0, *CAPS):
        a = np.array([cache.auc(replace(r, cap=cap), d) for d in ds])
        changed = ", ".join(f"{d} {a[j] - full[j]:+.3f}" for j, d in enumerate(ds) if abs(a[j] - full[j]) > 0)
        means = " | ".join(f"{a[fam == f].mean():.4f}" for f in np.unique(fam))
        print(f"| {cap or 'all'} | {means} | {changed} |")


if __name__ == "__main__":
    main()
