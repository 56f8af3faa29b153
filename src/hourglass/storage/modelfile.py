"""A model on disk is a folder: ``config.json`` (what it is) plus ``model.safetensors`` (its numbers).

Nothing is pickled, so loading a model file never runs code from it.

One layout per ``FORMAT_VERSION``, and readers hold no branches for layouts that were never released. A change
to what a folder holds bumps ``FORMAT_VERSION`` and adds one explicit migration from the version before (a
function from the old config and arrays to the new, applied on load), with a test that loads a folder of the
old version and gets the new one's numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

from hourglass.atomic import atomic_dir
from hourglass.errors import HourglassError
from hourglass.params import AUTOENCODER, DETECTOR

FORMAT = "hourglass-model"
FORMAT_VERSION = 2  # 2: a detector's nearest-neighbour term (params.knn_weight, knn.* arrays); see migrate_1
CONFIG, WEIGHTS = "config.json", "model.safetensors"
# Every name hourglass writes into a model folder (train and demo add the loss curve): a folder holding
# anything else is the user's too and is never replaced (``hourglass.atomic``).
OWN_FILES = (CONFIG, WEIGHTS, "loss_curve.png")
# Each estimator's parameter names: those its config.json's ``params`` may hold (tests hold these to the
# estimators' own ``_parameter_specs``).
PARAMETERS = {
    "Autoencoder": frozenset(AUTOENCODER.params),
    "AnomalyDetector": frozenset(DETECTOR.params),
}


def is_model_folder(path: Path) -> bool:
    try:
        return json.loads((path / CONFIG).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


def save_folder(
    path: str | os.PathLike,
    config: dict[str, Any],
    arrays: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write config, arrays and any extra files (figures) as one folder, replacing an old model atomically.

    An existing folder that is not an hourglass model is never replaced, nor is one holding anything but
    ``OWN_FILES`` and this save's ``extra_files`` (the user's notes, say): that is refused, naming it.
    """
    target = Path(path)
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or is_model_folder(target))):
        raise HourglassError(f"{target}: exists and is not an hourglass model folder; choose another path")
    text = config_text(config)
    with atomic_dir(target, own={*OWN_FILES, *(extra_files or {})}) as tmp:
        # Bytes written by Python, so the file follows the umask as config.json does (safetensors' own
        # save_file creates it 0600: readable by its owner alone).
        (tmp / WEIGHTS).write_bytes(save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
        (tmp / CONFIG).write_text(text)
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
    return target


def config_text(config: dict[str, Any]) -> str:
    """config.json's text for ``config``, as ``save_folder`` writes it."""
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    return json.dumps(header, indent=2, default=_json_default) + "\n"


def as_loaded(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as ``load_folder`` will read it back once saved (tuples become lists, numpy numbers plain ones):
    what a save checks before it writes."""
    return json.loads(config_text(config))


def check_format_version(version: Any, readable: int, folder: Path, file: str, what: str) -> None:
    """Refuse a ``format_version`` that is no version (1.0, NaN, "2") or newer than ``readable``, naming ``file``
    in ``folder`` (a model's config.json, an export's manifest)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        from hourglass.schema import show  # here: importing hourglass.models imports torch (see hourglass.cli)

        raise HourglassError(f"{folder / file}: format_version must be a whole number from 1; got {show(version)}")
    if version > readable:
        raise HourglassError(
            f"{folder}: {what} format version {version} is newer than this hourglass reads ({readable}); "
            "upgrade hourglass-ae"
        )


def load_folder(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model folder; every problem is one ``HourglassError`` line."""
    folder = Path(path)
    if not folder.exists():
        raise HourglassError(f"{folder}: no such model folder")
    if not folder.is_dir():
        raise HourglassError(f"{folder}: is a file; a model is a folder holding {CONFIG} and {WEIGHTS}")
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise HourglassError(f"{folder}: not a complete model folder ({name} is missing)")
    try:
        config = json.loads((folder / CONFIG).read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise HourglassError(f"{folder / CONFIG}: corrupt JSON ({e})") from None
    except RecursionError:
        raise HourglassError(f"{folder / CONFIG}: corrupt JSON (nested too deeply)") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise HourglassError(f"{folder / CONFIG}: not an hourglass model config")
    check_format_version(config.get("format_version"), FORMAT_VERSION, folder, CONFIG, "model")
    if config["format_version"] == 1:
        config = migrate_1(config)
    _check_parameter_names(config, folder / CONFIG)
    _check_ascii_keys(config, folder / CONFIG)
    try:
        arrays = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise HourglassError(f"{folder / WEIGHTS}: corrupt weights file ({' '.join(str(e).split())[:200]})") from None
    return config, arrays


def migrate_1(config: dict[str, Any]) -> dict[str, Any]:
    """A format 1 config as format 2 reads it: a detector of format 1 had no nearest-neighbour term, so its
    ``params.knn_weight`` is 0 (its score, forest and arrays are unchanged); an autoencoder's is the same."""
    config = {**config, "format_version": 2}
    if config.get("estimator") == "AnomalyDetector" and isinstance(config.get("params"), dict):
        config["params"] = {**config["params"], "knn_weight": 0.0}
    return config


def _check_parameter_names(config: dict[str, Any], where: Path) -> None:
    """Every ``params`` key is a parameter of the estimator named: a key hand-edited into a look-alike (a
    Cyrillic "а" for the Latin "a") is refused here, where every reader of a folder passes (``info``, the
    commands that run a model without its estimator, ``hourglass.load``), not by ``load`` alone."""
    known = PARAMETERS.get(config.get("estimator"))  # type: ignore[arg-type]
    params = config.get("params")
    if known is None or not isinstance(params, dict):
        return  # the schema names what is wrong
    for name in params:
        if name not in known:
            from hourglass.schema import non_ascii, show  # here, not at the top: see format_version's

            raise HourglassError(f"{where}: params.{show(name)} is not a known field{non_ascii(name)}")


def _check_ascii_keys(config: dict[str, Any], where: Path) -> None:
    """Every key in config.json, in every section (``model.config``, ``data``, a detector's ``fitted`` ...), is
    ASCII, as hourglass writes them all: a non-ASCII key is a hand-edited look-alike of a field some reader
    looks up, and ``info`` (which reads without the estimator's schema) would show that field as missing."""
    stack: list[tuple[str, Any]] = [("", config)]
    while stack:
        prefix, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(key, str) and not key.isascii():
                from hourglass.schema import non_ascii, show  # here, not at the top: see format_version's

                raise HourglassError(f"{where}: {prefix}{show(key)} is not a known field{non_ascii(key)}")
            if isinstance(value, (dict, list)):
                stack.append((f"{prefix}{key}." if isinstance(key, str) else prefix, value))


def check_arrays(arrays: dict[str, np.ndarray], expected: dict[str, np.ndarray], where: Path) -> None:
    """Every tensor ``expected`` names is there with its shape and dtype, there are no others, and
    every value is finite (a NaN weight would turn every output into NaN)."""
    missing, extra = sorted(expected.keys() - arrays.keys()), sorted(arrays.keys() - expected.keys())
    if missing:
        raise HourglassError(f"{where}: model files do not match (tensor {missing[0]!r} is missing)")
    if extra:
        raise HourglassError(f"{where}: model files do not match (unexpected tensor {extra[0][:80]!r})")
    for name, want in expected.items():
        got = arrays[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise HourglassError(
                f"{where}: model files do not match (tensor {name!r} is {got.dtype} of shape {got.shape}; "
                f"the model needs {want.dtype} of shape {want.shape})"
            )
        if got.dtype.kind == "f" and not np.isfinite(got).all():
            raise HourglassError(f"{where}: tensor {name!r} holds NaN or infinite values")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in config.json")
