"""Arguments and input/output shared by several sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hourglass.data import Dataset, load_dataset
from hourglass.data.images import to_uint8_images, write_image_folder
from hourglass.data.tables import read_table, write_array, write_table
from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder, load

ARRAY_SUFFIXES = (".npy", ".npz")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def add_data_args(p: argparse.ArgumentParser, data_help: str = "data") -> None:
    p.add_argument(
        "data",
        metavar="DATA",
        help=f"{data_help}: a built-in name (mnist7, digits8), .npy/.npz, .csv/.tsv/.parquet, or a folder of images",
    )
    p.add_argument("--label", help="table column (or .npz array) holding labels; never used for training")
    p.add_argument("--image-size", type=_size, metavar="HxW", help="resize a folder's images to this size")
    p.add_argument("--color", choices=("auto", "gray", "rgb"), default="auto", help="image colour mode")
    p.add_argument("--drop-nonfinite", action="store_true", help="drop rows with NaN/inf instead of failing")


def add_rows_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output: .npy, .npz, .csv, .parquet, or a new folder of PNGs (image models)",
    )


def read_data(args: argparse.Namespace, model: Autoencoder | None = None, source: str | None = None) -> Dataset:
    """Load DATA (or ``source``); given the model it is for, check its shape, naming the file in any error.

    A table's columns are matched to the model's by name, so their order may differ.
    """
    source = source or args.data
    data = load_dataset(
        source, label=args.label, image_size=args.image_size, color=args.color, drop_nonfinite=args.drop_nonfinite
    )
    if model is None:
        return data
    if data.feature_names:
        order = model_columns(source, data.feature_names, model)
        if order is not None and order != data.feature_names:
            index = [data.feature_names.index(c) for c in order]
            data = Dataset(np.asarray(data.X)[:, index], data.y, data.kind, data.name, order)
    if data.kind == "image" and model.kind_ == "image" and data.sample_shape != tuple(model.sample_shape_):
        raise HourglassError(
            f"{source}: images of shape {data.sample_shape}, but the model was trained on {tuple(model.sample_shape_)}"
        )
    if data.n_features != model.n_features_in_:
        raise HourglassError(
            f"{source}: {data.n_features} features per row, but the model expects {model.n_features_in_}"
        )
    return data


def model_input(data: Dataset) -> np.ndarray | pd.DataFrame:
    """What to hand an estimator: a named table keeps its column names, so fit and use are checked alike."""
    if data.feature_names:
        return pd.DataFrame(np.asarray(data.X), columns=data.feature_names)
    return data.X


def model_columns(file: str | Path, columns: list, model: Autoencoder) -> list | None:
    """The table's columns in the model's order; any mismatch is a clear error before work starts."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        if len(columns) != model.n_features_in_:
            raise HourglassError(
                f"{file}: the table has {len(columns)} columns, but the model was trained on {model.n_features_in_}"
            )
        return None
    expected = [str(n) for n in names]
    have = [str(c) for c in columns]
    missing = [c for c in expected if c not in have]
    extra = [c for c in have if c not in expected]
    if missing or extra:
        parts = [
            f"missing {', '.join(missing[:5])}" if missing else "",
            f"unexpected {', '.join(extra[:5])}" if extra else "",
        ]
        raise HourglassError(
            f"{file}: columns differ from the model's ({'; '.join(p for p in parts if p)}); "
            "name a label column with --label"
        )
    return [columns[have.index(c)] for c in expected]


def read_model(path: str) -> Autoencoder:
    return load(path)


def read_codes(path: str, latent_dim: int) -> np.ndarray:
    """Codes from .npy/.npz or a table (columns z1..zk when present, else every numeric column)."""
    file = Path(path)
    if file.suffix.lower() in TABLE_SUFFIXES and file.is_file() and file.stat().st_size:
        try:
            frame = pd.read_csv(file) if file.suffix.lower() != ".parquet" else pd.read_parquet(file)
        except Exception:  # let the table reader phrase the error
            frame = None
        names = [f"z{i + 1}" for i in range(latent_dim)]
        if frame is not None and set(names) <= set(frame.columns):
            codes = frame[names].to_numpy(np.float32)
            if not np.isfinite(codes).all():
                raise HourglassError(f"{file}: codes hold NaN or infinite values")
            return codes
        return read_table(file, None).X
    codes = load_dataset(path).X
    return np.asarray(codes, np.float32).reshape(len(codes), -1)


def write_rows(path: str, rows: np.ndarray, model: Autoencoder) -> None:
    """Write decoded/reconstructed rows as an array, a table, or (for image models) a folder of PNGs."""
    out = Path(path)
    suffix = out.suffix.lower()
    images = model.kind_ == "image"
    if suffix in ARRAY_SUFFIXES:
        write_array(out, rows.reshape(len(rows), *model.sample_shape_) if images else rows)
    elif suffix in TABLE_SUFFIXES:
        names = getattr(model, "feature_names_in_", None)
        names = list(names) if names is not None else [f"x{i + 1}" for i in range(rows.shape[1])]
        flat = rows.reshape(len(rows), -1)
        write_table(out, {n: flat[:, i] for i, n in enumerate(names)})
    elif suffix == "":
        if not images:
            raise HourglassError(f"{out}: a folder of PNGs needs an image model; write .npy, .csv or .parquet")
        lo, hi = float(model.scaler_.offset.min()), float((model.scaler_.offset + model.scaler_.scale).max())
        write_image_folder(out, to_uint8_images(rows.reshape(len(rows), *model.sample_shape_), lo, hi))
    else:
        raise HourglassError(f"{out}: unsupported output; use .npy, .npz, .csv, .tsv, .parquet or a folder")


def check_new_output(path: str) -> None:
    """Fail before any work if an output folder would clobber something the user has."""
    out = Path(path)
    if out.suffix == "" and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HourglassError(f"{out}: exists and is not an empty folder; choose a new output path")


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h <= 0 or w <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 28x28, got {text!r}") from None
    return h, w
