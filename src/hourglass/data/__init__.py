"""Load data by built-in name or path, whole or in chunks; every loader returns a ``Dataset``, and
``model_input`` turns it (or an array, a DataFrame, a request's rows) into what a model takes.

Importing this package does not import pandas (``tables``, imported only once a table is read), so the command
line's ``--help`` can show ``MAX_PIXELS`` from here, and arrays, images and the built-in datasets load without it.
"""

from __future__ import annotations

import functools
import os
import stat
import sys
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hourglass.data.arrays import read_npy, read_npz, to_float32
from hourglass.data.builtin import BUILTINS
from hourglass.data.dataset import Dataset
from hourglass.data.images import MAX_PIXELS, MAX_SIDE, read_image_folder
from hourglass.data.inputs import ARRAY_SUFFIXES, PARQUET_SUFFIXES, TABLE_SUFFIXES, model_input
from hourglass.errors import HourglassError

_CHUNK_BYTES = 64 << 20  # memory one step of the finiteness check may use
CHUNK_ROWS = 65_536  # rows per chunk that ``iter_chunks`` yields


def load_dataset(
    source: str | os.PathLike,
    label: str | None = None,
    image_size: tuple[int, int] | None = None,
    color: str = "auto",
    drop_nonfinite: bool = False,
    max_pixels: int = MAX_PIXELS,
    *,
    columns: Sequence[str] | None = None,
    label_optional: bool = False,
) -> Dataset:
    """Load a built-in dataset (``mnist7``, ``digits8``, ``fashion``, ``fashion-test``) or a file/folder of the user's.

    Files: ``.npy`` (memory-mapped), ``.npz`` (arrays ``X`` and optional ``y``), ``.csv``/``.tsv``/
    ``.parquet`` (numeric columns; ``label`` names a column kept aside, never trained on), or a folder
    of images (each at most ``max_pixels`` pixels). Values that are NaN, infinite or beyond float32's
    range are an error unless ``drop_nonfinite`` drops those rows.

    Parameters
    ----------
    source : str or os.PathLike
        A built-in name (``BUILTINS``; none is ever downloaded, and ``fashion`` needs Debian's
        dataset-fashion-mnist package) or the path of a file or image folder.
    label : str, optional
        The label column of a table, or the label array of an ``.npz`` (default: ``y`` if present).
        An image folder takes its labels from sub-folder names instead; a ``.npy`` file has none.
    image_size : tuple of (int, int), optional
        ``(height, width)`` to resize a folder's images to; by default the most common size among them.
    color : {"auto", "gray", "rgb"}, default "auto"
        An image folder's colour mode; ``"auto"`` keeps RGB only if some image really has colour.
    drop_nonfinite : bool, default False
        Drop rows with NaN, infinite or too-large values (reported on stderr) instead of refusing the data.
    max_pixels : int, default MAX_PIXELS
        The largest image read, in pixels, checked from each file's header before anything is decoded.
    columns : sequence of str, optional
        The feature columns a model expects, in its order: a table's columns are matched to them by name
        (so their order may differ) before any is read as numbers, and a missing or unexpected column is
        one error naming each.
    label_optional : bool, default False
        ``label`` is a default (a model's remembered label column), not a demand: a source without it
        loads without labels.

    Returns
    -------
    Dataset
        The rows (``X``, possibly a read-only memory map), labels (``y`` or None), ``kind`` (``"image"``
        or ``"table"``), a ``name`` for titles, a table's ``feature_names`` and an image folder's file
        paths (``ids``). Row N is position N in the source (an image folder's files in sorted order):
        the number every command, the explorer and the demo report give it.

    Raises
    ------
    HourglassError
        No such file or built-in; an unsupported, empty, damaged or non-regular file; a missing label;
        non-finite values without ``drop_nonfinite`` (or in every row).

    Examples
    --------
    >>> data = load_dataset("mnist7")  # ships with hourglass
    >>> data.kind, data.X.shape, data.X.dtype
    ('image', (5000, 7, 7), dtype('uint8'))

    A table, its label column kept aside:

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp, "plants.csv")
    ...     _ = path.write_text("height,width,kind\\n1.0,2.0,a\\n3.0,4.0,b\\n")
    ...     table = load_dataset(path, label="kind")
    >>> table.feature_names, table.y.tolist(), table.name
    (['height', 'width'], ['a', 'b'], 'plants')
    """
    name = str(source)
    if name in BUILTINS:
        return BUILTINS[name]()
    path = Path(source)
    if check_source(path):  # a folder
        if label is not None and not label_optional:
            raise HourglassError(f"{path}: an image folder takes its labels from sub-folder names, not --label")
        data = read_image_folder(path, image_size, color, max_pixels)
    else:
        table = functools.partial(_read_table, columns=columns)
        readers: dict[str, Callable[..., Dataset]] = {".npy": read_npy, ".npz": read_npz}
        readers |= dict.fromkeys(TABLE_SUFFIXES, table)
        data = readers[path.suffix.lower()](path, label, label_optional)
    return _check_finite(data, path, drop_nonfinite)


