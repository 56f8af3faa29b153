"""The neighbor-preserving code (issue 13): UMAP's fuzzy graph, its loss in training, its parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

import hourglass as hg
from hourglass.errors import HourglassError
from hourglass.training.layout import layout, spectral_start
from hourglass.training.neighbors import fuzzy_graph


def sheet_and_clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A broad 2-D sheet over 4 features and 4 tight clusters in 2 more: reconstruction is mostly the
    sheet, so a plain 2-D code folds the clusters onto each other; their neighbors keep them apart."""
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0][:2]
    sheet = rng.uniform(-5, 5, (n, 2)) @ rotation
    y = rng.integers(0, 4, n)
    corners = 4.0 * np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]])
    return np.hstack([sheet, corners[y] + rng.normal(0, 0.1, (n, 2))]).astype(np.float32), y


def one_nn(model: hg.Autoencoder, X, y, X_test, y_test) -> float:
    return KNeighborsClassifier(1).fit(model.transform(X), y).score(model.transform(X_test), y_test)


def test_graph_is_symmetric_fuzzy_and_has_the_neighbors():
    X = np.random.default_rng(0).normal(size=(200, 5))
    k = 7
    graph = fuzzy_graph(X, k)
    P = graph.matrix()
    assert abs(P - P.T).max() == 0
    assert graph.weights.min() > 0 and graph.weights.max() <= 1
    assert P.diagonal().sum() == 0  # no row is its own neighbor
    assert (P.max(axis=1).toarray() == 1).all()  # each row's nearest neighbor has weight 1
    # each row reaches its k nearest rows (and, after the fuzzy union, those that reach it)
    degrees = np.diff(P.indptr)
    assert degrees.min() >= k and degrees.sum() <= 2 * k * len(X)
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)
    assert all(set(idx[i]) <= set(P[i].indices) for i in range(len(X)))


def test_layout_draws_each_edge_by_its_weight_and_is_deterministic(monkeypatch):
    from hourglass.training import layout as layout_module

    X = np.random.default_rng(0).normal(size=(120, 4))
    graph = fuzzy_graph(X, 6)
    drawn: dict[tuple[int, int], int] = {}
    real_move = layout_module.move

    def counting(places, heads, tails, step, rng):
        for edge in zip(heads.tolist(), tails.tolist(), strict=True):
            drawn[edge] = drawn.get(edge, 0) + 1
        real_move(places, heads, tails, step, rng)

    monkeypatch.setattr(layout_module, "move", counting)
    places = layout(graph, X, 2, seed=3)
    # umap-learn's schedule: an edge of weight w is drawn about epochs * w / max(w) times, so the draws grow with
    # the graph; edges that would be drawn less than once are left out
    expected = layout_module.epochs(graph.n) * graph.weights / graph.weights.max()
    got = np.array([drawn.get(edge, 0) for edge in zip(graph.heads.tolist(), graph.tails.tolist(), strict=True)])
    kept = expected >= 1
    assert np.all((got[kept] <= expected[kept]) & (got[kept] >= expected[kept] - 2)) and not got[~kept].any()
    monkeypatch.undo()
    np.testing.assert_array_equal(places, layout(graph, X, 2, seed=3))  # same seed, same places
    assert not np.array_equal(places, layout(graph, X, 2, seed=4))


@pytest.mark.slow  # a statistical test: the layout of 300 rows checked for quality
def test_layout_keeps_neighbors_near_and_is_deterministic():
    X, y = sheet_and_clusters(300, 0)
    graph = fuzzy_graph(X, 10)
    places = layout(graph, X, 2, seed=0)
    assert places.shape == (300, 2) and places.dtype == np.float32
    np.testing.assert_array_equal(places, layout(graph, X, 2, seed=0))
    assert not np.array_equal(places, layout(graph, X, 2, seed=1))
    # the clusters that a plain code merges are apart in the layout
    assert KNeighborsClassifier(1).fit(places[:200], y[:200]).score(places[200:], y[200:]) >= 0.95
    # a graph in pieces (two far-apart blobs) starts from PCA, not from the Laplacian's piece indicators
    rng = np.random.default_rng(0)
    blobs = np.vstack([rng.normal(size=(40, 3)), 100 + rng.normal(size=(40, 3))])
    assert spectral_start(fuzzy_graph(blobs, 5), 2) is None
    assert np.isfinite(layout(fuzzy_graph(blobs, 5), blobs, 3, seed=0)).all()


