"""What a detector saves beside its network: the threshold, the held-out scores, the z-scores' medians and spreads
and the neighbour count in config.json's ``fitted`` field; the isolation forest's arrays (``forest.*``) and the
nearest-neighbour term's reference rows and min-max range (``knn.*``) in model.safetensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hourglass.anomaly.calibration import MAX_CALIBRATION
from hourglass.anomaly.iforest import Forest
from hourglass.anomaly.knn import Neighbors
from hourglass.errors import HourglassError
from hourglass.schema import Int, ListOf, Omittable, Real
from hourglass.storage import modelfile

PREFIXES = ("forest.", "knn.")  # the detector's own arrays in model.safetensors
MAX_K = 100
# One median and spread per term: the error, then the forest's and the neighbours' where present.
FUSION_SPEC = {
    "median": ListOf(Real(), 2, 3),
    "scale": ListOf(Real(0, open="lo"), 2, 3),
    "max_samples": Omittable(Int(1)),  # the forest's, with a forest
}
FITTED_SCHEMA = {
    "offset": Real(),
    "fusion": Omittable(FUSION_SPEC),
    "calibration": Omittable(ListOf(Real(), 1, MAX_CALIBRATION)),
    "knn": Omittable({"k": Int(1, MAX_K)}),
}


def fitted_state(
    offset: float,
    calibration: np.ndarray,
    forest: Forest | None,
    knn: Neighbors | None,
    fusion: np.ndarray | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """config.json's ``fitted`` field and the terms' arrays, named as model.safetensors holds them."""
    fitted: dict[str, Any] = {"offset": offset}
    if len(calibration):
        fitted["calibration"] = calibration.tolist()
    arrays: dict[str, np.ndarray] = {}
    if fusion is not None:
        median, scale = fusion.tolist()
        fitted["fusion"] = {"median": median, "scale": scale}
    if forest is not None:
        fitted["fusion"]["max_samples"] = forest.max_samples
        arrays |= {f"forest.{name}": a for name, a in forest.arrays.items()}
    if knn is not None:
        fitted["knn"] = {"k": knn.k}
        arrays |= {f"knn.{name}": a for name, a in knn.arrays.items()}
    return fitted, arrays


def restore(
    fitted: dict[str, Any], state: dict[str, np.ndarray], params: dict[str, Any], n_features: int, source: Path
) -> tuple[float, np.ndarray, Forest | None, Neighbors | None, np.ndarray | None]:
    """``fitted_state``'s numbers back (already checked against ``FITTED_SCHEMA``), the terms' arrays checked: the
    threshold, the held-out scores, the forest, the neighbours and the fusion. Files that disagree with each other
    or with ``params`` (``iforest``, ``knn_weight``) are refused in one line."""
    fusion = fitted.get("fusion")
    arrays = {prefix: {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)} for prefix in PREFIXES}
    has_forest = fusion is not None and "max_samples" in fusion
    has_knn = "knn" in fitted
    for term, wanted, saved, present in (
        ("params.iforest", bool(params["iforest"]), has_forest, bool(arrays["forest."])),
        ("params.knn_weight", float(params["knn_weight"]) > 0, has_knn, bool(arrays["knn."])),
    ):
        if wanted != saved or saved != present:
            name = "forest" if term == "params.iforest" else "nearest-neighbour term"
            raise HourglassError(
                f"{source}: model files do not match ({term} is {params[term.split('.')[1]]}; "
                f"{source / modelfile.CONFIG}: fitted {'has' if saved else 'lacks'} the {name}'s numbers, "
                f"and its arrays are {'present' if present else 'absent'})"
            )
    terms = 1 + has_forest + has_knn
    if (fusion is not None) != (terms > 1) or (fusion is not None and len(fusion["median"]) != terms):
        raise HourglassError(
            f"{source / modelfile.CONFIG}: fitted.fusion has {len(fusion['median']) if fusion else 0} terms' numbers; "
            f"the detector has {terms} terms"
        )
    if fusion is not None and len(fusion["scale"]) != terms:
        raise HourglassError(
            f"{source / modelfile.CONFIG}: fitted.fusion.scale has {len(fusion['scale'])} entries, not {terms}"
        )
    calibration = np.sort(np.asarray(fitted.get("calibration", []), np.float64))
    where = str(source / modelfile.WEIGHTS)
    forest = Forest(arrays["forest."], fusion["max_samples"], n_features, where) if fusion and has_forest else None
    knn = Neighbors(arrays["knn."], fitted["knn"]["k"], n_features, where) if has_knn else None
    matrix = None if fusion is None else np.array([fusion["median"], fusion["scale"]], np.float64)
    return float(fitted["offset"]), calibration, forest, knn, matrix
