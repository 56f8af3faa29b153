"""Per-epoch training checkpoints, so that ``hourglass train --resume`` carries on after a crash or a kill.

A checkpoint is one file, ``checkpoint.safetensors``, in the run's checkpoint folder (``runs/NAME.ckpt/``
beside the model folder ``runs/NAME``). Its tensors are the weights, Adam's moments and step counts,
the best epoch's weights and every rank's random-number-generator states; everything else - the
epoch, the loss history, the optimiser's settings (its learning rate included) and what run this is -
is JSON in the safetensors header. Nothing is pickled, so reading a checkpoint never runs code.
Each epoch's file replaces the previous one in a single rename: a kill at any instant leaves the
last complete checkpoint. When and from where a fit writes and resumes is ``hourglass.training.resume``.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_bytes

from hourglass.atomic import atomic_file, remove_stale_siblings
from hourglass.errors import HourglassError
from hourglass.schema import Bool, Either, Int, ListOf, MapOf, Maybe, Obj, OneOf, Real, Text, validate
from hourglass.training.adam import FusedAdam

FILE = "checkpoint.safetensors"
# 2: no learning-rate scheduler state (the schedule is counted from the progress); 1 is refused.
FORMAT, FORMAT_VERSION = "hourglass-checkpoint", 2

# The header, field by field: ``load`` checks all of it before any of it is used.
_LOSSES = ListOf(Real(finite=False))  # as measured (the best score starts at inf)
_VALUE = Maybe(Either(Bool(), Real(finite=False), Text(256)))
_SETTING = Either(_VALUE, ListOf(_VALUE, 0, 100_000))  # an optimiser's setting: flat, never nested
# state.History's fields (tests/test_resume.py holds the two to the same names).
HISTORY_SCHEMA = {
    "train": _LOSSES,
    "val": _LOSSES,
    "parts": MapOf(_LOSSES),
    "best_epoch": Int(0),
    "stopped_early": Bool(),
    "seconds": Real(0),
    "held_out": MapOf(_VALUE, 64),  # filled once training ends: empty in a checkpoint
    "warnings": ListOf(Text(), 0, 64),
}
HEADER_SCHEMA = {
    "format": OneOf(FORMAT),
    "format_version": Int(FORMAT_VERSION, FORMAT_VERSION),
    # resume.run_facts: compared with the run that resumes, so only their types matter here.
    "run": {
        "rows": Int(1),
        "features": Int(1),
        "data": Text(64),
        "processes": Int(1, 65_536),
        "noise": Maybe(Text()),
        "model": {"name": Text(64), "config": MapOf(_SETTING)},
        "batch_size": Int(1),
        "lr": Real(),
        "weight_decay": Real(),
        "validation_fraction": Real(),
        "loss": Text(64),
        "seed": Int(0, None),
        "structure": Maybe(Obj({"n_neighbors": Int(1), "weight": Real(0)})),
    },
    "progress": {"epoch": Int(1), "best": Real(finite=False), "stale": Int(0), "history": HISTORY_SCHEMA},
    "optimizer": {"param_groups": ListOf(MapOf(_SETTING), 1, 64), "scalars": MapOf(Real(finite=False), 1_000_000)},
}
ADAM_STATE = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


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
    try:
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch"])
        if device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], device)
    except (KeyError, RuntimeError) as e:  # load() checked the shapes; torch may still refuse the bytes
        raise HourglassError(f"damaged random state in the checkpoint ({str(e).splitlines()[0]})") from None


@dataclass
class Checkpoint:
    """A read checkpoint: ``run`` (what was trained), ``progress`` (epoch, best score, stale
    epochs, history) and the states to put back with ``restore``."""

    path: Path
    run: dict[str, Any]
    progress: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    optimizer: dict[str, Any]

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

    def restore(self, model: torch.nn.Module, optimizer: FusedAdam) -> dict[str, torch.Tensor]:
        """Load the weights and the optimiser into the live objects; returns the best state.

        Every tensor and setting is checked against the live objects first (names, shapes, dtypes,
        finite values, the kind of each setting), so a damaged checkpoint changes nothing."""
        self._check_against(model, optimizer)
        try:
            model.load_state_dict(_prefixed(self.tensors, "model."))
            optimizer.load_state_dict(self._optimizer_state(optimizer))
        except (KeyError, ValueError, RuntimeError) as e:
            raise HourglassError(f"{self.path}: does not fit this model ({str(e).splitlines()[0]})") from None
        device = next(model.parameters()).device
        return {k: v.to(device) for k, v in _prefixed(self.tensors, "best.").items()}

    def _check_against(self, model: torch.nn.Module, optimizer: FusedAdam) -> None:
        weights = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
        params = [tuple(p.shape) for group in optimizer.param_groups for p in group["params"]]
        for name, tensor in self.tensors.items():
            kind, _, rest = name.partition(".")
            if kind in ("model", "best"):
                want = weights.get(rest)
            elif kind == "optimizer":
                index, _, state = rest.partition(".")
                ok = re.fullmatch(r"\d{1,6}", index) and int(index) < len(params) and state in ADAM_STATE
                want = ((() if state == "step" else params[int(index)]), torch.float32) if ok else None
            else:
                continue  # rng.*: checked on loading
            if want is None:
                self._fail(f"tensor {name[:80]!r} does not belong to this model")
            if (tuple(tensor.shape), tensor.dtype) != want:
                self._fail(
                    f"tensor {name!r} is {tensor.dtype} {tuple(tensor.shape)}; the model needs {want[1]} {want[0]}"
                )
            if not torch.isfinite(tensor).all():
                self._fail(f"tensor {name!r} holds NaN or infinite values")
        for prefix in ("model.", "best."):
            missing = weights.keys() - _prefixed(self.tensors, prefix).keys()
            if missing:
                self._fail(f"tensor {prefix}{min(missing)!r} is missing")
        for key in self.optimizer["scalars"]:
            index, _, state = key.partition(".")
            if not (re.fullmatch(r"\d{1,6}", index) and int(index) < len(params) and state in ADAM_STATE):
                self._fail(f"optimizer.scalars.{key[:80]} does not belong to this model")
        # Adam's state, complete for every parameter (a missing moment would fail deep inside step()).
        held = {*_prefixed(self.tensors, "optimizer.").keys(), *self.optimizer["scalars"].keys()}
        amsgrad = any(group.get("amsgrad") for group in self.optimizer["param_groups"])
        needed = [n for n in ADAM_STATE if amsgrad or n != "max_exp_avg_sq"]
        absent = [f"{i}.{n}" for i in range(len(params)) for n in needed if f"{i}.{n}" not in held]
        if absent:
            self._fail(f"optimizer state {absent[0]} is missing")
        live = optimizer.state_dict()["param_groups"]
        if len(self.optimizer["param_groups"]) != len(live):
            self._fail("optimizer.param_groups does not fit this model")
        for i, (saved, now) in enumerate(zip(self.optimizer["param_groups"], live, strict=True)):
            _same_kinds(saved, now, f"optimizer.param_groups[{i}]", self._fail)
            if now.keys() - saved.keys():  # the optimiser's settings replace the live ones whole
                self._fail(f"optimizer.param_groups[{i}].{min(now.keys() - saved.keys())} is missing")
            if saved["params"] != now["params"]:
                self._fail(f"optimizer.param_groups[{i}].params does not fit this model")

    def _fail(self, problem: str) -> NoReturn:
        raise HourglassError(f"{self.path}: damaged checkpoint ({problem}); delete {self.path.parent} to start over")

    def rng(self, rank: int) -> dict[str, torch.Tensor]:
        return _prefixed(self.tensors, f"rng.{rank}.")

    def _optimizer_state(self, optimizer: FusedAdam) -> dict[str, Any]:
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
    rng: list[dict[str, torch.Tensor]],
) -> Path:
    """Write a checkpoint atomically (``optimizer`` is its ``state_dict()``, ``rng`` one ``rng_state`` per
    rank); returns the file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError("not an hourglass checkpoint")
        version = header.get("format_version")
        if isinstance(version, int) and version != FORMAT_VERSION:
            age = "a newer" if version > FORMAT_VERSION else "an older"
            raise ValueError(f"format version {version}, from {age} hourglass; this one reads {FORMAT_VERSION}")
        validate(header, HEADER_SCHEMA, "header")
        _check_progress(header["progress"])
        _check_rng(tensors, header["run"]["processes"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        problem = "nested too deeply" if isinstance(e, RecursionError) else " ".join(str(e).split())[:300]
        raise HourglassError(f"{path}: unreadable checkpoint ({problem}); delete {folder} to start over") from None
    return Checkpoint(path, header["run"], header["progress"], tensors, header["optimizer"])


def _check_progress(progress: dict[str, Any]) -> None:
    """What the schema cannot see field by field: the history has one entry per epoch done."""
    history, epoch = progress["history"], progress["epoch"]
    if len(history["train"]) != epoch or any(len(v) != epoch for v in history["parts"].values()):
        raise ValueError("progress.history does not hold one loss per epoch")
    if len(history["val"]) not in (0, epoch) or not 0 <= history["best_epoch"] <= epoch:
        raise ValueError("progress.history is damaged")


def _check_rng(tensors: dict[str, torch.Tensor], processes: int) -> None:
    """Every rank's generator states, shaped as this torch's (a wrong one would fail deep in torch)."""
    sizes = {"generator": torch.Generator().get_state().shape, "torch": torch.get_rng_state().shape}
    for rank in range(processes):
        for name, shape in sizes.items():
            state = tensors.get(f"rng.{rank}.{name}")
            if state is None or state.dtype != torch.uint8 or state.shape != shape:
                raise ValueError(f"random state rng.{rank}.{name} is missing or damaged")
    for name, state in tensors.items():
        owner, _, kind = name.removeprefix("rng.").partition(".")
        if name.startswith("rng.") and not (
            owner.isdigit() and int(owner) < processes and kind in (*sizes, "cuda") and state.dtype == torch.uint8
        ):
            raise ValueError(f"unexpected tensor {name[:80]!r}")


def _same_kinds(saved: dict[str, Any], live: dict[str, Any], where: str, fail: Any) -> None:
    """A saved optimiser setting must be one the live optimiser has, of the same kind
    (a number for a number, a list as long); text settings (modes) must be equal."""
    for key, value in saved.items():
        if key not in live:
            fail(f"{where}.{key[:80]} is not a setting of this torch")
        if _kind(value) != _kind(live[key]) or (isinstance(value, str) and value != live[key]):
            fail(f"{where}.{key} has the wrong kind of value")


def _kind(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return "flag"  # torch's foreach/fused flags are None or a bool
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, (list, tuple)):
        return [_kind(v) for v in value]
    return type(value).__name__


def _change(key: str, old: Any, new: Any) -> str:
    if key == "model":  # a whole architecture is too long to print; its name usually says enough
        names = [dict(m or {}).get("name") for m in (old, new)]
        return f"model {names[0]} -> {names[1]}" if names[0] != names[1] else "model settings"
    return f"{key} {old!r} -> {new!r}"


def remove(folder: str | os.PathLike) -> None:
    """Delete the checkpoint and the temporary files of killed writes, then the folder if that emptied it:
    anything else there is the user's and stays. (A write in progress elsewhere keeps its temporary file:
    ``atomic_file`` removes only those of dead processes, so two runs never take each other's.)"""
    folder = Path(folder)
    (folder / FILE).unlink(missing_ok=True)
    remove_stale_siblings(folder / FILE)
    with contextlib.suppress(OSError):  # not empty, or already gone
        folder.rmdir()


def _with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
