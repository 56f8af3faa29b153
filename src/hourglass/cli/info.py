"""``hourglass info MODEL``: what a model folder holds.

Read from config.json and the weights' shapes alone, without torch: describing a model needs neither
the library that runs it nor a check of every tensor against the architecture (``load`` does that).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from hourglass.card import held_out_text  # also what `train` and the notebook card print
from hourglass.errors import HourglassError
from hourglass.storage.modelfile import CONFIG, load_folder

SHOWN_NAMES = 5  # feature names listed; the rest are counted


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        description="Print a model's architecture, data shape, scaling and training summary.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    p.add_argument("--json", action="store_true", help="print the raw config.json")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config, arrays = load_folder(args.model)  # one line for a missing, corrupt or too new folder
    if args.json:
        print(json.dumps(config, indent=2))
        return 0
    field = _Fields(config, Path(args.model) / CONFIG)
    arch = field("model.config", dict)
    widths = [arch.get("n_features"), *field("model.config.hidden", list, []), arch.get("latent_dim")]
    n_params = sum(math.prod(a.shape) for name, a in arrays.items() if name.startswith("model."))
    print(
        f"model       {field('model.name', str)} ({' -> '.join(map(str, widths))} -> mirrored), {n_params:,} parameters"
    )
    print(f"activation  {arch.get('activation')} (output: {arch.get('output_activation')})")
    print(
        f"input       {field('data.kind', str)} of shape {tuple(field('data.sample_shape', list))} "
        f"({field('data.n_features', int)} features), scaling: {field('data.scaling', str)}"
    )
    for line in _data_lines(field):
        print(line)
    noise = field("params", dict).get("noise")
    if noise:
        print(f"denoising   trained on inputs corrupted by {noise}")
    train = field("training.train_loss", list, [])
    if train:
        val = field("training.val_loss", list, [])
        best = field("training.best_epoch", int)
        if not 1 <= best <= len(train) or len(val) not in (0, len(train)):
            raise HourglassError(f"{field.where}: training.best_epoch or training.val_loss does not fit train_loss")
        seconds = field("training.seconds", (int, float))
        val_text = f", validation {_number(val[best - 1])}" if val else ""
        stopped = " early stop" if field("training.stopped_early", bool, False) else ""
        print(
            f"training    {len(train)} epochs in {seconds:.1f} s, best epoch {best} "
            f"(train loss {_number(train[best - 1])}{val_text}){stopped}"
        )
    held_out = field("training.held_out", dict, None)
    if held_out is not None:
        print(f"held out    {held_out_text(held_out)}")
    for warning in field("training.warnings", list, []):
        print(f"warning     {warning}")
    if config.get("estimator") == "AnomalyDetector":
        for line in _detector_lines(field):
            print(line)
    print(f"version     written by hourglass {config.get('hourglass_version')}, format {config['format_version']}")
    return 0


def _data_lines(field: _Fields) -> list[str]:
    """Where the training data came from and how it was read: what ``explore`` and ``plot`` map when given
    no DATA, and how every command reads new data for this model (``cli.reading.load_options``)."""
    data = field("data", dict)  # each of these may be null: checked here, not by ``_Fields``
    source = data.get("source") if isinstance(data.get("source"), str) else None
    options = data.get("options") if isinstance(data.get("options"), dict) else {}
    names = data.get("feature_names") if isinstance(data.get("feature_names"), list) else None
    read = []
    if options.get("label"):
        read.append(f"label column: {options['label']}")
    if names:
        shown = ", ".join(map(str, names[:SHOWN_NAMES])) + (
            f", ... ({len(names) - SHOWN_NAMES} more)" if len(names) > SHOWN_NAMES else ""
        )
        read.append(f"{len(names)} feature columns: {shown}")
    if options.get("image_size"):
        height, width = options["image_size"]
        read.append(f"images read at {height}x{width}" + (f", {options['color']}" if options.get("color") else ""))
    if options.get("drop_nonfinite"):
        read.append("rows with NaN/inf dropped")
    if options.get("max_pixels"):
        read.append(f"images of up to {options['max_pixels']:,} pixels")
    if source is None and not read:  # a model fitted in Python on an array
        return []
    lines = [f"data        {source or 'not recorded (pass DATA to explore and plot)'}"]
    if read:
        lines.append(f"read with   {'; '.join(read)}")
    return lines


def _detector_lines(field: _Fields) -> list[str]:
    """What an anomaly detector decides by: its parts, its threshold, and the smallest p-value it can give."""
    params = field("params", dict)
    fusion = field("fitted.fusion", dict, None)
    forest = " + isolation forest" if params.get("iforest") and fusion else ""
    knn = field("fitted.knn", dict, None)
    near = f" + {params.get('knn_weight')} x mean distance to the {knn.get('k')} nearest training rows" if knn else ""
    error = f"{params.get('n_members')} autoencoders' reconstruction error"
    lines = [f"detector    anomaly detector: {error}{forest}{near}"]
    offset = field("fitted.offset", (int, float))
    share = params.get("contamination")
    worst = "1%" if share == "auto" else f"{share * 100:g}%" if isinstance(share, (int, float)) else "?"
    lines.append(
        f"threshold   score below {offset:.5g} is an anomaly (contamination {share}: "
        f"the worst {worst} of training rows)"
    )
    n = len(field("fitted.calibration", list, []))
    if n:
        lines.append(
            f"p-values    from {n:,} held-out rows: the smallest is 1/{n + 1:,} = {1 / (n + 1):.4g}, "
            "so `score --alpha` must exceed it"
        )
    else:
        lines.append("p-values    none (no held-out rows were kept); refit to use `score --alpha`")
    return lines


_MISSING = object()


class _Fields:
    """Fields of a config.json, each checked for its type: a folder edited by hand is refused in one line."""

    def __init__(self, config: dict[str, Any], where: Path) -> None:
        self.config, self.where = config, where

    def __call__(self, path: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        value: Any = self.config
        for key in path.split("."):
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING and default is not _MISSING:
            return default
        if value is _MISSING:
            raise HourglassError(f"{self.where}: {path} is missing")
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise HourglassError(f"{self.where}: {path} has the wrong type ({type(value).__name__})")
        return value


def _number(value: Any) -> str:
    return f"{value:.5f}" if isinstance(value, (int, float)) else repr(value)
