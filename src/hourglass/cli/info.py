"""``hourglass info MODEL``: what a model folder holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hourglass.cli.common import read_model
from hourglass.modelfile import CONFIG


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="describe a model folder",
        description="Print a model's architecture, data shape, scaling and training summary.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder")
    p.add_argument("--json", action="store_true", help="print the raw config.json")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = read_model(args.model)
    config = json.loads((Path(args.model) / CONFIG).read_text())
    if args.json:
        print(json.dumps(config, indent=2))
        return 0
    h = model.history_
    arch = config["model"]["config"]
    widths = [arch.get("n_features"), *arch.get("hidden", []), arch.get("latent_dim")]
    n_params = sum(p.numel() for p in model.model_.parameters())
    print(
        f"model       {config['model']['name']} ({' -> '.join(map(str, widths))} -> mirrored), {n_params:,} parameters"
    )
    print(f"activation  {arch.get('activation')} (output: {arch.get('output_activation')})")
    print(
        f"input       {model.kind_} of shape {model.sample_shape_} ({model.n_features_in_} features), "
        f"scaling: {model.scaler_.kind}"
    )
    if config["params"].get("noise"):
        print(f"denoising   trained on inputs corrupted by {config['params']['noise']}")
    if h.train:
        val = f", validation {h.val[h.best_epoch - 1]:.5f}" if h.val else ""
        print(
            f"training    {len(h.train)} epochs in {h.seconds:.1f} s, best epoch {h.best_epoch} "
            f"(train loss {h.train[h.best_epoch - 1]:.5f}{val}){' early stop' if h.stopped_early else ''}"
        )
    print(f"version     written by hourglass {config.get('hourglass_version')}, format {config['format_version']}")
    return 0
