"""Load data by built-in name or path; every loader returns a ``Dataset``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hourglass.data.builtin import BUILTINS
from hourglass.data.dataset import Dataset
from hourglass.data.images import read_image_folder
from hourglass.data.tables import TABLE_SUFFIXES, read_npy, read_npz, read_table
from hourglass.errors import HourglassError

_READERS = {".npy": read_npy, ".npz": read_npz, **dict.fromkeys(TABLE_SUFFIXES, read_table)}
_CHUNK = 1 << 16


def load_dataset(
    source: str | os.PathLike,
    label: str | None = None,
    image_size: tuple[int, int] | None = None,
    color: str = "auto",
    drop_nonfinite: bool = False,
) -> Dataset:
    """Load a built-in dataset (``mnist7``, ``digits8``) or a file/folder of the user's.

    Files: ``.npy`` (memory-mapped), ``.npz`` (arrays ``X`` and optional ``y``), ``.csv``/``.tsv``/
    ``.parquet`` (numeric columns; ``label`` names a column kept aside, never trained on), or a folder
    of images. NaN/inf values are an error unless ``drop_nonfinite`` drops those rows.
    """
    name = str(source)
    if name in BUILTINS:
        return BUILTINS[name]()
    path = Path(source)
    if not path.exists():
        known = ", ".join(sorted(BUILTINS))
        raise HourglassError(f"{path}: no such file or folder (built-in datasets: {known})")
    if path.is_dir():
        if label is not None:
            raise HourglassError(f"{path}: an image folder takes its labels from sub-folder names, not --label")
        data = read_image_folder(path, image_size, color)
    else:
        reader = _READERS.get(path.suffix.lower())
        if reader is None:
            raise HourglassError(
                f"{path}: unsupported file type; use .npy, .npz, .csv, .tsv, .parquet or an image folder"
            )
        if path.stat().st_size == 0:
            raise HourglassError(f"{path}: the file is empty")
        data = reader(path, label)
    return _check_finite(data, path, drop_nonfinite)


def _check_finite(data: Dataset, path: Path, drop: bool) -> Dataset:
    if data.X.dtype.kind != "f":
        return data
    bad_rows = np.zeros(len(data), dtype=bool)
    for start in range(0, len(data), _CHUNK):
        chunk = np.asarray(data.X[start : start + _CHUNK]).reshape(min(_CHUNK, len(data) - start), -1)
        bad_rows[start : start + _CHUNK] = ~np.isfinite(chunk).all(axis=1)
    n_bad = int(bad_rows.sum())
    if n_bad == 0:
        return data
    if not drop:
        first = int(np.argmax(bad_rows))
        raise HourglassError(
            f"{path}: {n_bad} row(s) hold NaN or infinite values (first: row {first}); "
            "clean them or pass --drop-nonfinite"
        )
    if n_bad == len(data):
        raise HourglassError(f"{path}: every row holds NaN or infinite values")
    import sys

    print(f"hourglass: dropped {n_bad} row(s) with NaN/inf from {path}", file=sys.stderr)
    keep = ~bad_rows
    y = data.y[keep] if data.y is not None else None
    return Dataset(np.asarray(data.X)[keep], y, data.kind, data.name, data.feature_names)


__all__ = ["BUILTINS", "Dataset", "load_dataset"]
