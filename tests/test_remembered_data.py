"""A model folder remembers how its training data was read, and every row keeps its name (issue 20, points 4-5).

After ``train data.csv --label diagnosis`` the commands read the same kind of file with no flags; a table whose
columns differ is one line naming them; an image folder's outputs name each file by its path; rows keep their
number in the source; ``plot`` shows reconstructions from across the data.
"""

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import hourglass as hg
from hourglass.cli import main
from hourglass.data import load_dataset

COLUMNS = ["radius", "texture", "area", "smoothness"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A CSV whose text label sits between the features, and the model `train --label` made of it."""
    root = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(120, 4)).astype(np.float32), columns=COLUMNS)
    frame.insert(2, "diagnosis", np.where(rng.random(120) > 0.5, "malignant", "benign"))
    frame.to_csv(root / "data.csv", index=False)
    args = ["--label", "diagnosis", "--hidden", "8", "--epochs", "2", "--quiet"]
    assert main(["train", str(root / "data.csv"), *args, "--out", str(root / "model")]) == 0
    return root, frame


def test_encode_and_explore_need_no_flags_after_train_with_a_label(table, tmp_path):
    root, frame = table
    config = json.loads((root / "model" / "config.json").read_text())
    assert config["data"]["options"]["label"] == "diagnosis"
    assert config["data"]["feature_names"] == COLUMNS and config["data"]["source"] == str(root / "data.csv")

    assert main(["encode", str(root / "model"), str(root / "data.csv"), "-o", str(tmp_path / "z.csv")]) == 0
    codes = pd.read_csv(tmp_path / "z.csv")
    assert list(codes.columns) == ["row_id", "z1", "z2", "label"]
    assert codes["row_id"].tolist() == list(range(120)) and codes["label"].tolist() == frame["diagnosis"].tolist()
    # New rows: columns in another order and no label column at all. Matched by name, the same codes.
    frame[COLUMNS[::-1]].to_csv(tmp_path / "new.csv", index=False)
    assert main(["encode", str(root / "model"), str(tmp_path / "new.csv"), "-o", str(tmp_path / "z2.csv")]) == 0
    again = pd.read_csv(tmp_path / "z2.csv")
    assert list(again.columns) == ["row_id", "z1", "z2"]
    np.testing.assert_array_equal(again[["z1", "z2"]].to_numpy(), codes[["z1", "z2"]].to_numpy())

    # The README's form: no DATA, the model's own training data, read with its label column.
    assert main(["explore", str(root / "model"), "-o", str(tmp_path / "explorer.html")]) == 0
    page = (tmp_path / "explorer.html").read_text()
    data = json.loads(re.search(r'id="hg-data">(.*?)</script>', page, re.S).group(1))
    assert data["n"] == 120 and data["labels"] is not None


def test_score_and_reconstruct_need_no_label_flag(table, tmp_path):
    root, frame = table
    args = ["--label", "diagnosis", "--members", "2", "--hidden", "8", "--epochs", "2", "--quiet"]
    assert main(["fit-detector", str(root / "data.csv"), *args, "--out", str(tmp_path / "detector")]) == 0
    assert main(["score", str(tmp_path / "detector"), str(root / "data.csv"), "-o", str(tmp_path / "s.csv")]) == 0
    scores = pd.read_csv(tmp_path / "s.csv")
    assert scores["row_id"].tolist() == list(range(120))
    assert scores["label"].tolist() == frame["diagnosis"].tolist()
    out = tmp_path / "rebuilt.csv"
    assert main(["reconstruct", str(root / "model"), str(root / "data.csv"), "-o", str(out)]) == 0
    assert list(pd.read_csv(out).columns) == ["row_id", *COLUMNS]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda f: f.drop(columns="area"), r"missing area\)"),
        (lambda f: f.drop(columns="area").assign(notes="x", extra=1.0), r"missing area; unexpected notes, extra"),
    ],
)
def test_a_table_whose_columns_differ_is_one_line_naming_them(table, tmp_path, capsys, change, named):
    root, frame = table
    change(frame).to_csv(tmp_path / "other.csv", index=False)
    code = main(["encode", str(root / "model"), str(tmp_path / "other.csv"), "-o", str(tmp_path / "z.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert re.search(r"other\.csv: columns differ from the model's \(" + named, err), err
    assert not (tmp_path / "z.csv").exists()


def test_an_explicit_label_flag_still_wins(table, tmp_path, capsys):
    root, frame = table
    frame.rename(columns={"diagnosis": "kind"}).to_csv(tmp_path / "renamed.csv", index=False)
    args = ["encode", str(root / "model"), str(tmp_path / "renamed.csv"), "-o", str(tmp_path / "z.csv")]
    assert main(args) == 2  # the remembered label is not there: kind is an unexpected column
    assert "(unexpected kind); name a label column with --label" in capsys.readouterr().err
    assert main([*args, "--label", "kind"]) == 0
    assert pd.read_csv(tmp_path / "z.csv")["label"].tolist() == frame["diagnosis"].tolist()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """mnist7's first 40 digits as PNGs in one sub-folder per class, and a model trained on the folder."""
    root = tmp_path_factory.mktemp("images")
    digits = load_dataset("mnist7")
    paths = []
    for i in range(40):
        path = root / "pngs" / f"class{digits.y[i]}" / f"digit{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits.X[i]).save(path)
        paths.append(path.relative_to(root / "pngs").as_posix())
    args = ["--hidden", "8", "--epochs", "2", "--quiet", "--out", str(root / "model")]
    assert main(["train", str(root / "pngs"), *args]) == 0
    return root, sorted(paths)


def test_encode_of_an_image_folder_names_each_file(folder, tmp_path):
    root, paths = folder
    assert main(["encode", str(root / "model"), str(root / "pngs"), "-o", str(tmp_path / "z.csv")]) == 0
    codes = pd.read_csv(tmp_path / "z.csv")
    assert list(codes.columns) == ["row_id", "path", "z1", "z2", "label"]
    assert codes["path"].tolist() == paths  # row N is the N-th path in sorted order
    assert codes["label"].tolist() == [p.split("/")[0] for p in paths]
    # decode keeps the names encode wrote; a folder of PNGs keeps the source's paths
    assert main(["decode", str(root / "model"), str(tmp_path / "z.csv"), "-o", str(tmp_path / "d.csv")]) == 0
    assert pd.read_csv(tmp_path / "d.csv")["path"].tolist() == paths
    assert main(["reconstruct", str(root / "model"), str(root / "pngs"), "-o", str(tmp_path / "rebuilt")]) == 0
    assert (
        sorted(p.relative_to(tmp_path / "rebuilt").as_posix() for p in (tmp_path / "rebuilt").rglob("*.png")) == paths
    )


def test_a_folder_is_read_at_the_models_size_and_the_explorer_names_files(folder, tmp_path):
    root, paths = folder
    big = tmp_path / "big"
    for name in paths[:5]:  # the same digits at 14x14: resized to the model's 7x7, not refused
        (big / name).parent.mkdir(parents=True, exist_ok=True)
        Image.open(root / "pngs" / name).resize((14, 14)).save(big / name)
    assert main(["encode", str(root / "model"), str(big), "-o", str(tmp_path / "z.csv")]) == 0
    assert pd.read_csv(tmp_path / "z.csv")["path"].tolist() == paths[:5]
    assert main(["explore", str(root / "model"), "-o", str(tmp_path / "e.html")]) == 0
    page = (tmp_path / "e.html").read_text()
    data = json.loads(re.search(r'id="hg-data">(.*?)</script>', page, re.S).group(1))
    assert data["ids"] == paths and data["rows"] == list(range(len(paths)))


def test_plot_shows_rows_from_across_the_data():
    from hourglass.cli.plot import spread_rows  # what `plot` draws its reconstructions of

    y = np.repeat(np.arange(10), 50)  # a folder sorted by class: the first ten rows are all one class
    rows = spread_rows(len(y), 10, y)
    assert sorted(y[rows].tolist()) == list(range(10))
    assert spread_rows(500, 5).tolist() == [0, 125, 250, 374, 499]
    rows = spread_rows(500, 25, y)  # more than one per class: every class gives two or three
    assert len(set(rows.tolist())) == 25 and np.bincount(y[rows]).min() >= 2


def test_plot_labels_each_reconstruction_with_its_row_number(table):
    """plot's panels are rows from across the data, each named by its number in the source (encode's row_id),
    not by its place in the figure; here the source's first row is row 10."""
    import argparse

    from hourglass.cli.plot import FIGURES, spread_rows

    root, _ = table
    data = load_dataset(root / "data.csv", label="diagnosis").take(np.arange(10, 120))
    fig = FIGURES["reconstructions"][0](hg.load(root / "model"), data, argparse.Namespace(n=4))
    rows = spread_rows(len(data), 4, data.y)
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes] == [f"row {10 + r}" for r in rows]


