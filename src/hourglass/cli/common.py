"""Arguments and input/output shared by several sub-commands.

Building a parser imports nothing heavy (see ``hourglass.cli``); the functions import what they need when
called: pandas (``hourglass.data.tables``) only to read or write a table, the estimator (torch, scikit-learn)
in ``read_model``, and torch alone in ``read_inference``, which runs a model folder without its estimator.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hourglass.atomic import Own, listing, refuse_foreign
from hourglass.data import (
    ARRAY_SUFFIXES,
    BUILTINS,
    MAX_PIXELS,
    MAX_SIDE,
    TABLE_SUFFIXES,
    Dataset,
    load_dataset,
    model_input,
)
from hourglass.data.arrays import to_float32, write_array
from hourglass.errors import HourglassError
from hourglass.storage.modelfile import OWN_FILES, is_model_folder

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder
    from hourglass.inference import InferenceModel


def add_data_args(
    p: argparse.ArgumentParser, data_help: str = "data", *, model: bool = True, optional: bool = False
) -> None:
    """DATA and the flags that say how to read it. ``model``: the command reads DATA for a model, whose
    remembered options (``load_options``) are then the defaults the help names; ``optional``: DATA may be
    left out for the training data the model folder records (``explore``'s rule)."""
    p.add_argument(
        "data",
        metavar="DATA",
        nargs="?" if optional else None,
        help=f"{data_help}: a built-in name (mnist7, digits8), .npy/.npz, .csv/.tsv/.parquet, or a folder of images"
        + (" (default: the model's training data, when its folder records it)" if optional else ""),
    )
    remembered = " (default: the model's, as its training data was read)" if model else ""
    p.add_argument("--label", help=f"table column (or .npz array) holding labels; never used for training{remembered}")
    p.add_argument(
        "--image-size",
        type=_size,
        metavar="HxW",
        help="resize a folder's images to this size" + (" (default: the model's image size)" if model else ""),
    )
    p.add_argument(
        "--color",
        choices=("auto", "gray", "rgb"),
        default="auto",
        help="image colour mode; auto keeps colour only where an image has it"
        + (", or takes the model's mode" if model else "")
        + " (default: %(default)s)",
    )
    p.add_argument(
        "--drop-nonfinite",
        action="store_true",
        help="drop rows with NaN/inf instead of failing"
        + (" (always, when the model's training data was read so)" if model else ""),
    )
    add_max_pixels(p, model)


def add_max_pixels(p: argparse.ArgumentParser, model: bool = True) -> None:
    # No default here: None means "not given", so a model's remembered limit can apply (``load_options``).
    default = (
        f"the model's limit, else {MAX_PIXELS:,}" if model else f"{MAX_PIXELS:,}; the model remembers a limit given"
    )
    p.add_argument(
        "--max-pixels",
        type=bounded_int(1, 1_000_000_000),
        help=f"refuse images larger than this many pixels (default: {default})",
    )


def add_rows_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output: .npy, .npz, .csv, .parquet, a new folder of PNGs (image models), or - for CSV on standard output",
    )
    add_quiet(p)


STDOUT = "-"  # as an output path: a CSV table written to standard output


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="print nothing when it succeeds")


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


def read_data(
    args: argparse.Namespace, model: Autoencoder | InferenceModel | None = None, source: str | None = None
) -> Dataset:
    """Load DATA (or ``source``); given the model it is for, read as the model's training data was read
    (``load_options``: its label column, an image folder's size and colour, unless a flag says otherwise)
    and in the model's form (``model_input``): a table's columns in the model's order (matched by name, so
    their order may differ), rows in its sample shape, and any mismatch one error naming the file and what
    differs. Each row keeps its number in the source and an image folder's path (``Dataset.index``, ``ids``)."""
    source = source or args.data
    given = {
        "label": args.label,
        "image_size": args.image_size,
        "color": args.color,
        "drop_nonfinite": args.drop_nonfinite,
        "max_pixels": getattr(args, "max_pixels", None),  # commands without the flag use the default
    }
    if model is None:
        return load_dataset(source, **(given | {"max_pixels": given["max_pixels"] or MAX_PIXELS}))
    data = load_dataset(source, **load_options(model, **given))
    X = model_input(data, model, where=source)
    if isinstance(X, np.ndarray):
        return replace(data, X=X, kind=model.kind_, feature_names=None)
    # A table for a model fitted on one: its rows in the model's column order, read by position from here on.
    return replace(data, X=X.to_numpy(), kind=model.kind_, feature_names=[str(c) for c in X.columns])


