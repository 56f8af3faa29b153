import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

import hourglass as hg
from hourglass import viz
from hourglass.cli import main
from hourglass.viz.figure import DPI
from hourglass.viz.images import to_unit
from hourglass.viz.manifold import occupied


@pytest.fixture(scope="module")
def data():
    return hg.load_dataset("mnist7")


@pytest.fixture(scope="module")
def model(data):
    return hg.Autoencoder(hidden=(32,), epochs=12, seed=0).fit(data.X[:1500])


@pytest.fixture(scope="module")
def heldout(data):
    return data.X[4000:4400], data.y[4000:4400]


def png_size(fig) -> tuple[int, int]:
    with Image.open(io.BytesIO(viz.png_bytes(fig))) as im:
        return im.size


def test_loss_curve_plots_every_epoch_and_marks_the_best(model):
    h = model.history_
    fig = viz.loss_curve(h)
    assert isinstance(fig.canvas, FigureCanvasAgg)  # never attached to pyplot
    ax = fig.axes[0]
    train, val = ax.lines[0], ax.lines[1]
    assert np.allclose(train.get_ydata(), h.train) and np.allclose(val.get_ydata(), h.val)
    assert ax.get_yscale() == "log"
    best = [line for line in ax.lines if line.get_xdata()[0] == h.best_epoch and len(line.get_xdata()) == 1]
    assert best and np.isclose(best[0].get_ydata()[0], h.val[h.best_epoch - 1])
    assert png_size(fig) == (600, 360)
    assert viz.loss_curve(h, log=False).axes[0].get_yscale() == "linear"


def test_reconstructions_show_originals_above_rebuilt_with_errors(model, heldout):
    X, _ = heldout
    fig = viz.reconstructions(model, X, n=8, cols=8)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (2 * 8 + 1, 8 * 8 + 1)  # 2 rows of 7x7 tiles with 1-pixel gutters
    original, rebuilt = to_unit(model, X[:8]), to_unit(model, model.reconstruct(X[:8]))
    assert np.allclose(canvas[1:8, 1:8], original[0]) and np.allclose(canvas[9:16, 1:8], rebuilt[0])
    notes = [t.get_text().split() for t in fig.axes[0].get_xticklabels()]  # "#row mse"
    assert [n[0] for n in notes] == [f"#{i}" for i in range(8)]
    assert np.allclose([float(n[1]) for n in notes], ((original - rebuilt) ** 2).mean(axis=(1, 2)), atol=5e-4)
    wrapped = viz.reconstructions(model, X, n=10, cols=4)
    assert len(wrapped.axes) == 3 and len(wrapped.axes[2].get_xticklabels()) == 2


def test_latent_map_colours_by_label_or_by_error(model, heldout):
    X, y = heldout
    fig = viz.latent_map(model, X, y)
    ax = fig.axes[0]
    assert len(ax.collections) == len(np.unique(y))  # one coloured group per digit
    codes = model.transform(X)
    drawn = np.concatenate([c.get_offsets() for c in ax.collections])
    assert np.allclose(np.sort(drawn[:, 0]), np.sort(codes[:, 0]), atol=1e-5)
    plain = viz.latent_map(model, X)
    errors = plain.axes[0].collections[0].get_array()
    assert np.allclose(errors, -model.score_samples(X), rtol=1e-5)
    assert len(plain.axes) == 2  # the colour bar
    assert png_size(fig) == (640, 520)


def test_latent_map_projects_wider_codes_with_pca_and_says_so(data):
    wide = hg.Autoencoder(latent_dim=3, hidden=(16,), epochs=2, seed=0).fit(data.X[:500])
    fig = viz.latent_map(wide, data.X[:300], data.y[:300])
    assert "PCA" in fig.axes[0].get_title() and "PC 1" in fig.axes[0].get_xlabel()
    images = viz.manifold_grid(wide, wide.transform(data.X[:300]), n=4)[0]
    assert images.shape == (4, 4, 7, 7)