@pytest.mark.slow  # a statistical test: a long fit checked for quality
def test_keeps_clusters_apart_that_a_plain_code_merges():
    X, y = sheet_and_clusters(400, 1)
    X_test, y_test = sheet_and_clusters(200, 2)
    # ReLU: the GELU default happens to keep these clusters apart already; the term must do it on its own.
    settings = {"latent_dim": 2, "epochs": 50, "batch_size": 32, "seed": 0, "device": "cpu", "activation": "relu"}
    plain = hg.Autoencoder(**settings).fit(X)
    kept = hg.Autoencoder(**settings, structure="neighbors").fit(X)
    assert one_nn(plain, X, y, X_test, y_test) < 0.9
    assert one_nn(kept, X, y, X_test, y_test) >= 0.95
    assert "structure" in kept.history_.parts


@pytest.mark.parametrize("model", ["mlp", "vae"])
def test_same_seed_same_weights_and_save_load(tmp_path, model):
    X, _ = sheet_and_clusters(150, 3)
    make = lambda: hg.Autoencoder(  # noqa: E731
        epochs=3, model=model, structure="neighbors", n_neighbors=5, structure_weight=0.5, device="cpu"
    ).fit(X)
    a, b = make(), make()
    assert np.array_equal(a.transform(X), b.transform(X))
    a.save(tmp_path / "m")
    loaded = hg.load(tmp_path / "m")
    assert (loaded.structure, loaded.n_neighbors, loaded.structure_weight) == ("neighbors", 5, 0.5)
    assert np.array_equal(loaded.transform(X), a.transform(X))


def test_conv_model_trains_with_the_term():
    X = np.random.default_rng(0).integers(0, 256, (80, 20, 20), dtype=np.uint8)
    model = hg.Autoencoder(model="conv", epochs=1, structure="neighbors", device="cpu").fit(X)
    assert np.isfinite(model.history_.parts["structure"]).all()


def test_resume_continues_the_same_run(tmp_path):
    X, _ = sheet_and_clusters(120, 4)
    settings = {"structure": "neighbors", "n_neighbors": 5, "device": "cpu", "patience": 0}
    whole = hg.Autoencoder(epochs=4, **settings).fit(X)
    hg.Autoencoder(epochs=2, **settings).fit(X, checkpoint_dir=tmp_path)
    resumed = hg.Autoencoder(epochs=4, **settings).fit(X, checkpoint_dir=tmp_path, resume=True)
    assert np.array_equal(resumed.transform(X), whole.transform(X))
    with pytest.raises(HourglassError, match="different run"):
        hg.Autoencoder(epochs=5, **(settings | {"n_neighbors": 6})).fit(X, checkpoint_dir=tmp_path, resume=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_neighbors": 0}, "parameter n_neighbors"),
        ({"structure_weight": -1.0}, "parameter structure_weight"),
        ({"structure": "umap"}, "parameter structure"),
        ({"n_neighbors": 30}, "n_neighbors must be at least 1 and below the number of training rows"),
    ],
)
def test_bad_parameters_are_one_clear_error(params, message):
    X = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(HourglassError, match=message):
        hg.Autoencoder(epochs=1, device="cpu", **({"structure": "neighbors"} | params)).fit(X)


def test_evaluate_map_scores_model_and_pca():
    X, y = sheet_and_clusters(300, 5)
    X_test, y_test = sheet_and_clusters(100, 6)
    model = hg.Autoencoder(epochs=5, structure="neighbors", device="cpu").fit(X)
    evaluation = hg.evaluate_map(model, X, y, X_test, y_test, umap=False)
    names = [s.name for s in evaluation.scores]
    assert names == ["hourglass+neighbors", "PCA-2"]
    for s in evaluation.scores:
        assert 0 <= s.knn1 <= 1 and 0 <= s.knn5 <= 1 and 0 <= s.trust <= 1 and -1 <= s.silhouette <= 1
        assert s.mse >= 0 and s.encode_rps > 0 and s.decode_rps > 0
    assert "1-NN" in evaluation.table() and set(evaluation.codes) == set(names)
    with pytest.raises(HourglassError, match="one label per row"):
        hg.evaluate_map(model, X, y[:-1], X_test, y_test, umap=False)