def read_model_data(args: argparse.Namespace, model: Autoencoder) -> Dataset:
    """``read_data`` of DATA or, when none is given, of the training data the model folder records
    (``remember_data``), for the commands whose DATA is optional (``explore``, ``serve``, ``plot``)."""
    source = args.data or getattr(model, "data_source_", None)
    if not source:  # fitted in Python, or saved before folders recorded it
        raise HourglassError(f"{args.model}: the model does not record its training data; pass DATA")
    return read_data(args, model, source)


def load_options(
    model: Autoencoder | InferenceModel,
    label: str | None = None,
    image_size: tuple[int, int] | None = None,
    color: str = "auto",
    drop_nonfinite: bool = False,
    max_pixels: int | None = None,
) -> dict[str, Any]:
    """``load_dataset``'s keywords for reading data for ``model``: what the user gave, else what the model
    remembers of its training data (``remember_data``), so the same kind of file reads the same way.

    The remembered label column is a default, not a demand (new rows may have none); a table's columns are
    matched to the model's by name; an image model's folder is read at its size and colour mode.
    """
    remembered = getattr(model, "data_options_", None) or {}
    shape = tuple(model.sample_shape_)
    images = model.kind_ == "image" and len(shape) >= 2
    if images and color == "auto" and (len(shape) == 2 or shape[2] == 3):
        color = "gray" if len(shape) == 2 else "rgb"
    names = getattr(model, "feature_names_in_", None)
    return {
        "label": label if label is not None else remembered.get("label"),
        "label_optional": label is None,
        "image_size": image_size or (shape[:2] if images else None),
        "color": color,
        "drop_nonfinite": drop_nonfinite or bool(remembered.get("drop_nonfinite")),
        "max_pixels": max_pixels or remembered.get("max_pixels") or MAX_PIXELS,
        "columns": None if names is None else [str(n) for n in names],
    }


def remember_data(model: Autoencoder, args: argparse.Namespace, data: Dataset) -> None:
    """Record on a freshly fitted ``model`` where DATA came from and how it was read (its folder saves both),
    so that ``explore MODEL`` maps that data and every command reads new data with the same options."""
    source = args.data if args.data in BUILTINS else str(Path(args.data).resolve())
    folder = source not in BUILTINS and Path(source).is_dir()
    model.data_source_ = source
    model.data_options_ = {
        "label": args.label,
        # an image folder's size and colour mode, as given or as found (the most common size, colour or not)
        "image_size": list(data.sample_shape[:2]) if folder else None,
        "color": ("gray" if len(data.sample_shape) == 2 else "rgb") if folder else None,
        "drop_nonfinite": bool(args.drop_nonfinite),
        "max_pixels": getattr(args, "max_pixels", None),
    }


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


def read_model(path: str) -> Autoencoder:
    from hourglass import load

    return load(path)


def read_inference(path: str) -> InferenceModel:
    """A model folder to encode, decode or reconstruct with, as ``read_model``'s estimator would, without it."""
    from hourglass.inference import InferenceModel

    return InferenceModel.load(path)


