"""A fitted model as ONNX: one folder of graphs (``export_onnx``), read back for onnxruntime (``read_export``).

ONNX holds one graph per file, so an export is a folder::

    encoder.onnx    rows (batch, features) float32  -> codes (batch, latent_dim) float32
    decoder.onnx    codes (batch, latent_dim) float32 -> rows (batch, features) float32
    scorer.onnx     rows (batch, features) float32  -> scores (batch,) float64   (detectors only)
    manifest.json   each graph's file, input and output names, types and shapes; a detector's threshold

Rows are raw, in the user's units (images flattened channels-last, as ``hourglass.load``'s models take them):
the scaling, the clip window and the unscaling are in the graphs (``hourglass.export.graphs``).

The graphs are traced by ``torch.onnx.export``'s dynamo exporter (``torch.export``), opset ``OPSET``, with a
symbolic batch dimension. The TorchScript exporter (``dynamo=False``, deprecated since torch 2.9) traced the conv
decoder's ``reshape(x.shape[0], -1)`` with the example's batch size baked in: a graph that fails on any other
batch. The dynamo exporter gives every registered model a graph that runs at any batch size, and the same bytes
on every export of the same model.

``onnx`` and ``onnxscript`` (to export) and ``onnxruntime`` (to run) are an optional extra,
``pip install 'hourglass-ae[export]'``; they are imported only here, inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from hourglass.anomaly import AnomalyDetector
from hourglass.atomic import atomic_dir
from hourglass.errors import HourglassError
from hourglass.estimator import _Estimator
from hourglass.export.graphs import Decoder, Encoder, Scorer
from hourglass.storage.modelfile import check_format_version

FORMAT, FORMAT_VERSION = "hourglass-onnx", 1
MANIFEST = "manifest.json"
OWN_FILES = (MANIFEST, "encoder.onnx", "decoder.onnx", "scorer.onnx")  # an export holding more is not replaced
OPSET = 18  # run by onnxruntime 1.14 and later, and by onnxruntime-web
EXTRA = "pip install 'hourglass-ae[export]'"
BATCH = "batch"  # the name of the symbolic first dimension of every input and output
_DTYPES = {1: "float32", 11: "float64"}  # ONNX TensorProto element types the graphs use


def require(*modules: str, what: str) -> None:
    """Import ``modules`` or fail in one line saying how to install them (``what`` needs them)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise HourglassError(f"{what} needs the {name} package: {EXTRA}") from None


def export_onnx(estimator: _Estimator, path: str | os.PathLike) -> Path:
    """Write ``estimator``'s graphs and ``manifest.json`` into the folder ``path`` (see the module docstring).

    The folder is written whole or not at all (``hourglass.atomic.atomic_dir``); an existing export there is
    replaced, anything else is refused, and so is an export holding files other than its own.

    Parameters
    ----------
    estimator : Autoencoder or AnomalyDetector
        A fitted estimator (any registered model; a VAE exports its mean path, deterministic as ``transform``).
    path : str or os.PathLike
        The folder to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    HourglassError
        ``onnx`` or ``onnxscript`` is missing, or ``path`` holds something other than an export.
    """
    require("onnx", "onnxscript", what="export")
    check_is_fitted(estimator)
    target = Path(path)
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or is_export_folder(target))):
        raise HourglassError(f"{target}: exists and is not an hourglass ONNX export; choose another path")
    graphs = _modules(estimator)
    with atomic_dir(target, own=OWN_FILES) as tmp:
        signatures = {}
        for name, (module, input_name, output_name, width) in graphs.items():
            file = tmp / f"{name}.onnx"
            _trace(module, width, input_name, output_name, file)
            signatures[name] = {"file": file.name, **_signature(file)}
        manifest = _manifest(estimator, signatures)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return target


def graph_names(estimator: _Estimator) -> list[str]:
    """The graphs an export of ``estimator`` holds: encoder and decoder, and a detector's scorer."""
    return ["encoder", "decoder", *(["scorer"] if isinstance(estimator, AnomalyDetector) else [])]


def _modules(estimator: _Estimator) -> dict[str, tuple[nn.Module, str, str, int]]:
    """Each graph's module, input name, output name and input width."""
    n, latent = int(estimator.n_features_in_), int(estimator.model_.latent_dim)
    graphs: dict[str, tuple[nn.Module, str, str, int]] = {
        "encoder": (Encoder(estimator), "rows", "codes", n),
        "decoder": (Decoder(estimator), "codes", "rows", latent),
    }
    if isinstance(estimator, AnomalyDetector):
        graphs["scorer"] = (Scorer(estimator), "rows", "scores", n)
    return graphs


def _trace(module: nn.Module, width: int, input_name: str, output_name: str, file: Path) -> None:
    """Export ``module`` (one float32 input of ``width`` columns) with a symbolic batch dimension."""
    module = copy.deepcopy(module).cpu().eval()  # a copy: the estimator's network stays on its device
    example = torch.zeros(3, width)  # not 0 or 1 rows: torch.export would specialise the batch to them
    with _quiet_exporter():
        program = torch.onnx.export(
            module,
            (example,),
            input_names=[input_name],
            output_names=[output_name],
            opset_version=OPSET,
            dynamic_shapes=({0: torch.export.Dim(BATCH)},),
            dynamo=True,
            verbose=False,
        )
        assert program is not None  # the dynamo exporter returns the program it traced
        program.save(str(file), external_data=False)  # weights inside: at most 1 GiB (MAX_WEIGHTS), under 2 GiB


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs and warns about its own internals (optional torchvision ops, deprecated pytree names):
    nothing a user can act on, so it is kept off their terminal."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _signature(file: Path) -> dict[str, Any]:
    """The graph's inputs and outputs as the file declares them: name, element type, shape (``"batch"`` first)."""
    import onnx

    graph = onnx.load(str(file), load_external_data=False).graph

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = [d.dim_param or d.dim_value for d in tensor.shape.dim]
        return {"name": value.name, "dtype": _DTYPES.get(tensor.elem_type, str(tensor.elem_type)), "shape": shape}

    return {"inputs": [describe(v) for v in graph.input], "outputs": [describe(v) for v in graph.output]}