def test_map_figure_names_each_colour_in_one_legend():
    from matplotlib.colors import to_rgba

    from hourglass.evaluations.maps import MapEvaluation, MapScores
    from hourglass.viz.maps import map_figure

    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["a", "b", "c"]), 20)
    codes = {name: rng.normal(size=(60, 2)) for name in ("plain", "neighbors")}
    scores = [MapScores(name, 0.5, 0.5, 0.9, 0.1, 0.01, 0.0, 1e6, 1e6) for name in codes]
    fig = map_figure(MapEvaluation(scores, codes, y))
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c"]
    for ax in fig.axes:  # each entry's colour is its label's dots' colour, in every panel
        colours = ax.collections[0].get_facecolors()
        for label, handle in zip("abc", legend.legend_handles, strict=True):
            assert np.allclose(colours[y == label], to_rgba(handle.get_color()))
    many = map_figure(MapEvaluation(scores, codes, np.arange(60)))  # too many labels to list: a colour bar
    assert not many.legends and len(many.axes) == 3


def test_cli_trains_and_evaluates_a_map(tmp_path, capsys):
    from hourglass.cli import main

    for name, seed in (("train", 7), ("test", 8)):
        X, y = sheet_and_clusters(200, seed)
        np.savez(tmp_path / f"{name}.npz", X=X, y=y)
    train, test, out = str(tmp_path / "train.npz"), str(tmp_path / "test.npz"), str(tmp_path / "m")
    args = ["train", train, "--out", out, "--epochs", "3", "--structure", "neighbors", "--neighbors", "8"]
    assert main([*args, "--structure-weight", "2", "--quiet", "--device", "cpu"]) == 0
    assert (hg.load(out).structure, hg.load(out).n_neighbors, hg.load(out).structure_weight) == ("neighbors", 8, 2.0)
    figure = tmp_path / "maps.png"
    assert main(["evaluate-map", out, train, test, "--label", "y", "--no-umap", "-o", str(figure)]) == 0
    printed = capsys.readouterr().out
    assert "hourglass+neighbors" in printed and "PCA-2" in printed and figure.stat().st_size > 0
    assert main(["train", train, "--out", str(tmp_path / "bad"), "--structure", "neighbors", "--neighbors", "0"]) == 2
    assert "--neighbors" in capsys.readouterr().err


@pytest.mark.slow  # numba compiles pynndescent for about a minute
def test_large_data_uses_pynndescent(monkeypatch):
    pytest.importorskip("pynndescent")
    from hourglass.training import neighbors

    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    exact = neighbors.nearest(X, 5)
    monkeypatch.setattr(neighbors, "EXACT_ROWS", 100)
    threads = torch.get_num_threads()
    dist, idx = neighbors.nearest(X, 5)
    assert torch.get_num_threads() == threads  # numba's OpenMP layer must not leave torch on other threads
    assert idx.shape == (300, 5) and (idx != np.arange(300)[:, None]).all()
    assert np.mean(idx == exact[1]) > 0.95 and np.allclose(np.sort(dist, 1), dist)
    assert np.array_equal(neighbors.nearest(X, 5)[1], idx)  # deterministic


def test_loss_curve_shows_the_neighbor_term_on_its_own_axis():
    from hourglass.training.state import History
    from hourglass.viz import loss_curve

    history = History(train=[0.2, 0.1], val=[0.02, 0.01], parts={"recon": [0.02, 0.01], "structure": [1.2, 1.1]})
    history.best_epoch = 2
    fig = loss_curve(history)
    left, right = fig.axes
    assert list(left.lines[0].get_ydata()) == [0.02, 0.01]  # train: the reconstruction part
    assert list(right.lines[0].get_ydata()) == [1.2, 1.1]


@pytest.mark.slow  # a statistical test: a long fit checked for quality
def test_codes_learn_their_places_in_the_layout():
    settings = {"latent_dim": 2, "hidden": (32,), "epochs": 15, "patience": 0, "seed": 0, "device": "cpu"}
    first, last = [], []
    for data_seed in range(3):  # how far a small encoder gets in 15 epochs varies with the data: the median
        X, _ = sheet_and_clusters(600, data_seed)
        model = hg.Autoencoder(**settings, structure="neighbors").fit(X)
        distance = model.history_.parts["structure"]  # mean squared distance to the places, layout variance 1
        first.append(distance[0])
        last.append(distance[-1])
    assert np.median(last) < 0.3 * np.median(first) and np.median(last) < 0.2