def test_manifold_covers_the_code_quantiles_with_distinct_tiles(model, data):
    codes = model.transform(data.X[:1500])
    images, xs, ys = viz.manifold_grid(model, codes, n=8)
    assert images.shape == (8, 8, 7, 7)
    assert np.allclose([xs[0], xs[-1]], np.quantile(codes[:, 0], [0.02, 0.98]), rtol=1e-5)
    assert np.allclose([ys[0], ys[-1]], np.quantile(codes[:, 1], [0.02, 0.98]), rtol=1e-5)
    assert np.allclose(np.diff(xs), np.diff(xs)[0])  # a regular grid
    tiles = images.reshape(64, -1)
    distance = np.abs(tiles[:, None] - tiles[None]).mean(axis=2)
    assert (distance[~np.eye(64, dtype=bool)] > 0.05).all()  # every tile differs from every other
    # The top-left tile is the decoded code at (min x, max y).
    corner = model.inverse_transform(np.array([[xs[0], ys[-1]]], np.float32)).reshape(7, 7)
    assert np.allclose(images[0, 0], corner, atol=1e-3)
    q = viz.manifold_grid(model, codes, n=8, spacing="quantile")[1]
    assert np.allclose(q, np.quantile(codes[:, 0], np.linspace(0.02, 0.98, 8)))
    fig = viz.manifold(model, codes=codes, n=8)
    assert fig.axes[0].images[0].get_array().shape == (8 * 8 + 1, 8 * 8 + 1)
    labels = [float(t.get_text().replace("\u2212", "-")) for t in fig.axes[0].get_xticklabels()]
    assert np.allclose(labels, xs[:: len(xs) // len(labels)], rtol=0.06, atol=0.01)  # ticks in latent units
    with pytest.raises(hg.HourglassError):
        viz.manifold_grid(model, codes, n=8, quantiles=(0.9, 0.1))


def test_manifold_leaves_cells_without_codes_blank(model):
    # Two tight clusters at opposite corners: the plane between them holds no code.
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 0.05, (200, 2)), rng.normal(3, 0.05, (200, 2))]).astype(np.float32)
    xs = ys = np.linspace(0, 3, 4)
    cells = occupied(codes, xs, ys)
    # Top row is the largest y: the (3, 3) cluster is top-right, the (0, 0) one bottom-left.
    assert cells.tolist() == [[False] * 3 + [True], [False] * 4, [False] * 4, [True] + [False] * 3]
    fig = viz.manifold(model, codes=codes, n=6)
    canvas = fig.axes[0].images[0].get_array()
    tiles = canvas[1:, 1:].reshape(6, 8, 6, 8)[:, :7, :, :7].transpose(0, 2, 1, 3).reshape(36, -1)
    blank = np.all(tiles == 0.5, axis=1)
    assert blank.sum() == 34 and not blank[5] and not blank[30]  # only the two corner cells are drawn
    assert "grey: no code in that cell (34 of 36)" in fig.axes[0].get_title()
    full = viz.manifold(model, codes=codes, n=6, where_data=False).axes[0].images[0].get_array()
    assert not np.all(full[1:8, 8:15] == 0.5)  # decoded when asked for the whole grid


