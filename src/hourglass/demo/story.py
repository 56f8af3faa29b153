"""The ``hourglass demo`` story on the bundled 49-pixel digits: train, draw every figure, write report.html.

The report is a list of sections, each built by one function in ``SECTIONS`` that draws its own
figures (written next to the report too) and returns a ``report.Section``. A new part of the story
(denoising, a link to the interactive explorer) is one function added with ``register_section``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from hourglass import viz
from hourglass.atomic import refuse_foreign
from hourglass.data import load_dataset
from hourglass.demo.report import Section, figure, table, write_report
from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder
from hourglass.evaluations.maps import MapEvaluation, evaluate_map
from hourglass.params import AUTOENCODER, FIGURE_FILES
from hourglass.storage.modelfile import OWN_FILES, is_model_folder
from hourglass.viz.figure import png_bytes, save_bytes
from hourglass.viz.maps import map_figure


@dataclass
class DemoResult:
    """The demo model and its split of mnist7. ``index_train`` and ``index_test`` give each row's number in
    mnist7 (``load_dataset("mnist7").X[index_test[i]]`` is ``X_test[i]``): the number the report and the
    explorer call it by."""

    model: Autoencoder
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    mse: float  # held-out MSE per pixel, pixels in [0, 1]
    pca_mse: float
    seconds: float
    index_train: np.ndarray
    index_test: np.ndarray


def heldout_mse(model: Autoencoder, X_test: np.ndarray) -> float:
    return float(np.mean(((model.reconstruct(X_test) - X_test) / 255.0) ** 2))


def pca_mse(X_train: np.ndarray, X_test: np.ndarray, n_components: int) -> float:
    """The linear baseline: PCA with as many components as the code has numbers."""
    train, test = X_train.reshape(len(X_train), -1) / 255.0, X_test.reshape(len(X_test), -1) / 255.0
    pca = PCA(n_components).fit(train)
    return float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))


def versus_pca(mse: float, pca: float) -> str:
    """The autoencoder's held-out error beside PCA's, in words that hold whichever is lower.

    >>> versus_pca(0.0125, 0.0200)
    "the autoencoder's error is 1.60x lower than PCA-2's"
    >>> versus_pca(0.0225, 0.0200)
    "the autoencoder's error is 1.12x higher than PCA-2's: undertrained"
    """
    if mse <= pca:
        return f"the autoencoder's error is {pca / mse:.2f}x lower than PCA-2's"
    return f"the autoencoder's error is {mse / pca:.2f}x higher than PCA-2's: undertrained"


# `hourglass demo --quick`: every model of the story trains this many epochs on the first QUICK_ROWS digits
# (mnist7's order is shuffled, so they hold every class; being the first, digit #N keeps its number), and the
# neighbor-preserving map is left out. Enough steps for every model to beat predicting the mean (a check that
# warns looks broken), and for every other figure and section to be drawn from a real (if undertrained) model,
# in seconds: a check that an install works. At 10 epochs (about 70 batches) the detector was still no better
# than the mean (held-out MSE 0.032 against 0.029); at 40 its error is 0.72 of the mean's, the demo's model
# 0.51, and the whole demo took 4.6 s against 4.0 s at 10 (one thread: on 1,000 digits an epoch is cheap).
# All 5,000 digits at 3 epochs, with the neighbor layout, took 34 s on a loaded machine.
QUICK_EPOCHS, QUICK_ROWS = 40, 1_000


def train_demo(verbose: bool = True, seed: int = 0, epochs: int | None = None, rows: int | None = None) -> DemoResult:
    """Train the 2-number-code autoencoder on mnist7's training split (``epochs``: None for its default;
    ``rows``: the first this many digits only, None for all)."""
    data = load_dataset("mnist7")
    # The split is of row numbers, so every digit keeps its number in mnist7 (the same split as of the rows).
    numbers = np.arange(min(rows or len(data), len(data)))
    index_train, index_test = train_test_split(numbers, test_size=0.2, random_state=seed)
    y = np.asarray(data.y)  # mnist7 is labelled
    X_train, X_test, y_train, y_test = data.X[index_train], data.X[index_test], y[index_train], y[index_test]
    start = time.perf_counter()
    model = Autoencoder(latent_dim=2, seed=seed, verbose=verbose, epochs=epochs or AUTOENCODER.epochs).fit(X_train)
    seconds = time.perf_counter() - start
    return DemoResult(
        model,
        X_train,
        X_test,
        y_train,
        y_test,
        heldout_mse(model, X_test),
        pca_mse(X_train, X_test, 2),
        seconds,
        index_train,
        index_test,
    )


# ------------------------------------------------------------------------------------ the report
@dataclass
class DemoRun:
    """What every section builder gets: the trained result, the output folder, shared codes."""

    result: DemoResult
    out: Path
    epochs: int | None = None  # what each model the sections train gets (None: its own default)
    started: float = field(default_factory=time.perf_counter)
    files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every digit in mnist7's order, so that X_all[N] is digit #N everywhere (report, explorer,
        # load_dataset), and its code, computed once: the latent map and the walk's path share one picture.
        r = self.result
        order = np.argsort(np.concatenate([r.index_train, r.index_test]))
        self.X_all = np.concatenate([r.X_train, r.X_test])[order]
        self.y_all = np.concatenate([r.y_train, r.y_test])[order]
        self.codes_all = r.model.transform(self.X_all)

    def save(self, name: str, data: bytes) -> bytes:
        """Write one output file into the demo folder (atomically) and remember it."""
        save_bytes(data, self.out / name)
        self.files.append(name)
        return data

    def figure(self, name: str, fig: Figure, caption: str) -> str:
        """Save ``fig`` as ``name`` and return it as an embedded report figure."""
        return figure(self.save(name, png_bytes(fig)), caption)


SectionBuilder = Callable[[DemoRun], Section | None]
SECTIONS: list[tuple[str, SectionBuilder]] = []


def register_section(name: str, before: str | None = None) -> Callable[[SectionBuilder], SectionBuilder]:
    """Add a report section, at the end or just before the section called ``before``."""

    def add(builder: SectionBuilder) -> SectionBuilder:
        names = [n for n, _ in SECTIONS]
        at = names.index(before) if before in names else len(SECTIONS)
        SECTIONS.insert(at, (name, builder))
        return builder

    return add


@register_section("input")
def _input(run: DemoRun) -> Section:
    r = run.result
    html = run.figure(
        "input.png",
        viz.inputs(r.model, r.X_test, r.y_test, n=10),
        "Each digit is a 7x7 grid of grey levels (0-255): 49 numbers. The labels are shown here for us; "
        "the model never sees them.",
    )
    intro = (
        f"<p>The data are {len(run.X_all):,} handwritten MNIST digits shrunk to 7x7 pixels. "
        f"{len(r.X_train):,} train the model; {len(r.X_test):,} are held out to judge it.</p>"
    )
    return Section("The input: 49 pixels", intro + html)


@register_section("hourglass")
def _hourglass(run: DemoRun) -> Section:
    m = run.result.model
    hidden = m.model_.hidden
    fig = viz.hourglass_diagram(m.n_features_in_, hidden, m.latent_dim)
    text = (
        f"<p>An encoder squeezes the {m.n_features_in_} pixels through layers of "
        f"{' and '.join(str(h) for h in hidden)} units into a code Z of just {m.latent_dim} numbers; a mirrored "
        "decoder rebuilds the 49 pixels from those alone. Training only asks that the output match the input, "
        "so whatever the code keeps is what the model found most worth keeping.</p>"
    )
    return Section("The hourglass", text + run.figure("hourglass.png", fig, "Layer widths, input to output."))


@register_section("loss")
def _loss(run: DemoRun) -> Section:
    m = run.result.model
    h = m.history_
    ended = "stopped early" if h.stopped_early else "ran its full budget"
    caption = (
        f"Reconstruction loss per epoch ({len(h.train)} epochs in {h.seconds:.1f} s; training {ended}). "
        f"The weights of the best validation epoch, {h.best_epoch}, are the ones kept."
    )
    return Section("Training: the loss bottoms out", run.figure(FIGURE_FILES["loss"], viz.loss_curve(h), caption))


@register_section("reconstructions")
def _reconstructions(run: DemoRun) -> Section:
    r = run.result
    fig = viz.reconstructions(r.model, r.X_test, n=12, cols=12, row_ids=r.index_test)
    caption = (
        "Held-out digits (top) and what the decoder rebuilt from their 2-number codes (bottom); under each, "
        "its row number in mnist7 (as the explorer numbers it) and the mean squared error per pixel "
        "(pixels in [0, 1]). Two numbers cannot hold every stroke, so the "
        "rebuilt digits are smoothed versions of the originals."
    )
    return Section("Reconstructions", run.figure(FIGURE_FILES["reconstructions"], fig, caption))


@register_section("latent")
def _latent(run: DemoRun) -> Section:
    r = run.result
    fig = viz.latent_map(r.model, run.X_all, run.y_all, codes=run.codes_all, title="Latent map: each digit's code Z")
    caption = (
        f"All {len(run.X_all):,} digits placed at their 2-number code and coloured by their true label. "
        "The labels were never used in training, yet digits of one kind gather together: the code "
        "learned what makes a 1 a 1."
    )
    grid = viz.manifold(r.model, codes=run.codes_all, n=16, spacing="quantile")
    grid_caption = (
        "Walking the code plane: each tile is the decoder's drawing for one code, on a grid over the codes' "
        "2%-98% range (spaced by quantiles, so crowded regions get as many tiles as the sparse tails; ticks "
        "give each column's and row's code)."
    )
    html = run.figure(FIGURE_FILES["latent"], fig, caption) + run.figure(FIGURE_FILES["manifold"], grid, grid_caption)
    return Section("The latent map: digits cluster without labels", html)


@register_section("neighbors")
def _neighbors(run: DemoRun) -> Section | None:
    """The same autoencoder trained to keep each digit's nearest neighbors near (``structure="neighbors"``),
    its map beside the plain one's, each scored by how often a held-out digit's nearest training code
    carries its label (1-NN) and by held-out reconstruction error."""
    if run.epochs:  # a quick run: the layout's 1,000 steps take seconds however few the rows, so it is left out
        return None
    r = run.result
    start = time.perf_counter()
    kept = Autoencoder(
        latent_dim=2, structure="neighbors", seed=r.model.seed, epochs=run.epochs or AUTOENCODER.epochs
    ).fit(r.X_train)
    seconds = time.perf_counter() - start
    maps = {"plain autoencoder": r.model, 'structure="neighbors"': kept}
    scored = {
        name: evaluate_map(model, r.X_train, r.y_train, r.X_test, r.y_test, baselines=False, umap=False)
        for name, model in maps.items()
    }
    for name, evaluation in scored.items():
        evaluation.scores[0].name = name
    both = MapEvaluation(
        [e.scores[0] for e in scored.values()],
        {name: next(iter(e.codes.values())) for name, e in scored.items()},
        r.y_test,
    )
    plain, ours = both.scores
    caption = (
        f"Held-out digits on each model's map. With the neighbor term, a held-out digit's nearest training "
        f"code has its label {ours.knn1:.0%} of the time, against {plain.knn1:.0%} on the plain map; the "
        f"reconstruction error (MSE, scaled pixels) is {ours.mse:.4f} against {plain.mse:.4f}. It trained in "
        f"{seconds:.0f} s."
    )
    grid = viz.manifold(kept, codes=kept.transform(run.X_all), n=16, spacing="quantile")
    grid_caption = (
        "The neighbor-preserving code's plane, decoded: the clusters are apart, so tiles where no digit's "
        "code falls are left grey rather than decoded into something no digit looks like."
    )
    html = (
        "<p>A plain autoencoder places codes only to rebuild digits, so kinds that look alike can share a "
        "region. Trained also to keep each digit's nearest neighbors (in pixels) near in the code, the same "
        "network draws a map organised by likeness (UMAP's objective; see the docs' guide to neighbor-preserving "
        "maps).</p>"
        + run.figure("maps_side_by_side.png", map_figure(both), caption)
        + run.figure("manifold_neighbors.png", grid, grid_caption)
    )
    return Section("Neighbor-preserving maps", html)


def pick_typical(codes: np.ndarray, y: np.ndarray, label: object) -> int:
    """Index of the example of ``label`` whose code is nearest its class's median code."""
    mine = np.flatnonzero(y == label)
    centre = np.median(codes[mine], axis=0)
    return int(mine[np.argmin(np.linalg.norm(codes[mine] - centre, axis=1))])


