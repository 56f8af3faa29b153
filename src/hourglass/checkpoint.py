"""Per-epoch training checkpoints, so that ``hourglass train --resume`` carries on after a crash or a kill.

A checkpoint is one file, ``checkpoint.safetensors``, in the run's checkpoint folder (``runs/NAME.ckpt/``
beside the model folder ``runs/NAME``). Its tensors are the weights, Adam's moments and step counts,
the best epoch's weights and every rank's random-number-generator states; everything else - the
epoch, the loss history, the learning-rate schedule, the optimiser's settings and what run this is -
is JSON in the safetensors header. Nothing is pickled, so reading a checkpoint never runs code.
Each epoch's file replaces the previous one in a single rename: a kill at any instant leaves the
last complete checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_bytes

from hourglass.atomic import atomic_file
from hourglass.errors import HourglassError

FILE = "checkpoint.safetensors"
FORMAT, FORMAT_VERSION = "hourglass-checkpoint", 1
# train.History's fields, named here because train imports this module.
HISTORY_FIELDS = {"train", "val", "parts", "best_epoch", "stopped_early", "seconds"}


def folder_for(model_folder: str | os.PathLike) -> Path:
    """Where training into ``model_folder`` keeps its checkpoint: ``runs/NAME`` -> ``runs/NAME.ckpt``.

    Beside the model folder rather than inside it, because saving a model swaps the whole folder.
    """
    path = Path(model_folder)
    return path.with_name(path.name + ".ckpt")


def rng_state(gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """The random state training draws from: the shuffling/noise generator and torch's global one
    (a VAE's sampling noise), plus the GPU's when training there."""
    state = {"generator": gen.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], gen: torch.Generator, device: torch.device) -> None:
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@dataclass
class Checkpoint:
    """A read checkpoint: ``run`` (what was trained), ``progress`` (epoch, best score, stale
    epochs, history) and the states to put back with ``restore``."""

    path: Path
    run: dict[str, Any]
    progress: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]

    def check(self, run: dict[str, Any]) -> None:
        """Refuse to resume a different run: other data, model, batch size, seed or process count."""
        now = json.loads(json.dumps(run))
        differ = sorted(k for k in now.keys() | self.run.keys() if now.get(k) != self.run.get(k))
        if differ:
            shown = [_change(k, self.run.get(k), now.get(k)) for k in differ]
            raise HourglassError(
                f"{self.path}: the checkpoint is from a different run ({', '.join(shown)}); "
                "train without --resume to start over"
            )

    def restore(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
    ) -> dict[str, torch.Tensor]:
        """Load the weights, optimiser and schedule into the live objects; returns the best state."""
        try:
            model.load_state_dict(_prefixed(self.tensors, "model."))
            optimizer.load_state_dict(self._optimizer_state(optimizer))
        except (KeyError, ValueError, RuntimeError) as e:
            raise HourglassError(f"{self.path}: does not fit this model ({str(e).splitlines()[0]})") from None
        scheduler.load_state_dict(self.scheduler)
        device = next(model.parameters()).device
        return {k: v.to(device) for k, v in _prefixed(self.tensors, "best.").items()}

    def rng(self, rank: int) -> dict[str, torch.Tensor]:
        return _prefixed(self.tensors, f"rng.{rank}.")

    def _optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        state: dict[int, dict[str, Any]] = {}
        for key, value in [*_prefixed(self.tensors, "optimizer.").items(), *self.optimizer["scalars"].items()]:
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value
        # JSON turned tuples (Adam's betas) into lists; give each setting the type the live optimiser uses.
        groups = [
            {k: tuple(v) if isinstance(live.get(k), tuple) else v for k, v in saved.items()}
            for saved, live in zip(self.optimizer["param_groups"], optimizer.param_groups, strict=True)
        ]
        return {"state": state, "param_groups": groups}


def save(
    folder: str | os.PathLike,
    *,
    run: dict[str, Any],
    progress: dict[str, Any],
    model: dict[str, torch.Tensor],
    best_state: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    scheduler: dict[str, Any],
    rng: list[dict[str, torch.Tensor]],
) -> Path:
    """Write a checkpoint atomically (``optimizer``/``scheduler`` are their ``state_dict()``; ``rng`` one
    ``rng_state`` per rank); returns the file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_debris(folder)
    tensors = _with_prefix(model, "model.") | _with_prefix(best_state, "best.")
    scalars: dict[str, Any] = {}
    for index, values in optimizer["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    for rank, state in enumerate(rng):
        tensors |= _with_prefix(state, f"rng.{rank}.")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run": run,
        "progress": progress,
        "optimizer": {"param_groups": optimizer["param_groups"], "scalars": scalars},
        "scheduler": scheduler,
    }
    path = folder / FILE
    with atomic_file(path) as tmp:
        # safetensors refuses tensors that share memory; clone() also takes them off the GPU once.
        arrays = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
        # Bytes written into the file atomic_file made, which keeps its ordinary permissions.
        tmp.write_bytes(save_bytes(arrays, metadata={"hourglass": json.dumps(header, allow_nan=True)}))
    return path


def load(folder: str | os.PathLike) -> Checkpoint | None:
    """The checkpoint in ``folder``, or None when there is none yet."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads((f.metadata() or {})["hourglass"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        version = header.get("format_version")
        if header.get("format") != FORMAT or not isinstance(version, int):
            raise ValueError("not an hourglass checkpoint")
        if version > FORMAT_VERSION:
            raise ValueError(f"format version {version} is newer than this hourglass reads")
        progress = _progress(header["progress"])
        return Checkpoint(path, header["run"], progress, tensors, header["optimizer"], header["scheduler"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
        raise HourglassError(f"{path}: unreadable checkpoint ({e}); delete {folder} to start over") from None


def _progress(progress: dict[str, Any]) -> dict[str, Any]:
    """The progress section with its numbers checked, so that a damaged one fails here, in one line."""
    history = progress["history"]
    if not isinstance(history, dict) or not set(history) <= HISTORY_FIELDS or not isinstance(history["train"], list):
        raise ValueError("its loss history is damaged")
    return {
        **progress,
        "epoch": int(progress["epoch"]),
        "stale": int(progress["stale"]),
        "best": float(progress["best"]),
    }


def _change(key: str, old: Any, new: Any) -> str:
    if key == "model":  # a whole architecture is too long to print; its name usually says enough
        names = [dict(m or {}).get("name") for m in (old, new)]
        return f"model {names[0]} -> {names[1]}" if names[0] != names[1] else "model settings"
    return f"{key} {old!r} -> {new!r}"


def _remove_debris(folder: Path) -> None:
    """Temporary files of a write that a kill interrupted (only rank 0 writes, so none is in use)."""
    for stale in folder.glob(f".{FILE}.*.tmp"):
        stale.unlink(missing_ok=True)


def _with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