def test_dropped_rows_keep_their_numbers(tmp_path, capsys):
    X = np.arange(12.0).reshape(6, 2)
    X[[1, 4], 0] = np.nan
    np.save(tmp_path / "rows.npy", X)
    data = load_dataset(tmp_path / "rows.npy", drop_nonfinite=True)
    assert data.row_index().tolist() == [0, 2, 3, 5]
    model = hg.Autoencoder(hidden=(4,), epochs=1, seed=0).fit(np.nan_to_num(X))
    model.save(tmp_path / "m")
    out = tmp_path / "z.csv"
    assert main(["encode", str(tmp_path / "m"), str(tmp_path / "rows.npy"), "--drop-nonfinite", "-o", str(out)]) == 0
    assert pd.read_csv(out)["row_id"].tolist() == [0, 2, 3, 5]


def test_fit_forgets_the_data_a_loaded_model_was_trained_on(table, tmp_path):
    root, _ = table
    model = hg.load(root / "model")
    assert model.data_options_["label"] == "diagnosis"
    model.fit(np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32))
    config = json.loads((model.save(tmp_path / "refit") / "config.json").read_text())
    assert config["data"]["source"] is None and config["data"]["options"] is None


def test_png_outputs_keep_paths_unless_two_would_be_one_file(tmp_path):
    from hourglass.data.images import write_image_folder

    images = np.zeros((2, 3, 3), np.uint8)
    write_image_folder(tmp_path / "kept", images, np.array(["cats/a.jpg", "dogs/a.jpg"]))
    assert sorted(p.relative_to(tmp_path / "kept").as_posix() for p in (tmp_path / "kept").rglob("*.png")) == [
        "cats/a.png",
        "dogs/a.png",
    ]
    write_image_folder(tmp_path / "numbered", images, np.array(["a.jpg", "A.png"]))  # one file on macOS
    assert sorted(p.name for p in (tmp_path / "numbered").iterdir()) == ["00000.png", "00001.png"]