@register_section("walk")
def _walk(run: DemoRun) -> Section:
    r = run.result
    test_codes = run.codes_all[r.index_test]
    a, b = pick_typical(test_codes, r.y_test, 1), pick_typical(test_codes, r.y_test, 7)
    codes, frames = viz.walk(r.model, r.X_test[a], r.X_test[b], steps=12)
    gif = run.save("walk.gif", viz.walk_gif(r.model, frames))
    strip = run.figure(
        "walk.png",
        viz.walk_strip(r.model, frames, title="From a held-out 1 (A) to a held-out 7 (B)"),
        "12 evenly spaced codes on the straight line between the two codes, decoded.",
    )
    path = viz.latent_map(
        r.model, run.X_all, run.y_all, codes=run.codes_all, path=codes, title="The walk's path through the code"
    )
    html = (
        f"<p>Take held-out digit #{r.index_test[a]} (a 1) and #{r.index_test[b]} (a 7), encode both, and decode "
        "points on the line between their codes. Every step is a drawing the decoder makes from a code no "
        'training digit had. (Digit #N is row N of mnist7, <code>load_dataset("mnist7").X[N]</code>, '
        "and row N in the explorer.)</p>"
        + figure(gif, "The walk, animated.", mime="image/gif")
        + strip
        + run.figure("walk_map.png", path, "The same walk drawn on the latent map.")
    )
    return Section("Morphing a 1 into a 7", html)