def test_walk_ends_are_the_decoded_endpoints(model, heldout):
    X, y = heldout
    a, b = X[np.flatnonzero(y == 1)[0]], X[np.flatnonzero(y == 7)[0]]
    codes, frames = viz.walk(model, a, b, steps=9)
    ends = model.inverse_transform(model.transform(np.stack([a, b]))).reshape(2, 7, 7)
    assert frames.shape == (9, 7, 7)
    assert np.allclose(frames[0], ends[0]) and np.allclose(frames[-1], ends[1])
    assert np.allclose(np.diff(codes, n=2, axis=0), 0, atol=1e-5)  # evenly spaced on a line
    assert np.abs(frames[4] - frames[0]).mean() > 0.5  # the middle is neither end
    arc, arc_frames = viz.walk(model, a, b, steps=9, path="spherical")
    assert np.allclose(arc[[0, -1]], codes[[0, -1]]) and np.allclose(arc_frames[-1], ends[1])

    gif = Image.open(io.BytesIO(viz.walk_gif(model, frames, size=70)))
    assert gif.n_frames == 9 and gif.size == (70, 70)
    lo, hi = viz.images.pixel_range(model)
    for index, expected in ((0, ends[0]), (8, ends[1])):
        gif.seek(index)
        pixels = np.clip(np.rint((expected - lo) / (hi - lo) * 255), 0, 255)
        assert np.array_equal(np.asarray(gif.convert("L")), np.kron(pixels, np.ones((10, 10))).astype(np.uint8))
    strip = viz.walk_strip(model, frames)
    assert strip.axes[0].images[0].get_array().shape == (9, 9 * 8 + 1)
    on_map = viz.latent_map(model, X, y, path=codes)
    path_line = on_map.axes[0].lines[0]
    assert np.allclose(path_line.get_xydata(), codes, atol=1e-6)


def test_samples_sit_beside_their_true_nearest_training_image(model, data):
    train = data.X[:1500]
    samples = model.sample(12, seed=3)
    index, distance = viz.nearest_training(model, samples, train)
    flat = model.scaler_.transform(train.reshape(len(train), -1))
    query = model.scaler_.transform(samples.reshape(12, -1))
    brute = ((query[:, None] - flat[None]) ** 2).sum(axis=2)
    assert np.array_equal(index, brute.argmin(axis=1))
    assert np.allclose(distance, np.sqrt(brute.min(axis=1) / 49), rtol=1e-4)
    fig = viz.samples_beside_nearest(model, samples, train, cols=6)
    bottom = fig.axes[0].images[0].get_array()[9:16, 1:8]
    assert len(fig.axes) == 2 and np.allclose(bottom, to_unit(model, train[index[0]])[0])
    grid = viz.sample_grid(model, samples, cols=4)
    assert grid.axes[0].images[0].get_array().shape == (3 * 8 + 1, 4 * 8 + 1)


def test_story_figures_render(model, data):
    assert png_size(viz.inputs(model, data.X, data.y)) == (800, 280)
    fig = viz.hourglass_diagram(49, (32,), 2)
    assert [t.get_text() for t in fig.axes[0].texts if t.get_text().isdigit()] == ["49", "32", "2", "32", "49"]


def test_table_models_get_line_reconstructions_and_no_image_figures(data):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    X = np.column_stack([z, z.sum(axis=1), z[:, 0] - z[:, 1]]).astype(np.float32)
    table = hg.Autoencoder(hidden=(8,), epochs=3, seed=0).fit(X)
    fig = viz.reconstructions(table, X, n=3)
    assert len(fig.axes) == 3 and np.allclose(fig.axes[0].lines[0].get_ydata(), table.scaler_.transform(X[:1])[0])
    with pytest.raises(hg.HourglassError, match="table"):
        viz.manifold(table, X)
    assert viz.latent_map(table, X).axes[0].collections[0].get_offsets().shape == (300, 2)


def test_train_points_at_the_loss_curve_and_plot_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "mnist7", "--epochs", "2", "--hidden", "16", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]  # no figure to wait for
    assert f"hourglass plot {out} --only loss" in capsys.readouterr().out
    figs = tmp_path / "figs"
    assert main(["plot", str(out), "mnist7", "-o", str(figs), "--grid", "5"]) == 0
    with Image.open(figs / "loss_curve.png") as im:
        assert im.size == (6 * DPI, int(3.6 * DPI)) and np.asarray(im.convert("L")).std() > 10
    for name in ("loss_curve", "reconstructions", "latent_map", "manifold"):  # the names the demo gives them
        with Image.open(figs / f"{name}.png") as im:
            assert min(im.size) > 150
    assert main(["plot", str(out), "mnist7", "-o", str(tmp_path / "f2"), "--only", "latent"]) == 0
    assert [p.name for p in (tmp_path / "f2").iterdir()] == ["latent_map.png"]
