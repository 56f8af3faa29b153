"""Read and write numeric arrays and tables: .npy (memory-mapped), .npz, CSV/TSV and Parquet."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from hourglass.atomic import atomic_file
from hourglass.data.dataset import Dataset
from hourglass.errors import HourglassError

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def read_npy(path: Path, label: str | None) -> Dataset:
    if label is not None:
        raise HourglassError(f"{path}: a .npy file holds one array, so it has no label column {label!r}")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise HourglassError(f"{path}: not a readable .npy array ({_first_line(e)})") from None
    return _array_dataset(X, None, path)


def read_npz(path: Path, label: str | None) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise HourglassError(f"{path}: not a readable .npz archive ({_first_line(e)})") from None
    label_key = label or ("y" if "y" in arrays else None)
    if label_key is not None and label_key not in arrays:
        raise HourglassError(f"{path}: no array named {label_key!r}; it holds {', '.join(arrays) or 'nothing'}")
    data_keys = [k for k in arrays if k != label_key]
    key = "X" if "X" in arrays else (data_keys[0] if len(data_keys) == 1 else None)
    if key is None:
        raise HourglassError(f"{path}: name the data array 'X' (found {', '.join(arrays) or 'no arrays'})")
    y = arrays[label_key] if label_key else None
    return _array_dataset(arrays[key], y, path)


def read_table(path: Path, label: str | None) -> Dataset:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except pd.errors.EmptyDataError:
        raise HourglassError(f"{path}: the file is empty") from None
    except Exception as e:  # pandas/pyarrow raise many types for malformed files
        raise HourglassError(f"{path}: cannot parse the table ({_first_line(e)})") from None
    X, y, names = frame_to_rows(frame, path, label)
    return Dataset(X, y, kind="table", name=path.stem, feature_names=names)


def frame_to_rows(frame: pd.DataFrame, path: Path, label: str | None) -> tuple[np.ndarray, np.ndarray | None, list]:
    """Check a table (or one chunk of it) and split it into float32 rows, labels and column names."""
    y = None
    if label is not None:
        if label not in frame.columns:
            raise HourglassError(f"{path}: no label column {label!r}; columns are {', '.join(map(str, frame.columns))}")
        y = frame.pop(label).to_numpy()
    if frame.shape[0] == 0:
        raise HourglassError(f"{path}: the table has no data rows")
    if frame.shape[1] == 0:
        raise HourglassError(f"{path}: the table has no feature columns")
    bad = [str(c) for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c]))]
    if bad:
        raise HourglassError(
            f"{path}: non-numeric column(s) {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}"
            " (drop them, or name a label column with --label)"
        )
    X = _to_float32(frame.to_numpy(dtype=np.float64, na_value=np.nan), path)
    return X, y, [str(c) for c in frame.columns]


def _to_float32(values: np.ndarray, path: Path) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        too_large = np.isfinite(values) & (np.abs(values) > np.finfo(np.float32).max)
    if too_large.any():
        raise HourglassError(
            f"{path}: {int(too_large.sum())} value(s) are too large for float32 (|x| > 3.4e38); rescale the data"
        )
    return values.astype(np.float32)


def _array_dataset(X: np.ndarray, y: np.ndarray | None, path: Path) -> Dataset:
    if X.dtype.kind not in "biuf":
        raise HourglassError(f"{path}: the array has dtype {X.dtype}; a numeric array is needed")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim not in (2, 3, 4) or X.shape[0] == 0 or X.size == 0:
        raise HourglassError(
            f"{path}: need a non-empty array of rows (n, features) or images (n, H, W[, C]); got shape {X.shape}"
        )
    if y is not None and len(y) != len(X):
        raise HourglassError(f"{path}: {len(y)} labels for {len(X)} rows")
    kind = "table" if X.ndim == 2 else "image"
    return Dataset(X, y, kind=kind, name=path.stem)


def write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write named columns as CSV/TSV/Parquet, or stacked into .npy/.npz, atomically."""
    suffix = path.suffix.lower()
    with atomic_file(path) as tmp:
        if suffix in (".npy", ".npz"):
            array = np.column_stack(list(columns.values()))
            with open(tmp, "wb") as f:
                (np.save if suffix == ".npy" else np.savez)(f, array)
        elif suffix in (".parquet", ".pq"):
            pd.DataFrame(columns).to_parquet(tmp, index=False)
        else:
            pd.DataFrame(columns).to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")


def write_array(path: Path, array: np.ndarray) -> None:
    """Write one array to .npy or .npz (key ``X``), atomically."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        if path.suffix.lower() == ".npz":
            np.savez_compressed(f, X=array)
        else:
            np.save(f, array)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