@register_section("samples")
def _samples(run: DemoRun) -> Section:
    r = run.result
    samples = r.model.sample(32, seed=0)
    fig = viz.samples_beside_nearest(r.model, samples, r.X_train, cols=16)
    assert r.model.prior_ is not None  # the demo's MLP learns no prior of its own, so one was fitted
    k = len(r.model.prior_.weights)
    caption = (
        f"New digits: codes drawn from a {k}-component Gaussian mixture fitted to the training codes, then decoded "
        "(top). Below each, the closest training digit and the RMS pixel distance to it: the samples are new "
        "drawings, not copies."
    )
    return Section("Generated digits", run.figure("samples.png", fig, caption))


@register_section("numbers")
def _numbers(run: DemoRun) -> Section:
    r = run.result
    h = r.model.history_
    rows = [
        ("autoencoder 49-128-64-2-64-128-49", f"{r.mse:.4f}"),
        ("PCA, 2 components (the linear baseline)", f"{r.pca_mse:.4f}"),
    ]
    text = (
        f"<p>Both compress each digit to 2 numbers. On the {len(r.X_test):,} held-out digits "
        f"{versus_pca(r.mse, r.pca_mse)}"
        + (": a curved 2-D code keeps more than the best flat one" if r.mse < r.pca_mse else "")
        + f". Training took {h.seconds:.1f} s for {len(h.train)} epochs on the CPU.</p>"
    )
    return Section("The numbers", text + table(("model", "held-out MSE per pixel (pixels in [0, 1])"), rows))


