import numpy as np
import pandas as pd
import pytest
from PIL import Image

import hourglass as hg
from hourglass import HourglassError


def test_mnist7_is_real_balanced_digits(mnist7):
    assert mnist7.X.shape == (5000, 7, 7) and mnist7.X.dtype == np.uint8
    assert np.bincount(mnist7.y).tolist() == [500] * 10
    assert mnist7.kind == "image" and mnist7.X.max() > 200
    # shuffled: the first 100 rows hold many classes, not one
    assert len(set(mnist7.y[:100].tolist())) == 10
    # a mean "1" is a thin vertical stroke, a mean "0" is a ring with a dark centre
    ones, zeros = mnist7.X[mnist7.y == 1].mean(0), mnist7.X[mnist7.y == 0].mean(0)
    assert ones[:, 3].mean() > 2 * ones[:, 0].mean()
    assert zeros[3, 3] < zeros[3, 1]


def test_digits8():
    d = hg.load_dataset("digits8")
    assert d.X.shape == (1797, 8, 8) and d.X.max() == 16 and d.y is not None


def test_csv_with_label_column(tmp_path, table):
    frame = pd.DataFrame(table, columns=list("abcde"))
    frame["kind"] = ["x", "y"] * 100
    frame.to_csv(tmp_path / "t.csv", index=False)
    d = hg.load_dataset(tmp_path / "t.csv", label="kind")
    assert d.X.shape == (200, 5) and d.feature_names == list("abcde") and d.y[0] == "x"
    assert d.kind == "table"


def test_parquet_tsv_npz_npy(tmp_path, table):
    pd.DataFrame(table, columns=list("abcde")).to_parquet(tmp_path / "t.parquet")
    pd.DataFrame(table, columns=list("abcde")).to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    np.savez(tmp_path / "t.npz", X=table, y=np.arange(200))
    np.save(tmp_path / "t.npy", table)
    for name in ("t.parquet", "t.tsv", "t.npz", "t.npy"):
        d = hg.load_dataset(tmp_path / name)
        np.testing.assert_allclose(np.asarray(d.X), table, rtol=1e-6)
    assert isinstance(hg.load_dataset(tmp_path / "t.npy").X, np.memmap)  # larger-than-RAM files stay on disk
    assert hg.load_dataset(tmp_path / "t.npz").y.tolist() == list(range(200))


def test_image_folder_labels_from_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (10, 12), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(tmp_path / "cats" / "big.png")
    d = hg.load_dataset(tmp_path)
    assert d.X.shape == (7, 10, 12) and d.X.dtype == np.uint8  # resized to the most common size
    assert sorted(set(d.y.tolist())) == ["cats", "dogs"]
    rgb = hg.load_dataset(tmp_path, color="rgb", image_size=(5, 5))
    assert rgb.X.shape == (7, 5, 5, 3)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "empty"),
        ("header.csv", "a,b,c\n", "no data rows"),
        ("ragged.csv", "a,b\n1,2\n3,4,5\n", "line 3 has 3 fields, but the header has 2"),
        ("words.csv", "a,b\n1,x\n2,y\n", "non-numeric column.*b"),
        ("nan.csv", "a,b\n1,2\nnan,3\n", "NaN"),
        ("inf.csv", "a,b\n1,2\ninf,3\n", "NaN or infinite"),
        ("data.json", "{}", "unsupported file type"),
        ("bad.npy", "not numpy", "not a readable .npy"),
        ("bad.npz", "not a zip", "not a readable .npz"),
        ("bad.parquet", "not parquet", "cannot parse"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(HourglassError, match=message) as info:
        hg.load_dataset(path)
    assert "\n" not in str(info.value) and name in str(info.value)


def test_drop_nonfinite_and_missing_label(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\nnan,3\n4,5\n")
    d = hg.load_dataset(path, drop_nonfinite=True)
    assert d.X.tolist() == [[1, 2], [4, 5]]
    with pytest.raises(HourglassError, match="no label column 'c'"):
        hg.load_dataset(path, label="c")


def test_missing_path_and_bad_folders(tmp_path):
    with pytest.raises(HourglassError, match="no such file"):
        hg.load_dataset(tmp_path / "nope.csv")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(HourglassError, match="no PNG/JPEG images"):
        hg.load_dataset(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(HourglassError, match=r"broken\.png: not a readable image"):
        hg.load_dataset(tmp_path)
