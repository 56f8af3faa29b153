"""Read and write numeric arrays: .npy (memory-mapped) and .npz, with numpy alone.

Apart from ``tables`` (pandas), so that data and outputs in these formats never import pandas.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hourglass.atomic import atomic_file
from hourglass.data.dataset import Dataset
from hourglass.errors import HourglassError


def read_npy(path: Path, label: str | None, label_optional: bool = False) -> Dataset:
    if label is not None and not label_optional:
        raise HourglassError(f"{path}: a .npy file holds one array, so it has no label column {label!r}")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # numpy's header parser raises many types for damaged or hostile files
        raise HourglassError(f"{path}: not a readable .npy array ({first_line(e)})") from None
    if not isinstance(X, np.ndarray):  # an .npz archive under a .npy name
        X.close()
        raise HourglassError(f"{path}: not a .npy array (an .npz archive? name it .npz)")
    return _array_dataset(X, None, path)


def read_npz(path: Path, label: str | None, label_optional: bool = False) -> Dataset:
    try:
        # The file is opened here, so that it is closed however np.load fails (a damaged archive left numpy's open).
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise HourglassError(f"{path}: not an .npz archive (a single array: name it .npy)")
            names = list(z.files)
            label_key: str | None = label or "y"
            if label_key not in names and (label is None or label_optional):
                label_key = None  # no labels: fine unless the user named an array
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
        raise HourglassError(f"{path}: not a readable .npz archive ({first_line(e)})") from None
    for name, array in ((key, X), (label_key, y)):
        if array is not None and not isinstance(array, np.ndarray):
            raise HourglassError(f"{path}: member {name!r} is not a numpy array")
    return _array_dataset(X, y, path)


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


def write_array(path: Path, array: np.ndarray) -> None:
    """Write one array to .npy or .npz (key ``X``), atomically."""
    with writing(path), atomic_file(path) as tmp, open(tmp, "wb") as f:
        if path.suffix.lower() == ".npz":
            np.savez_compressed(f, X=array)
        else:
            np.save(f, array)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write into one error naming the output and, when the disk is full, the disk.

    numpy reports a full disk as ``OSError("14700 requested and 13280 written")``, with no file and no errno.
    """
    try:
        yield
    except HourglassError:
        raise
    except OSError as e:
        raise HourglassError(write_failure(path, e)) from None


# A full disk under `hourglass ... > file` has no file name in its error: this says which output failed.
STDOUT_FAILED = "standard output: not written ({})"


def write_failure(path: Path, error: OSError) -> str:
    """The one line ``writing`` says about ``error``, met while writing ``path``."""
    short = error.errno is None and "requested and" in str(error)  # numpy's tofile/fwrite: a short write
    if error.errno not in (errno.ENOSPC, errno.EDQUOT) and not short:
        return f"{path}: not written ({error.strerror or first_line(error)})"
    folder = Path(path).resolve().parent
    try:
        free = f"{shutil.disk_usage(folder).free:,} bytes free"
    except OSError:
        free = "no space left"
    return f"{path}: not written: the disk holding {folder} is full ({free}); free some space or write elsewhere"


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
