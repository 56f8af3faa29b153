import gzip
import struct
import warnings

import numpy as np
import pytest

import hourglass as hg
from hourglass.data import builtin
from hourglass.errors import HourglassError

INSTALLED = (builtin.FASHION_DIR / "train-images-idx3-ubyte.gz").is_file()
MISSING = (
    f"FASHION-MNIST TESTS SKIPPED: Debian's dataset-fashion-mnist is not installed ({builtin.FASHION_DIR}); "
    "run `apt-get install dataset-fashion-mnist` or `make`"
)
if not INSTALLED:
    warnings.warn(MISSING, stacklevel=1)  # shows in the warnings summary, not only with -rs
needs_package = pytest.mark.skipif(not INSTALLED, reason=MISSING)


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_files_are_read_with_their_shape_and_values(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(builtin.read_idx(tmp_path / "x.gz"), images)


def test_broken_idx_files_are_clear_errors(tmp_path):
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(b"PK\x03\x04 not idx")
    with pytest.raises(HourglassError, match="not an IDX file"):
        builtin.read_idx(tmp_path / "bad.gz")
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 2]) + struct.pack(">2I", 10, 10) + bytes(30))
    with pytest.raises(HourglassError, match="truncated"):
        builtin.read_idx(tmp_path / "short.gz")


def test_without_the_package_fashion_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin, "FASHION_DIR", tmp_path / "nowhere")
    for name in ("fashion", "fashion-test"):
        with pytest.raises(HourglassError, match="apt-get install dataset-fashion-mnist` or run `make`"):
            hg.load_dataset(name)


def test_a_fake_package_folder_loads_as_fashion(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, size=(6, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 7, 8, 9]))
    monkeypatch.setattr(builtin, "FASHION_DIR", tmp_path)
    data = hg.load_dataset("fashion-test")
    assert data.X.shape == (6, 28, 28) and data.name == "fashion-test" and data.kind == "image"
    assert data.y.tolist() == ["T-shirt/top", "Trouser", "Pullover", "Sneaker", "Bag", "Ankle boot"]


@needs_package
def test_fashion_has_60k_training_and_10k_test_images_in_ten_balanced_classes():
    train, test = hg.load_dataset("fashion"), hg.load_dataset("fashion-test")
    assert train.X.shape == (60_000, 28, 28) and test.X.shape == (10_000, 28, 28)
    assert train.X.dtype == np.uint8 and train.X.max() == 255
    names, counts = np.unique(train.y, return_counts=True)
    assert set(names) == set(builtin.FASHION_CLASSES) and set(counts) == {6_000}
    assert set(np.unique(test.y, return_counts=True)[1]) == {1_000}
    assert train.y[0] == "Ankle boot"  # the first training image of the original release


@pytest.mark.slow  # a statistical test: a long fit checked for quality
@needs_package
def test_auto_trains_a_conv_model_on_fashion_that_beats_the_mean_image():
    train, test = hg.load_dataset("fashion"), hg.load_dataset("fashion-test")
    model = hg.Autoencoder(latent_dim=8, hidden=(8, 16), epochs=3, seed=0).fit(train.X[:1500])
    assert model.model_.name == "conv"
    X = test.X[:500].astype(np.float64)
    rebuilt = model.reconstruct(test.X[:500])
    assert rebuilt.shape == (500, 28, 28)
    assert np.mean((rebuilt - X) ** 2) < 0.6 * np.mean((X.mean(axis=0) - X) ** 2)