def placed_model(tmp_path=None, **kw):
    X, y = sheet_and_clusters(300, 9)
    settings = {"epochs": 3, "structure": "neighbors", "n_neighbors": 8, "device": "cpu", "seed": 0}
    return hg.Autoencoder(**settings, placement="neighbors", **kw).fit(X), X, y


def test_placement_puts_rows_by_their_nearest_training_rows_and_survives_save_load(tmp_path):
    from hourglass.cli import main
    from hourglass.inference import InferenceModel

    model, X, y = placed_model()
    kept = model.runner_.placement
    codes = model.transform(X)
    # the map of the rows fit was given (the held-out ones too) is the layout: each on its own place, bit for bit
    assert np.array_equal(codes, kept.places) and kept.rows.shape == X.shape
    # new rows land among their nearest training rows' places: their clusters, which the 3-epoch encoder merges
    X_new, y_new = sheet_and_clusters(200, 10)
    placed = model.transform(X_new)
    assert KNeighborsClassifier(1).fit(codes, y).score(placed, y_new) >= 0.95
    encoder = hg.Autoencoder(epochs=3, structure="neighbors", n_neighbors=8, device="cpu", seed=0).fit(X)
    assert not np.array_equal(encoder.transform(X_new), placed)  # the same fit without the option: the encoder
    np.testing.assert_array_equal(encoder.transform(X_new), _encoder_codes(model, X_new))
    folder = model.save(tmp_path / "m")
    loaded = hg.load(folder)
    assert loaded.placement == "neighbors" and np.array_equal(loaded.transform(X_new), placed)
    assert np.array_equal(InferenceModel.load(folder).transform(X_new), placed)
    np.savez(tmp_path / "new.npz", X=X_new)
    assert main(["encode", str(folder), str(tmp_path / "new.npz"), "-o", str(tmp_path / "z.csv"), "--quiet"]) == 0
    written = np.loadtxt(tmp_path / "z.csv", delimiter=",", skiprows=1, usecols=(1, 2))
    np.testing.assert_allclose(written, placed, rtol=1e-6, atol=1e-6)


def _encoder_codes(model, X):
    placement, model.runner_.placement = model.runner_.placement, None
    try:
        return model.transform(X)
    finally:
        model.runner_.placement = placement


def test_placement_is_deterministic_and_needs_the_layout():
    a, X, _ = placed_model()
    b, _, _ = placed_model()
    X_new, _ = sheet_and_clusters(50, 11)
    assert np.array_equal(a.transform(X_new), b.transform(X_new))
    with pytest.raises(HourglassError, match="placement='neighbors' needs structure='neighbors'"):
        hg.Autoencoder(epochs=1, device="cpu", placement="neighbors").fit(X)


@pytest.mark.parametrize(("exact", "wide"), [(True, 64), (False, 64), (True, 4), (False, 4)])
def test_a_row_is_placed_alike_alone_or_among_others(monkeypatch, exact, wide):
    from hourglass.training import placement

    if not exact:  # the grid over the codes, its cells' candidates voted by the kept rows' neighbors
        monkeypatch.setattr(placement, "EXACT_VALUES", 0)
    monkeypatch.setattr(placement, "WIDE", wide)  # 4: rows compared on their principal axes
    monkeypatch.setattr(placement, "PROJECTED", 4)
    model, X, y = placed_model()
    kept = model.runner_.placement
    assert (kept.search is None) and model.transform(X[:1]) is not None
    assert (kept.search.candidates is None) == exact and (kept.search.axes is not None) == (wide < X.shape[1])
    X_new, y_new = sheet_and_clusters(130, 10)
    placed = model.transform(X_new)
    alone = np.concatenate([model.transform(X_new[i : i + 1]) for i in range(0, 130, 7)])
    np.testing.assert_array_equal(alone, placed[::7])
    np.testing.assert_array_equal(np.concatenate([model.transform(X_new[:65]), model.transform(X_new[65:])]), placed)
    codes = model.transform(X)
    assert KNeighborsClassifier(1).fit(codes, y).score(placed, y_new) >= 0.95
    assert np.isin(kept.places, codes).all(axis=1).all()  # the kept rows on their own places, by either search


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t | {"placement.rows": t["placement.rows"][:, :-1].copy()}, "'placement.rows' is float32"),
        (lambda t: t | {"placement.places": t["placement.places"][:-1].copy()}, "kept rows and"),
        (lambda t: {k: v for k, v in t.items() if k != "placement.spread"}, "'placement.spread' is missing"),
        (lambda t: t | {"placement.spread": np.array([-1.0], np.float32)}, "spread must be a positive"),
    ],
)
def test_a_folder_whose_kept_rows_do_not_fit_the_model_is_refused(tmp_path, change, message):
    from safetensors.numpy import load_file, save_file

    from hourglass.inference import InferenceModel

    model, _, _ = placed_model()
    folder = model.save(tmp_path / "m")
    weights = folder / "model.safetensors"
    save_file(change(load_file(weights)), weights)
    for load in (hg.load, InferenceModel.load):
        with pytest.raises(HourglassError, match=message):
            load(folder)