@register_section("denoise", before="numbers")
def _denoise(run: DemoRun) -> Section:
    from hourglass.demo.denoise import denoise_demo

    demo = denoise_demo(run.result, noise="gaussian:0.3", epochs=run.epochs)
    ev = demo.evaluation
    text = (
        "<p>Train the same hourglass to rebuild the clean digit from a noisy one (fresh Gaussian noise, "
        f"sigma 0.3, every batch) and it becomes a denoiser: {ev.gain_db:+.1f} dB over the best classical "
        f"filter ({ev.best_classical}) on held-out digits. Trained in {demo.seconds:.1f} s.</p>"
    )
    rows = [(m, f"{mse:.4f}", f"{db:.2f}") for m, mse, db in ev.rows()]
    caption = "Clean, noisy, denoised by the autoencoder, and the best classical filter."
    return Section(
        "Denoising: noisy in, clean out",
        text + run.figure("denoise.png", demo.figure, caption) + table(("method", "MSE", "PSNR (dB)"), rows),
    )


@register_section("anomaly", before="numbers")
def _anomaly(run: DemoRun) -> Section:
    from hourglass.demo.anomaly import anomaly_demo, nearest_normal_html

    a = anomaly_demo(run.result, epochs=run.epochs)
    n_turned, n_flagged = int(a.is_turned.sum()), int(a.flagged.sum())
    hits = int((a.flagged & a.is_turned).sum())
    # What the real digits it flags have in common, measured rather than assumed: their labels and ink.
    real = a.flagged & ~a.is_turned
    ink = a.X.reshape(len(a.X), -1).sum(axis=1, dtype=np.float64)
    normal_ink = np.sort(ink[~a.is_turned])
    flagged_real = ""
    if real.any():
        inkier = np.searchsorted(normal_ink, ink[real].min()) / len(normal_ink)
        kinds = " and ".join(f"{d}s" for d in np.unique(a.y[real]))
        flagged_real = (
            f" The {int(real.sum())} real digits it flags are {kinds}, each inkier than {inkier:.0%} of the held-out "
            "digits: error grows with ink, so bold strokes look odd too, not only badly written digits."
        )
    text = (
        f"<p>Fit the toolkit's anomaly detector (its defaults; {a.seconds:.1f} s) on the {len(run.result.X_train):,} "
        f"training digits, labels never used. Then hide {n_turned} held-out digits turned on their side among the "
        f"{len(a.X) - n_turned:,} held-out ones: the same ink, the wrong shape. Ranked by the detector's score, a "
        f"turned digit scores as more anomalous than a normal one with probability {a.auc:.2f} (ROC-AUC; 0.5 is "
        f"chance). At its own threshold (scored worse than 99% of the training digits) it flags {n_flagged} rows, "
        f"{hits} of them turned.{flagged_real}</p>"
    )
    rows = [
        ("test rows (planted anomalies)", f"{len(a.X):,} ({n_turned})"),
        ("ROC-AUC", f"{a.auc:.3f}"),
        ("average precision", f"{a.ap:.3f} (chance {n_turned / len(a.X):.3f})"),
        ("flagged at the threshold", f"{n_flagged}"),
        ("precision / recall at the threshold", f"{a.precision:.2f} / {a.recall:.2f}"),
    ]
    html = (
        text
        + run.figure(
            "anomaly_histogram.png",
            a.histogram,
            "The detector's score (higher = more normal: its reconstruction error and isolation forest, as robust "
            "z-scores) of the held-out digits and the turned ones; rows left of the dashed threshold are flagged.",
        )
        + run.figure(
            "anomaly_gallery.png",
            a.gallery,
            "The test rows the detector scores most anomalous (top) and their per-pixel squared reconstruction "
            "error (bottom); under each, turned or a real digit, its label, and its score.",
        )
        + nearest_normal_html(a, run)
        + table(("measure", "value"), rows)
    )
    return Section("Anomalies: what the model cannot rebuild", html)