def read_codes(path: str, latent_dim: int) -> Dataset:
    """Codes as float32 (``X``) from .npy/.npz or a table (columns z1..zk when present, else every numeric
    column); a table's ``row_id`` and ``path`` columns, as ``hourglass encode`` writes them, name the rows.

    Every cell must be a finite number within float32's range, and each row ``latent_dim`` wide.
    """
    file = Path(path)
    ids = index = None
    if file.suffix.lower() in TABLE_SUFFIXES and file.is_file() and file.stat().st_size:
        from hourglass.data.tables import frame_to_rows, read_frame

        frame = read_frame(file)
        names = [f"z{i + 1}" for i in range(latent_dim)]
        if set(names) <= set(frame.columns):  # what `hourglass encode` writes, with its row and label columns
            if "row_id" in frame.columns and frame["row_id"].dtype.kind in "iu":
                index = frame["row_id"].to_numpy(np.int64)
            if "path" in frame.columns:
                ids = frame["path"].astype(str).to_numpy()
            frame = frame[names]
        codes = frame_to_rows(frame, file, None)[0]
        if not np.isfinite(codes).all():
            raise HourglassError(f"{file}: codes hold NaN or infinite values, or values too large for float32")
    else:
        codes = load_dataset(path).X  # refuses what is not finite in float32
        codes = to_float32(codes).reshape(len(codes), -1)
    if codes.shape[1] != latent_dim:
        raise HourglassError(f"{file}: codes have {codes.shape[1]} columns, but the model's code has {latent_dim}")
    return Dataset(codes, None, "table", file.stem, ids=ids, index=index)


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


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HxW such as 28x28, each side from 1 to {MAX_SIDE}, got {text!r}"
        ) from None
    return h, w


# argparse types for numeric flags: a value out of range is a usage error (exit 2) that names the
# flag and the range, before any work starts. Upper bounds keep a typo from asking for terabytes.
def bounded_int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type accepting integers from ``lo`` to ``hi`` (no upper bound when None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            span = f"from {lo:,} to {hi:,}" if hi is not None else f"of at least {lo:,}"
            raise argparse.ArgumentTypeError(f"expected an integer {span}, got {text!r}")
        return value

    return parse


def bounded_float(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[str], float]:
    """An argparse type accepting finite numbers between ``lo`` and ``hi`` (each end included unless open)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value > lo if lo_open else value >= lo
        below = value < hi if hi_open else value <= hi
        if not (math.isfinite(value) and above and below):
            span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            raise argparse.ArgumentTypeError(f"expected a number in {span}, got {text!r}")
        return value

    return parse


positive_int = bounded_int(1)
seed_int = bounded_int(0, 2**32 - 1)  # what numpy's and torch's generators accept
MAX_WIDTH, MAX_LAYERS = 8192, 16


def layer_widths(text: str) -> tuple[int, ...]:
    """An argparse type for --hidden: comma-separated layer widths such as 128,64 (their ranges are the
    estimator's to check, see ``check_params``)."""
    try:
        return tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths such as 128,64, got {text!r}") from None


def model_name(text: str) -> str:
    """An argparse type for --model: "auto" or a model in the registry, checked when parsing.

    The registry imports torch, so --help cannot list the models; a name that is not one of them is
    answered with the list, in argparse's words for a bad choice.
    """
    if text == "auto":
        return text
    from hourglass.models import available_models

    names = ("auto", *available_models())
    if text not in names:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(map(repr, names))})")
    return text


def device_name(text: str) -> str:
    """An argparse type for --device: a name of the form ``runtime.resolve_device`` accepts, checked when
    parsing without importing torch; whether that GPU is there is checked when the command runs."""
    import re

    from hourglass.params import DEVICE_NAMES, DEVICE_PATTERN

    if not re.fullmatch(DEVICE_PATTERN, text):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use {DEVICE_NAMES}")
    return text


def check_params(estimator: Autoencoder, flags: dict[str, str]) -> None:
    """Check the flags against the estimator's own parameter table, before any data is read.

    One table (``_parameter_specs``) holds every range, so the command line and Python agree; the
    message names the flag (``flags`` maps parameter names to them) instead of the parameter.
    """
    try:
        estimator._validate_params()
    except HourglassError as e:
        message = str(e)
        prefix = f"{type(estimator).__name__}: parameter "
        for param, flag in sorted(flags.items(), key=lambda item: -len(item[0])):
            message = message.replace(prefix + param, flag)
        raise HourglassError(message) from None
