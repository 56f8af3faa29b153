"""Read and write tables: CSV/TSV and Parquet, with pandas (``arrays`` reads and writes .npy and .npz without it)."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hourglass.atomic import atomic_file
from hourglass.data.arrays import STDOUT_FAILED, clean_labels, first_line, to_float32, writing
from hourglass.data.csv_shape import check_csv_shape
from hourglass.data.dataset import Dataset
from hourglass.data.inputs import ARRAY_SUFFIXES, PARQUET_SUFFIXES, columns_in_order
from hourglass.errors import HourglassError


def read_table(
    path: Path, label: str | None, label_optional: bool = False, columns: Sequence[str] | None = None
) -> Dataset:
    """A CSV/TSV/Parquet file as a Dataset (see ``frame_to_rows`` for ``label``, ``label_optional``, ``columns``)."""
    X, y, names = frame_to_rows(read_frame(path), path, label, columns, label_optional)
    return Dataset(X, y, kind="table", name=path.stem, feature_names=names)


def read_frame(path: Path) -> pd.DataFrame:
    """A CSV/TSV/Parquet file as a DataFrame with text column names, or a one-line error naming the file."""
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, **_csv_options(path))
    except HourglassError:
        raise
    except pd.errors.EmptyDataError:
        raise HourglassError(f"{path}: the file is empty") from None
    except Exception as e:  # pandas/pyarrow raise many types for malformed files
        raise HourglassError(f"{path}: cannot parse the table ({first_line(e)})") from None
    return frame.rename(columns=str)


def iter_table(
    path: Path,
    label: str | None,
    rows: int,
    columns: Sequence[str] | None = None,
    label_optional: bool = False,
) -> Iterator[Dataset]:
    """A CSV/TSV/Parquet table ``rows`` rows at a time, so one larger than memory is read in constant memory.

    Each chunk is checked as ``read_table`` checks a whole table, and its values must be finite in float32.
    The file stays open until the last chunk is read or the generator is closed: a caller that may stop
    early closes it (``contextlib.closing``), so no file is left for the garbage collector to find.
    """
    try:
        with contextlib.ExitStack() as stack:
            if path.suffix.lower() in PARQUET_SUFFIXES:
                import pyarrow.parquet as pq

                table = stack.enter_context(pq.ParquetFile(path))
                frames: Iterator[pd.DataFrame] = (b.to_pandas() for b in table.iter_batches(batch_size=rows))
            else:
                frames = stack.enter_context(pd.read_csv(path, chunksize=rows, **_csv_options(path)))
            seen = 0
            for frame in frames:
                X, y, names = frame_to_rows(frame, path, label, columns, label_optional)
                if not np.isfinite(X).all():
                    raise HourglassError(
                        f"{path}: rows hold NaN or infinite values, or values too large for float32; clean them"
                    )
                index = np.arange(seen, seen + len(X), dtype=np.int64)  # the rows' numbers in the whole file
                seen += len(X)
                yield Dataset(X, y, kind="table", name=path.stem, feature_names=names, index=index)
        if not seen:
            raise HourglassError(f"{path}: the table has no data rows")
    except HourglassError:
        raise
    except (ValueError, TypeError) as e:  # non-numeric cells, ragged rows
        raise HourglassError(f"{path}: cannot read the table as numbers ({first_line(e)})") from None
    except Exception as e:  # pandas/pyarrow raise many types for malformed files
        raise HourglassError(f"{path}: cannot parse the table ({type(e).__name__}: {first_line(e)})") from None


def frame_to_rows(
    frame: pd.DataFrame,
    path: Path,
    label: str | None,
    columns: Sequence[str] | None = None,
    label_optional: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, list]:
    """Check a table (or one chunk of it) and split it into float32 rows, labels and column names.

    ``label``: the column kept aside as labels (with ``label_optional``, a table without it has none).
    ``columns``: the feature columns a model expects, in its order; the table's are matched to them by name
    before any is read as numbers, so a missing or unexpected column is named as such (not as "non-numeric").
    Values beyond float32's range become infinite here, so the finiteness check that follows sees them.
    """
    y = None
    if label is not None and (label in frame.columns or not label_optional):
        if label not in frame.columns:
            raise HourglassError(f"{path}: no label column {label!r}; columns are {', '.join(map(str, frame.columns))}")
        y = clean_labels(frame.pop(label).to_numpy(), path)
    if columns is not None:
        # Text columns left in a table read without labels may be labels; a numeric column is not suggested as one.
        text = [str(c) for c, dtype in frame.dtypes.items() if not _is_real_number(dtype)] if y is None else []
        order = columns_in_order(str(path), [str(c) for c in frame.columns], list(columns), text)
        frame = frame[order]
    if frame.shape[0] == 0:
        raise HourglassError(f"{path}: the table has no data rows")
    if frame.shape[1] == 0:
        raise HourglassError(f"{path}: the table has no feature columns")
    # Complex and other exotic "numeric" dtypes cannot become float32 without losing part of the value.
    bad = [str(c) for c, dtype in frame.dtypes.items() if not _is_real_number(dtype)]
    if bad:
        raise HourglassError(
            f"{path}: non-numeric column(s) {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}"
            " (drop them, or name a label column with --label)"
        )
    try:
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as e:  # e.g. a nullable column pandas cannot cast
        raise HourglassError(f"{path}: cannot read the table as numbers ({first_line(e)})") from None
    return to_float32(values), y, [str(c) for c in frame.columns]


def _is_real_number(dtype: Any) -> bool:  # a numpy or a pandas extension dtype
    return pd.api.types.is_numeric_dtype(dtype) and np.dtype(getattr(dtype, "numpy_dtype", dtype)).kind in "biuf"


def write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write named columns as CSV/TSV/Parquet, or stacked into .npy/.npz, atomically."""
    suffix = path.suffix.lower()
    with writing(path), atomic_file(path) as tmp:
        if suffix in ARRAY_SUFFIXES:
            array = np.column_stack(list(columns.values()))
            with open(tmp, "wb") as f:
                (np.save if suffix == ".npy" else np.savez)(f, array)
        elif suffix in PARQUET_SUFFIXES:
            pd.DataFrame(columns).to_parquet(tmp, index=False)
        else:
            write_csv(pd.DataFrame(columns), tmp, sep=_separator(path))


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def write_csv(
    frame: pd.DataFrame, target: Any, sep: str = ",", header: bool = True, mode: str = "w", name: Path | None = None
) -> None:
    """Write ``frame`` as CSV (TSV with a tab ``sep``) to a path or open file: every CSV hourglass writes goes here.

    Text cells and column names that a spreadsheet would run as a formula (see ``neutralise``) are written
    with a leading ``'``; numbers are written as numbers, so ``-1.5`` stays a number. A carriage return inside
    text is written as a line feed: Python's csv module leaves a lone CR unquoted (pandas and spreadsheets
    then read it as the end of the row, and what follows it as a new row that may be a formula).
    ``name``: the file a failed write is reported as (the output, when ``target`` is its temporary file).
    """
    frame = frame.rename(columns=lambda c: _csv_text(c) if isinstance(c, str) else c)
    frame = frame.copy(deep=False)  # the caller's frame keeps its cells
    for i, dtype in enumerate(frame.dtypes):
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)):
            frame.isetitem(i, frame.iloc[:, i].map(_csv_text, na_action="ignore"))
    try:
        with writing(name) if name is not None else contextlib.nullcontext():
            frame.to_csv(target, sep=sep, header=header, mode=mode, index=False)
    except BrokenPipeError:  # `-o - | head`: the CLI says nothing
        raise
    except OSError as e:
        if target is not sys.stdout:
            raise
        raise HourglassError(STDOUT_FAILED.format(e.strerror or e)) from None


def _csv_text(value: Any) -> Any:
    value = neutralise(value)
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def neutralise(value: Any) -> Any:
    """``value`` with a ``'`` in front if it is text a spreadsheet would take for a formula (starting with
    ``= + - @``, a tab or a carriage return) and not a plain number such as ``-2`` or ``+1.5e3``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _separator(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _csv_options(path: Path) -> dict[str, Any]:
    """``pd.read_csv``'s arguments for a CSV/TSV file, once ``check_csv_shape`` finds it a rectangle."""
    sep = _separator(path)
    width, trailing = check_csv_shape(path, sep)
    # index_col=False: a row one field longer than the header is never read as an implicit row index
    # (the shape check has refused such rows, unless the extra field is an empty trailing separator).
    options: dict[str, Any] = {"sep": sep, "index_col": False}
    if trailing:  # "a,b,\n1,2,\n": the empty column after every line's last separator is no column
        options["usecols"] = list(range(width - 1))
    return options