@register_section("explorer", before="numbers")
def _explorer(run: DemoRun) -> Section:
    from hourglass.explorer import write_explorer

    write_explorer(
        run.result.model,
        run.X_all,  # in mnist7's order: the explorer's row N is digit #N of the report and of load_dataset
        run.y_all,
        run.out / "explorer.html",
        rows=np.arange(len(run.X_all)),
        title="hourglass explorer: mnist7 digits in a 2-number code",
    )
    run.files.append("explorer.html")
    text = (
        '<p><a href="explorer.html"><strong>Open the interactive explorer</strong></a> (one file, works '
        "offline): hover anywhere on the map to see what the decoder draws there, click a digit to see it "
        "beside its reconstruction, click a second one to watch the walk between them.</p>"
    )
    return Section("Walk the code space yourself", text)


# ------------------------------------------------------------------------------------ the run folder
MARKER = ".hourglass-demo"  # written first into every demo folder: only such a folder is written into again
TITLE = "hourglass: what a 2-number code learns about digits"


def is_demo_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is one ``run_demo`` wrote (those from before the marker: by their model and report)."""
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    try:
        return is_model_folder(folder / "model") and TITLE in (folder / "report.html").read_text(errors="replace")
    except OSError:
        return False


def run_demo(out: str | Path = "runs/demo", verbose: bool = True, quick: bool = False) -> DemoResult:
    """Train the demo model and write its model folder, figures and report.html into ``out``.

    ``out`` must be new, empty, or a folder an earlier demo wrote: a folder of the user's is refused
    before any work. A run that fails removes what it wrote into a new or empty folder. ``quick``
    trains every model for ``QUICK_EPOCHS`` epochs on the first ``QUICK_ROWS`` digits only: the whole story
    in seconds, its figures those of an undertrained model (the report says so).
    """
    start = time.perf_counter()
    out = Path(out)
    existed = out.exists()
    if existed and (not out.is_dir() or (any(out.iterdir()) and not is_demo_folder(out))):
        raise HourglassError(f"{out}: exists and was not written by hourglass demo; choose a new or empty folder")
    # The demo writes its own files into its folder and leaves the rest; its model folder is replaced whole,
    # so one holding the user's things is refused now, not after training.
    refuse_foreign(out / "model", OWN_FILES)
    fresh = not existed or not any(out.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `hourglass demo`, which may replace what this folder holds\n")
    try:
        return _run_demo(out, verbose, start, QUICK_EPOCHS if quick else None, QUICK_ROWS if quick else None)
    except Exception:
        if fresh:  # nothing in it was the user's
            for path in out.iterdir():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            if not existed:
                out.rmdir()
        raise


def _run_demo(out: Path, verbose: bool, start: float, epochs: int | None, rows: int | None = None) -> DemoResult:
    if verbose:
        print(f"hourglass demo: {rows or 5000:,} MNIST digits at 7x7 (49 pixels) squeezed through a 2-number code")
        if epochs:
            print(f"quick run: every model trains {epochs} epochs, so the figures show undertrained models")
    result = train_demo(verbose, epochs=epochs, rows=rows)
    loss_png = png_bytes(viz.loss_curve(result.model.history_))
    result.model.data_source_ = "mnist7"
    result.model.save(out / "model", extra_files={FIGURE_FILES["loss"]: loss_png})
    if verbose:
        print(
            f"trained in {result.seconds:.1f} s; held-out MSE per pixel: autoencoder {result.mse:.4f}, "
            f"PCA-2 {result.pca_mse:.4f} ({versus_pca(result.mse, result.pca_mse)})"
        )
        print(f"model written to {out / 'model'}")
    run = DemoRun(result, out, epochs)
    sections = [s for _, build in SECTIONS if (s := build(run)) is not None]
    lead = (
        "An autoencoder learns, with no labels, to squeeze each 49-pixel digit through a 2-number code and "
        "rebuild it. This page shows what that code learned."
    )
    if epochs:
        lead += f" (A quick run: every model trained for {epochs} epochs only, so it has not learned much yet.)"
    report = write_report(out / "report.html", TITLE, sections, lead)
    if verbose:
        print(f"figures written to {out}/: {', '.join(run.files)}")
        print(f"report: {report.resolve()} (done in {time.perf_counter() - start:.1f} s)")
    return result