@pytest.mark.filterwarnings("ignore:the model is no better than predicting the mean")  # random images
def test_the_explorer_places_rows_as_the_model_does():
    import json
    import threading
    import urllib.request

    from hourglass.explorer.page import pad_meta
    from hourglass.explorer.server import make_server

    model, X, y = placed_model()
    X_new, _ = sheet_and_clusters(5, 12)
    srv = make_server(model, X, y, port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        for path in ("/api/encode", "/api/inspect"):
            body = json.dumps({"rows": X_new.tolist()}).encode()
            request = urllib.request.Request(url + path, body, {"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=30) as r:
                codes = np.array(json.loads(r.read())["codes"])
            np.testing.assert_allclose(codes, model.transform(X_new), rtol=1e-6, atol=1e-6)
    finally:
        srv.shutdown()
        srv.server_close()
    images = np.random.default_rng(0).integers(0, 256, (120, 6, 6), dtype=np.uint8)
    pictures = hg.Autoencoder(epochs=1, structure="neighbors", n_neighbors=5, placement="neighbors", device="cpu")
    pictures.fit(images)
    assert pad_meta(pictures, "server")["ok"]
    assert not pad_meta(pictures, "file")["ok"] and "serve" in pad_meta(pictures, "file")["note"]


def test_the_exported_encoder_is_the_encoder_and_verify_agrees(tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    pytest.importorskip("onnxscript", reason="the export extra is not installed")
    from hourglass.cli import main

    model, X, _ = placed_model()
    folder = model.save(tmp_path / "m")
    np.save(tmp_path / "x.npy", X)
    assert main(["export", str(folder), "-o", str(tmp_path / "onnx")]) == 0
    # verify compares the exported encoder with the encoder's codes, not with the placed ones
    assert main(["verify", str(folder), str(tmp_path / "x.npy"), "--onnx", str(tmp_path / "onnx")]) == 0


def test_a_placing_models_decoder_is_refit_to_read_places():
    from hourglass.training.batches import held_out_rows

    model, X, _ = placed_model()
    encoder = hg.Autoencoder(epochs=3, structure="neighbors", n_neighbors=8, device="cpu", seed=0).fit(X)
    # the same training; then only the decoder moves: the encoders agree bit for bit
    for mine, theirs in zip(model.model_.encoder.parameters(), encoder.model_.encoder.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    kept = model.runner_.placement
    places, rows = torch.from_numpy(kept.places), torch.from_numpy(kept.rows)
    with torch.no_grad():
        errors = [float((m.model_.decode(places) - rows).square().mean()) for m in (model, encoder)]
    assert errors[0] < 0.8 * errors[1]
    # the held-out error it reports is its held-out rows' places decoded, what the model now does
    held, _ = held_out_rows(len(X), model.validation_fraction, model.seed)
    with torch.no_grad():
        rebuilt = model.model_.decode(places[held]).double()
    assert model.history_.held_out["mse"] == pytest.approx(float((rebuilt - rows[held].double()).square().mean()))
    # its prior is over the places its decoder reads: samples fall within the map
    samples = model.prior_.sample(500, seed=0)
    assert np.all(np.abs(np.median(samples, axis=0) - np.median(kept.places, axis=0)) < 0.5)
