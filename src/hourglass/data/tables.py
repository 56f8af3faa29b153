"""Read and write numeric arrays and tables: .npy (memory-mapped), .npz, CSV/TSV and Parquet."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hourglass.atomic import atomic_file
from hourglass.data.dataset import Dataset
from hourglass.data.inputs import ARRAY_SUFFIXES, PARQUET_SUFFIXES
from hourglass.errors import HourglassError


def read_npy(path: Path, label: str | None) -> Dataset:
    if label is not None:
        raise HourglassError(f"{path}: a .npy file holds one array, so it has no label column {label!r}")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # numpy's header parser raises many types for damaged or hostile files
        raise HourglassError(f"{path}: not a readable .npy array ({_first_line(e)})") from None
    if not isinstance(X, np.ndarray):  # an .npz archive under a .npy name
        X.close()
        raise HourglassError(f"{path}: not a .npy array (an .npz archive? name it .npz)")
    return _array_dataset(X, None, path)


def read_npz(path: Path, label: str | None) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise HourglassError(f"{path}: not an .npz archive (a single array: name it .npy)")
            names = list(z.files)
            label_key = label or ("y" if "y" in names else None)
            if label_key is not None and label_key not in names:
                raise HourglassError(f"{path}: no array named {label_key!r}; it holds {', '.join(names) or 'nothing'}")
            data_keys = [k for k in names if k != label_key]
            key = "X" if "X" in data_keys else (data_keys[0] if len(data_keys) == 1 else None)
            if key is None:
                raise HourglassError(f"{path}: name the data array 'X' (found {', '.join(names) or 'no arrays'})")
            # Only the arrays used are decompressed: other members may be large.
            X, y = z[key], z[label_key] if label_key else None
    except HourglassError:
        raise
    except Exception as e:  # zipfile, zlib and numpy raise many types for damaged or hostile archives
        raise HourglassError(f"{path}: not a readable .npz archive ({_first_line(e)})") from None
    for name, array in ((key, X), (label_key, y)):
        if array is not None and not isinstance(array, np.ndarray):
            raise HourglassError(f"{path}: member {name!r} is not a numpy array")
    return _array_dataset(X, y, path)


def read_table(path: Path, label: str | None) -> Dataset:
    X, y, names = frame_to_rows(read_frame(path), path, label)
    return Dataset(X, y, kind="table", name=path.stem, feature_names=names)


def read_frame(path: Path) -> pd.DataFrame:
    """A CSV/TSV/Parquet file as a DataFrame with text column names, or a one-line error naming the file."""
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=_separator(path))
    except pd.errors.EmptyDataError:
        raise HourglassError(f"{path}: the file is empty") from None
    except Exception as e:  # pandas/pyarrow raise many types for malformed files
        raise HourglassError(f"{path}: cannot parse the table ({_first_line(e)})") from None
    return frame.rename(columns=str)


def iter_table(path: Path, label: str | None, rows: int) -> Iterator[Dataset]:
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
                frames = stack.enter_context(pd.read_csv(path, sep=_separator(path), chunksize=rows))
            seen = False
            for frame in frames:
                X, y, names = frame_to_rows(frame, path, label)
                if not np.isfinite(X).all():
                    raise HourglassError(
                        f"{path}: rows hold NaN or infinite values, or values too large for float32; clean them"
                    )
                seen = True
                yield Dataset(X, y, kind="table", name=path.stem, feature_names=names)
        if not seen:
            raise HourglassError(f"{path}: the table has no data rows")
    except HourglassError:
        raise
    except (ValueError, TypeError) as e:  # non-numeric cells, ragged rows
        raise HourglassError(f"{path}: cannot read the table as numbers ({_first_line(e)})") from None
    except Exception as e:  # pandas/pyarrow raise many types for malformed files
        raise HourglassError(f"{path}: cannot parse the table ({type(e).__name__}: {_first_line(e)})") from None


def frame_to_rows(frame: pd.DataFrame, path: Path, label: str | None) -> tuple[np.ndarray, np.ndarray | None, list]:
    """Check a table (or one chunk of it) and split it into float32 rows, labels and column names.

    Values beyond float32's range become infinite here, so the finiteness check that follows sees them.
    """
    y = None
    if label is not None:
        if label not in frame.columns:
            raise HourglassError(f"{path}: no label column {label!r}; columns are {', '.join(map(str, frame.columns))}")
        y = clean_labels(frame.pop(label).to_numpy(), path)
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
        raise HourglassError(f"{path}: cannot read the table as numbers ({_first_line(e)})") from None
    return to_float32(values), y, [str(c) for c in frame.columns]


def _is_real_number(dtype: Any) -> bool:  # a numpy or a pandas extension dtype
    return pd.api.types.is_numeric_dtype(dtype) and np.dtype(getattr(dtype, "numpy_dtype", dtype)).kind in "biuf"


def to_float32(values: np.ndarray) -> np.ndarray:
    """Values as float32; those beyond its range become +-inf (no warning), for the finiteness check to report."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values).astype(np.float32)


def clean_labels(y: np.ndarray, path: Path) -> np.ndarray:
    """Labels as one value per row: byte strings are decoded (UTF-8, bad bytes replaced), odd dtypes refused."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise HourglassError(f"{path}: labels must be one value per row; got an array of shape {y.shape}")
    if y.dtype.kind == "S":
        return np.array([v.decode("utf-8", "replace") for v in y.tolist()], dtype=str)
    if y.dtype.kind == "O":
        return np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in y], dtype=object)
    if y.dtype.kind in "Mm":  # dates and durations: their text is a fine label
        return y.astype(str)
    if y.dtype.kind not in "biufU":
        raise HourglassError(f"{path}: labels of dtype {y.dtype}; use numbers or text")
    return y


def _array_dataset(X: np.ndarray, y: np.ndarray | None, path: Path) -> Dataset:
    if X.dtype.kind not in "biuf":
        raise HourglassError(f"{path}: the array has dtype {X.dtype}; a numeric array is needed")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim not in (2, 3, 4) or X.shape[0] == 0 or X.size == 0:
        raise HourglassError(
            f"{path}: need a non-empty array of rows (n, features) or images (n, H, W[, C]); got shape {X.shape}"
        )
    if y is not None:
        y = clean_labels(y, path)
        if len(y) != len(X):
            raise HourglassError(f"{path}: {len(y)} labels for {len(X)} rows")
    kind = "table" if X.ndim == 2 else "image"
    return Dataset(X, y, kind=kind, name=path.stem)


def write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write named columns as CSV/TSV/Parquet, or stacked into .npy/.npz, atomically."""
    suffix = path.suffix.lower()
    with atomic_file(path) as tmp:
        if suffix in ARRAY_SUFFIXES:
            array = np.column_stack(list(columns.values()))
            with open(tmp, "wb") as f:
                (np.save if suffix == ".npy" else np.savez)(f, array)
        elif suffix in PARQUET_SUFFIXES:
            pd.DataFrame(columns).to_parquet(tmp, index=False)
        else:
            pd.DataFrame(columns).to_csv(tmp, index=False, sep=_separator(path))


def write_array(path: Path, array: np.ndarray) -> None:
    """Write one array to .npy or .npz (key ``X``), atomically."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        if path.suffix.lower() == ".npz":
            np.savez_compressed(f, X=array)
        else:
            np.save(f, array)


def _separator(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