def check_source(source: str | os.PathLike) -> bool:
    """Whether a data source that is not a built-in name is a folder (``True``) or a readable kind of file
    (``False``); anything else is the one-line error ``load_dataset`` gives. It needs only the file system,
    so the command line says it before importing torch.

    Raises
    ------
    HourglassError
        No such file or folder, an unsupported file type, a non-regular or an empty file.
    """
    path = Path(source)
    try:
        info = path.stat()
    except (OSError, ValueError):  # missing, a name too long, a NUL byte in it ...
        known = ", ".join(sorted(BUILTINS))
        raise HourglassError(f"{path}: no such file or folder (built-in datasets: {known})") from None
    if stat.S_ISDIR(info.st_mode):
        return True
    if path.suffix.lower() not in (".npy", ".npz", *TABLE_SUFFIXES):
        raise HourglassError(f"{path}: unsupported file type; use .npy, .npz, .csv, .tsv, .parquet or an image folder")
    if not stat.S_ISREG(info.st_mode):  # a pipe or device would block or never end
        raise HourglassError(f"{path}: not a regular file")
    if info.st_size == 0:
        raise HourglassError(f"{path}: the file is empty")
    return False


def iter_chunks(
    source: str | os.PathLike, label: str | None = None, rows: int = CHUNK_ROWS, **options: Any
) -> Generator[Dataset, None, None]:
    """``load_dataset(source, label)`` as chunks of ``rows`` rows in float32, for data larger than memory.

    A CSV/TSV/Parquet table is read chunk by chunk and a ``.npy`` file is memory-mapped (slicing reads only
    the chunk), so either streams in constant memory; other sources are loaded whole, then sliced.

    Parameters
    ----------
    source : str or os.PathLike
        What ``load_dataset`` takes: a built-in name, a file or an image folder.
    label : str, optional
        The label column (or ``.npz`` array), as for ``load_dataset``.
    rows : int, default CHUNK_ROWS
        Rows per chunk; the last chunk holds what is left.
    **options
        ``load_dataset``'s other keywords (``columns``, ``label_optional``, an image folder's options).

    Yields
    ------
    Dataset
        One chunk: ``X`` in float32, its labels, the source's kind, name and feature names, and each row's
        position in the source (``index``) and file path (``ids``, an image folder's).

    Raises
    ------
    HourglassError
        As ``load_dataset``; a table's chunk is checked when it is read, so an error can come after
        earlier chunks were yielded.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     np.save(Path(tmp, "rows.npy"), np.arange(10.0).reshape(5, 2))
    ...     [chunk.X.shape for chunk in iter_chunks(Path(tmp, "rows.npy"), rows=2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    path = Path(source)
    if path.suffix.lower() in TABLE_SUFFIXES and path.is_file():
        from hourglass.data.tables import iter_table

        table = {k: v for k, v in options.items() if k in ("columns", "label_optional")}
        yield from iter_table(path, label, rows, **table)
        return
    data = load_dataset(source, label=label, **options)  # finiteness is checked here, a chunk at a time
    for start in range(0, len(data), rows):
        chunk = data.take(slice(start, start + rows))
        chunk.X = to_float32(chunk.X)
        yield chunk


def _read_table(
    path: Path, label: str | None, label_optional: bool = False, columns: Sequence[str] | None = None
) -> Dataset:
    from hourglass.data.tables import read_table  # pandas, imported for tables alone

    return read_table(path, label, label_optional, columns)


def _check_finite(data: Dataset, path: Path, drop: bool) -> Dataset:
    """Refuse (or drop) rows with values that are not finite once in float32, the dtype the models use.

    Reads a memory map in chunks, so a file larger than RAM is checked without loading it whole.
    """
    if data.X.dtype.kind != "f":  # integers always fit float32's range
        return data
    bad_rows = np.zeros(len(data), dtype=bool)
    step = max(1, _CHUNK_BYTES // (data.X.itemsize * max(data.n_features, 1)))
    for start in range(0, len(data), step):
        chunk = to_float32(data.X[start : start + step])
        bad_rows[start : start + step] = ~np.isfinite(chunk.reshape(len(chunk), -1)).all(axis=1)
    n_bad = int(bad_rows.sum())
    if n_bad == 0:
        return data
    if not drop:
        first = int(np.argmax(bad_rows))
        raise HourglassError(
            f"{path}: {n_bad} row(s) hold NaN or infinite values, or values too large for float32 (|x| > 3.4e38) "
            f"(first: row {first}); clean them or pass --drop-nonfinite"
        )
    if n_bad == len(data):
        raise HourglassError(f"{path}: every row holds NaN or infinite values, or values too large for float32")
    print(f"hourglass: dropped {n_bad} row(s) with NaN/inf or values beyond float32 from {path}", file=sys.stderr)
    return data.take(~bad_rows)  # each kept row keeps its number in the source (``index``)


__all__ = [
    "ARRAY_SUFFIXES",
    "BUILTINS",
    "CHUNK_ROWS",
    "MAX_PIXELS",
    "MAX_SIDE",
    "PARQUET_SUFFIXES",
    "TABLE_SUFFIXES",
    "Dataset",
    "iter_chunks",
    "load_dataset",
    "model_input",
]
