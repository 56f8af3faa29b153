"""The report's sections about the demo's autoencoder: each takes the run and returns one ``report.Section``
(or None to leave itself out), drawing its figures into the demo folder.
"""

from __future__ import annotations

import time

import numpy as np

from hourglass import viz
from hourglass.demo.report import Section, figure, table
from hourglass.demo.run import DemoRun, versus_pca
from hourglass.estimator import Autoencoder
from hourglass.evaluations.maps import MapEvaluation, evaluate_map
from hourglass.params import AUTOENCODER, FIGURE_FILES
from hourglass.viz.maps import map_figure


def input_section(run: DemoRun) -> Section:
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


def hourglass_section(run: DemoRun) -> Section:
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


def loss_section(run: DemoRun) -> Section:
    m = run.result.model
    h = m.history_
    ended = "stopped early" if h.stopped_early else "ran its full budget"
    caption = (
        f"Reconstruction loss per epoch ({len(h.train)} epochs in {h.seconds:.1f} s; training {ended}). "
        f"The weights of the best validation epoch, {h.best_epoch}, are the ones kept."
    )
    return Section("Training: the loss bottoms out", run.figure(FIGURE_FILES["loss"], viz.loss_curve(h), caption))


def reconstructions_section(run: DemoRun) -> Section:
    r = run.result
    fig = viz.reconstructions(r.model, r.X_test, n=12, cols=12, row_ids=r.index_test)
    caption = (
        "Held-out digits (top) and what the decoder rebuilt from their 2-number codes (bottom); under each, "
        "its row number in mnist7 (as the explorer numbers it) and the mean squared error per pixel "
        "(pixels in [0, 1]). Two numbers cannot hold every stroke, so the "
        "rebuilt digits are smoothed versions of the originals."
    )
    return Section("Reconstructions", run.figure(FIGURE_FILES["reconstructions"], fig, caption))


def latent_section(run: DemoRun) -> Section:
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


def neighbors_section(run: DemoRun) -> Section | None:
    """The same autoencoder trained to keep each digit's nearest neighbors near (``structure="neighbors"``),
    its map beside the plain one's, each scored by how often a held-out digit's nearest training code
    carries its label (1-NN) and by held-out reconstruction error."""
    if run.epochs:  # a quick run: the layout's 500 epochs take seconds however few the rows, so it is left out
        return None
    r = run.result
    start = time.perf_counter()
    # Placed as UMAP's transform places rows, so the map drawn is the layout itself, not the encoder's copy of it.
    kept = Autoencoder(
        latent_dim=2,
        structure="neighbors",
        placement="neighbors",
        seed=r.model.seed,
        epochs=run.epochs or AUTOENCODER.epochs,
    ).fit(r.X_train)
    seconds = time.perf_counter() - start
    maps = {"plain autoencoder": r.model, 'structure="neighbors", placed': kept}
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
        'maps). With <code>placement="neighbors"</code> the model keeps its training digits, which sit at their '
        "places in that map, and places a new digit among its nearest training digits, as UMAP does.</p>"
        + run.figure("maps_side_by_side.png", map_figure(both), caption)
        + run.figure("manifold_neighbors.png", grid, grid_caption)
    )
    return Section("Neighbor-preserving maps", html)


def pick_typical(codes: np.ndarray, y: np.ndarray, label: object) -> int:
    """Index of the example of ``label`` whose code is nearest its class's median code."""
    mine = np.flatnonzero(y == label)
    centre = np.median(codes[mine], axis=0)
    return int(mine[np.argmin(np.linalg.norm(codes[mine] - centre, axis=1))])


def walk_section(run: DemoRun) -> Section:
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


def samples_section(run: DemoRun) -> Section:
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


def numbers_section(run: DemoRun) -> Section:
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


def explorer_section(run: DemoRun) -> Section:
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
