"""Issue 21, tables and images: nothing a user has is misread (CSV dialects, 16-bit images, duplicate
names), and no CSV hourglass writes can run as a spreadsheet formula."""

import json
import os
import subprocess
import sys
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
