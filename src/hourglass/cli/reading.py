"""Reading what a command is given: DATA, read as its model's training data was, model folders and codes.

The functions import what they need when called: pandas (``hourglass.data.tables``) only to read a table, the
estimator (torch, scikit-learn) in ``read_model``, and torch alone in ``read_inference``, which runs a model
folder without its estimator.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hourglass.data import BUILTINS, MAX_PIXELS, TABLE_SUFFIXES, Dataset, load_dataset, model_input
from hourglass.data.arrays import to_float32
from hourglass.errors import HourglassError

if TYPE_CHECKING:
    from hourglass.estimator import Autoencoder
    from hourglass.inference import InferenceModel


def read_data(
    args: argparse.Namespace, model: Autoencoder | InferenceModel | None = None, source: str | None = None
) -> Dataset:
    """Load DATA (or ``source``); given the model it is for, read as the model's training data was read
    (``load_options``: its label column, an image folder's size and colour, unless a flag says otherwise)
    and in the model's form (``model_input``): a table's columns in the model's order (matched by name, so
    their order may differ), rows in its sample shape, and any mismatch one error naming the file and what
    differs. Each row keeps its number in the source and an image folder's path (``Dataset.index``, ``ids``)."""
    source = source or args.data
    given = given_options(args)
    if model is None:
        return load_dataset(source, **(given | {"max_pixels": given["max_pixels"] or MAX_PIXELS}))
    data = load_dataset(source, **load_options(model, **given))
    X = model_input(data, model, where=source)
    if isinstance(X, np.ndarray):
        return replace(data, X=X, kind=model.kind_, feature_names=None)
    # A table for a model fitted on one: its rows in the model's column order, read by position from here on.
    return replace(data, X=X.to_numpy(), kind=model.kind_, feature_names=[str(c) for c in X.columns])


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The data flags as ``load_options`` takes them (``add_data_args``); a command without one of them
    leaves it to the model or the default."""
    return {
        "label": args.label,
        "image_size": getattr(args, "image_size", None),
        "color": getattr(args, "color", "auto"),
        "drop_nonfinite": getattr(args, "drop_nonfinite", False),
        "max_pixels": getattr(args, "max_pixels", None),
    }


def read_model_data(args: argparse.Namespace, model: Autoencoder) -> Dataset:
    """``read_data`` of DATA or, when none is given, of the training data the model folder records
    (``remember_data``), for the commands whose DATA is optional (``explore``, ``serve``, ``plot``)."""
    source = args.data or getattr(model, "data_source_", None)
    if not source:  # fitted in Python on an array
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


def remember_data(args: argparse.Namespace, data: Dataset) -> Dataset:
    """DATA with where it came from and how it was read (``Dataset.source``, ``options``): a model fitted on it
    saves both, so that ``explore MODEL`` maps that data and every command reads new data with the same options."""
    source = args.data if args.data in BUILTINS else str(Path(args.data).resolve())
    folder = source not in BUILTINS and Path(source).is_dir()
    options = {
        "label": args.label,
        # an image folder's size and colour mode, as given or as found (the most common size, colour or not)
        "image_size": list(data.sample_shape[:2]) if folder else None,
        "color": ("gray" if len(data.sample_shape) == 2 else "rgb") if folder else None,
        "drop_nonfinite": bool(args.drop_nonfinite),
        "max_pixels": getattr(args, "max_pixels", None),
    }
    return replace(data, source=source, options=options)


def read_model(path: str) -> Autoencoder:
    from hourglass import load

    return load(path)


def read_autoencoder(path: str, command: str) -> Autoencoder:
    """``read_model`` for the commands only an autoencoder serves (an anomaly detector is no transformer)."""
    from hourglass.estimator import Autoencoder

    model = read_model(path)
    if not isinstance(model, Autoencoder):
        raise HourglassError(f"{path}: an anomaly detector; {command} needs a model from hourglass train")
    return model


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
