"""Writing what a command makes: rows, tables and codes, to files, folders of PNGs or standard output, and
the checks that a write can succeed before any work starts."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hourglass.atomic import Own, listing, refuse_foreign
from hourglass.data import ARRAY_SUFFIXES, TABLE_SUFFIXES, Dataset
from hourglass.data.arrays import write_array
from hourglass.errors import HourglassError
from hourglass.storage.modelfile import OWN_FILES, is_model_folder

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder
    from hourglass.inference import InferenceModel

STDOUT = "-"  # as an output path: a CSV table written to standard output


def report(args: argparse.Namespace, line: str) -> None:
    """The one line a command prints when it succeeds: what it wrote and where. On standard error when
    standard output carries the output itself (``-o -``); nothing with ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(line, file=sys.stderr if getattr(args, "output", None) == STDOUT else sys.stdout, flush=True)


def where(path: str | os.PathLike) -> str:
    """An output path as ``report`` names it."""
    return "standard output" if os.fspath(path) == STDOUT else os.fspath(path)


def write_columns(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> None:
    """Write named columns to a table or array file (``write_table``), or as CSV on standard output (``-``)."""
    from hourglass.data.tables import write_csv, write_table  # pandas, for a table alone

    if os.fspath(path) != STDOUT:
        write_table(Path(path), columns)
        return
    import pandas as pd

    write_csv(pd.DataFrame(columns), sys.stdout)


def row_columns(data: Dataset | None, features: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The columns that name each row of a table a command writes: ``row_id``, the row's 0-based position in
    the source (as ``load_dataset`` numbers it), and ``path``, an image folder's file path. A name already
    taken by a feature column is left out."""
    if data is None:
        return {}
    columns = {"row_id": data.row_index()}
    if data.ids is not None:
        columns["path"] = np.asarray(data.ids)
    return {k: v for k, v in columns.items() if k not in features}


def write_rows(path: str, rows: np.ndarray, model: Autoencoder | InferenceModel, data: Dataset | None = None) -> None:
    """Write decoded/reconstructed rows as an array, a table, or (for image models) a folder of PNGs.

    ``data``: the rows these came from. A table then starts with their ``row_columns`` (``row_id``, an image
    folder's ``path``), and a folder of PNGs keeps each image's path under the source folder.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    images = model.kind_ == "image"
    if suffix in ARRAY_SUFFIXES:
        write_array(out, rows.reshape(len(rows), *model.sample_shape_) if images else rows)
    elif suffix in TABLE_SUFFIXES or path == STDOUT:
        names = getattr(model, "feature_names_in_", None)
        names = list(names) if names is not None else [f"x{i + 1}" for i in range(rows.shape[1])]
        flat = rows.reshape(len(rows), -1)
        write_columns(path, row_columns(data, names) | {n: flat[:, i] for i, n in enumerate(names)})
    elif suffix == "":
        if not images:
            raise HourglassError(f"{out}: a folder of PNGs needs an image model; write .npy, .csv or .parquet")
        from hourglass.data.images import to_png_pixels, write_image_folder

        lo, hi = float(model.scaler_.offset.min()), float((model.scaler_.offset + model.scaler_.scale).max())
        pixels = to_png_pixels(rows.reshape(len(rows), *model.sample_shape_), lo, hi)
        write_image_folder(out, pixels, None if data is None else data.ids)
    else:
        raise HourglassError(f"{out}: unsupported output; use .npy, .npz, .csv, .tsv, .parquet or a folder")


def check_output(
    path: str | os.PathLike,
    *,
    folder: bool = False,
    reusable: Callable[[Path], bool] | None = None,
    own: Own | None = None,
    what: str = "an empty folder",
    suffixes: Sequence[str] | None = None,
    inputs: Sequence[str | os.PathLike | None] = (),
) -> Path:
    """Fail before any work when writing ``path`` cannot succeed or would clobber what the user has.

    Every command that writes calls this first, for every output. ``folder``: the output is a folder,
    which may already exist only when empty or when ``reusable`` recognises it as one hourglass wrote
    (``what`` names such a folder in the error); otherwise it is a file, which may replace a file but
    never a folder. ``own``: the names hourglass writes into such a folder; a reusable folder holding
    anything else is refused, naming it (``hourglass.atomic``). ``suffixes``: the file types the command
    writes. ``inputs``: paths the command reads; the output may not be one of them (nor, for a folder,
    hold one). A symbolic link counts as where it points, which is where the write goes.
    """
    text = os.fspath(path)
    out = Path(text)
    if not text or out.name in ("", ".", ".."):  # Path("") is "." too
        raise HourglassError(f"{text or repr(text)}: names an existing folder by '.', '..' or '/'; give a new name")
    if os.path.islink(out) and not os.path.exists(out):
        raise HourglassError(f"{out}: is a broken symbolic link; remove it or give another path")
    real = Path(os.path.realpath(out))
    if os.path.exists(real):
        if folder and not os.path.isdir(real):
            raise HourglassError(f"{out}: is a file; give a new folder")
        if not folder and os.path.isdir(real):
            raise HourglassError(f"{out}: is a folder; give a file name")
        if folder and _has_entries(real) and not (reusable and reusable(real)):
            held = listing(os.listdir(real))
            raise HourglassError(f"{out}: exists and is not {what} (it holds {held}); choose a new output path")
        if folder and own is not None:
            refuse_foreign(real, own, shown=out)
    if suffixes is not None and not folder and out.suffix.lower() not in suffixes:
        raise HourglassError(f"{out}: unsupported output type; write {', '.join(suffixes)}")
    for source in inputs:
        if source is None or not os.path.exists(source):
            continue  # a built-in data set's name, not a path
        src = Path(os.path.realpath(source))
        if src == real or (folder and real in src.parents):
            raise HourglassError(f"{out}: would replace the input {source}; write the output elsewhere")
    # The nearest folder that exists must be a folder we may create entries in (and so must an
    # existing output folder that files are written into).
    base = real.parent
    while not os.path.exists(base) and base != base.parent:
        base = base.parent
    if not os.path.isdir(base):
        raise HourglassError(f"{out}: cannot be written under {base}, which is a file")
    for where in (base, real) if os.path.isdir(real) else (base,):
        if not os.access(where, os.W_OK | os.X_OK):
            raise HourglassError(f"{out}: permission denied: cannot write in {where}")
    return out


def check_model_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike | None] = ()) -> Path:
    """``check_output`` for a model folder: new, empty, or an hourglass model that the save replaces."""
    return check_output(
        path, folder=True, reusable=is_model_folder, own=OWN_FILES, what="an hourglass model folder", inputs=inputs
    )


def check_rows_output(path: str, model: Autoencoder | InferenceModel, inputs: Sequence[str | None] = ()) -> Path:
    """``check_output`` for what ``write_rows`` writes: an array, a table, a new folder of PNGs, or ``-``."""
    if path == STDOUT:
        return Path(path)
    folder = Path(path).suffix == ""
    out = check_output(path, folder=folder, suffixes=ARRAY_SUFFIXES + TABLE_SUFFIXES, inputs=inputs)
    if folder and model.kind_ != "image":
        raise HourglassError(f"{out}: a folder of PNGs needs an image model; write .npy, .csv or .parquet")
    return out


def _has_entries(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except OSError as e:
        raise HourglassError(f"{folder}: cannot read the folder ({e.strerror})") from None
