"""Is a CSV/TSV file a rectangle? ``check_csv_shape`` says so before pandas reads it, or names the first line
that is not.

pandas reads a misshapen file without a word: short rows are padded with NaN, rows one field longer than the
header turn its first column into a row index, and a semicolon-separated file becomes one column of text (or,
with decimal commas, of numbers such as 3e14). Here the file is read once, a block at a time: with numpy,
counting separators per line, while it holds no quote character; otherwise with the csv module, whose quoting
rules are pandas' own, so a quoted separator or line break is part of one field.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np

from hourglass.data.arrays import first_line
from hourglass.errors import HourglassError

SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_BLOCK = 1 << 24  # bytes read at a time by the fast path
_BOM = b"\xef\xbb\xbf"
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def check_csv_shape(path: Path, sep: str) -> tuple[int, bool]:
    """The header's number of fields, and whether every line ends in a separator (an empty last column).

    Raises
    ------
    HourglassError
        The file is empty; a line has another number of fields than the header (a separator at the end of
        a line, with nothing after it, is allowed); the header names a column twice; or the file reads as
        one column whose text holds another separator (the file uses that one).
    """
    try:
        shape = _shape_without_quotes(path, sep)
        return shape if shape is not None else _shape_with_csv(path, sep)
    except HourglassError:
        raise
    except (OSError, csv.Error) as e:
        raise HourglassError(f"{path}: cannot parse the table ({first_line(e)})") from None


def _shape_without_quotes(path: Path, sep: str) -> tuple[int, bool] | None:
    """The fast path: None if the file holds a quote, a lone CR or a single column (the csv module's case)."""
    code, width, trailing, lines = ord(sep), 0, False, 0
    with open(path, "rb") as f:
        carry = f.read(len(_BOM))
        carry = b"" if carry == _BOM else carry
        while True:
            block = f.read(_BLOCK)
            data = carry + block
            if b'"' in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n") + data.endswith(b"\r")):
                return None  # quotes, or lines ended by a lone CR
            if block:
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
            elif data and not data.endswith(b"\n"):
                data += b"\n"
            if data:
                buf = np.frombuffer(data, np.uint8)
                ends = np.flatnonzero(buf == 10)
                starts = np.concatenate([[0], ends[:-1] + 1])
                ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13))  # drop a CR before LF
                # Separators per line (each line's span runs to the next line's start; a newline is no separator).
                fields = np.add.reduceat(buf == code, starts, dtype=np.int32) + 1
                filled = ends > starts  # pandas skips blank lines
                last_empty = filled & (buf[np.maximum(ends - 1, 0)] == code)
                if not width:
                    first = np.flatnonzero(filled)
                    if len(first):
                        i = int(first[0])
                        header = bytes(buf[starts[i] : ends[i]]).decode("utf-8", "replace").split(sep)
                        if len(header) == 1:
                            return None
                        _check_header(path, header)
                        width, trailing = len(header), header[-1] == ""
                        filled[: i + 1] = False
                bad = filled & (fields != width) & ~((fields == width + 1) & last_empty)
                if bad.any():
                    i = int(np.argmax(bad))
                    raise HourglassError(_ragged(path, lines + i + 1, int(fields[i]), width, sep))
                if trailing:
                    trailing = bool(last_empty[filled & (fields == width)].all())
                lines += len(ends)
            if not block:
                break
    if not width:
        raise HourglassError(f"{path}: the file is empty")
    return width, trailing


def _shape_with_csv(path: Path, sep: str) -> tuple[int, bool]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        rows = csv.reader(f, delimiter=sep)
        header = next((r for r in rows if r), None)  # csv gives [] for a blank line; pandas skips them
        if header is None:
            raise HourglassError(f"{path}: the file is empty")
        width = len(header)
        if width == 1:
            _check_one_column(path, sep, header[0])
        _check_header(path, header)
        trailing = width > 1 and header[-1] == ""
        for row in rows:
            if not row:
                continue
            if width == 1:
                _check_one_column(path, sep, row[0])
            if len(row) == width:
                trailing = trailing and row[-1] == ""
            elif not (len(row) == width + 1 and row[-1] == ""):  # "1,2," under "a,b": a trailing separator
                raise HourglassError(_ragged(path, rows.line_num, len(row), width, sep))
    return width, trailing


def _check_header(path: Path, header: list[str]) -> None:
    seen = Counter(header)
    twice = [name for name, count in seen.items() if count > 1]
    names = [n.strip() for n in (header[:-1] if len(header) > 1 and header[-1] == "" else header)]
    # A file without a header line (np.savetxt's, say) gives its first row as names, and that row is lost. Whole
    # numbers are names too (pandas writes 0,1,2,... for a frame of unnamed columns; wavelengths are others);
    # a decimal point, an exponent, a sign or a repeat is a row of data.
    if all(_NUMBER.fullmatch(n) for n in names) and (twice or not all(n.isdigit() for n in names)):
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise HourglassError(
            f"{path}: the first line ({shown}) holds numbers, not column names: the file seems to have no header"
            " line; add one (a name for each column), or save the rows as .npy"
        )
    unnamed = [i for i, name in enumerate(names) if not name]
    if unnamed:  # pandas would call it "Unnamed: 0" and read it as a feature
        raise HourglassError(
            f"{path}: column {unnamed[0] + 1} has no name in the header (a row index that pandas' to_csv wrote? "
            "write the file with index=False, or name the column)"
        )
    if twice:
        raise HourglassError(
            f"{path}: the header names column {twice[0]!r} {seen[twice[0]]} times; give each column its own name"
        )


def _ragged(path: Path, line: int, fields: int, width: int, sep: str) -> str:
    return (
        f"{path}: line {line} has {fields} fields, but the header has {width}; every row needs one value per column"
        + (f" (is {sep!r} a decimal comma? save the file with decimal points)" if width == 1 else "")
    )


def _check_one_column(path: Path, sep: str, text: str) -> None:
    """A one-column table whose header or values hold another separator: the file uses that one."""
    for other, word in SEPARATOR_NAMES.items():
        if other != sep and other in text:
            kind = "tab-separated" if sep == "\t" else "comma-separated"
            raise HourglassError(
                f"{path}: reads as one column, but it holds {word}s ({other!r}): it looks {word}-separated; "
                f"save it {kind}{', with decimal points' if other == ';' else ''}"
            )