def _manifest(estimator: _Estimator, graphs: dict[str, Any]) -> dict[str, Any]:
    from hourglass import __version__

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "hourglass_version": __version__,
        "torch_version": torch.__version__,
        "opset": OPSET,
        "estimator": type(estimator).__name__,
        "model": estimator.model_.name,
        "n_features": int(estimator.n_features_in_),
        "latent_dim": int(estimator.model_.latent_dim),
        "sample_shape": [int(s) for s in estimator.sample_shape_],
        "feature_names": [str(f) for f in getattr(estimator, "feature_names_in_", [])] or None,
        "graphs": graphs,
    }
    if isinstance(estimator, AnomalyDetector):
        manifest["threshold"] = {
            "offset": float(estimator.offset_),
            "rule": "a row is an anomaly when its score is below offset (AnomalyDetector.predict without alpha)",
        }
    return manifest


def is_export_folder(path: Path) -> bool:
    """Whether ``path`` holds a ``manifest.json`` that ``export_onnx`` wrote (an export it may replace)."""
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


def read_export(path: str | os.PathLike, estimator: _Estimator) -> dict[str, Path]:
    """The graph files of the export folder ``path`` by graph name, the manifest checked against ``estimator``.

    Raises
    ------
    HourglassError
        ``path`` is no export, a graph file is missing, or the export was made for a model of other sizes.
    """
    folder = Path(path)
    if not is_export_folder(folder):
        raise HourglassError(f"{folder}: is not an hourglass ONNX export (no {MANIFEST} from `hourglass export`)")
    manifest = json.loads((folder / MANIFEST).read_text())
    check_format_version(manifest.get("format_version"), FORMAT_VERSION, folder, MANIFEST, "export")
    wanted = set(graph_names(estimator))
    graphs = manifest.get("graphs")
    if not isinstance(graphs, dict) or set(graphs) != wanted:
        raise HourglassError(f"{folder / MANIFEST}: lists graphs {sorted(graphs or [])}, need {sorted(wanted)}")
    for key, mine in (("n_features", estimator.n_features_in_), ("latent_dim", estimator.model_.latent_dim)):
        if manifest.get(key) != mine:
            raise HourglassError(
                f"{folder / MANIFEST}: {key} is {manifest.get(key)}, but the model's is {mine}: "
                "an export of another model"
            )
    files = {}
    for name, spec in graphs.items():
        if not (isinstance(spec, dict) and isinstance(spec.get("file"), str)):
            raise HourglassError(f"{folder / MANIFEST}: graphs.{name}.file is not a file name")
        files[name] = folder / Path(spec["file"]).name  # a name in the folder, never a path out of it
        if not files[name].is_file():
            raise HourglassError(f"{files[name]}: missing from the export")
    return files


class Runtime:
    """onnxruntime sessions (CPU) for graph files; ``run(name, x)`` evaluates one graph on a float32 array.

    Names, widths and failures are read from the graphs themselves, not from the manifest: a graph that is not
    what its export says (edited, swapped, damaged) is one ``HourglassError`` naming its file, not a traceback.
    """

    def __init__(self, files: dict[str, Path]) -> None:
        require("onnxruntime", what="running an ONNX export")
        import onnxruntime as ort  # type: ignore[import-untyped]

        self.files, self.sessions = files, {}
        for name, file in files.items():
            session = _ort_call(
                file, "load", partial(ort.InferenceSession, str(file), providers=["CPUExecutionProvider"])
            )
            inputs, outputs = len(session.get_inputs()), len(session.get_outputs())
            if (inputs, outputs) != (1, 1):
                raise HourglassError(f"{file}: has {inputs} inputs and {outputs} outputs, not one of each")
            self.sessions[name] = session

    def run(self, name: str, x: np.ndarray) -> np.ndarray:
        session, file = self.sessions[name], self.files[name]
        declared = session.get_inputs()[0]
        if list(declared.shape[1:]) != list(x.shape[1:]):
            raise HourglassError(
                f"{file}: takes {declared.name} of shape {declared.shape}; got rows of shape {list(x.shape[1:])}"
            )
        feed = {declared.name: np.ascontiguousarray(x, dtype=np.float32)}
        return np.asarray(_ort_call(file, "run", lambda: session.run(None, feed)[0]))


def _ort_call(file: Path, what: str, call: Callable[[], Any]) -> Any:
    """``call()``, with onnxruntime's errors (``Fail``, ``InvalidGraph``, ``InvalidProtobuf``...: they share no base
    but ``Exception``) as one line naming the file."""
    try:
        return call()
    except Exception as e:
        reason = " ".join(str(e).split())[:200]
        raise HourglassError(f"{file}: onnxruntime cannot {what} it ({reason})") from None
