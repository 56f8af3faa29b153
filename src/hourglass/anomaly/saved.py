"""What a detector saves beside its network: the threshold, the held-out scores and the z-scores' medians and
spreads in config.json's ``fitted`` field, the isolation forest's arrays in model.safetensors (``forest.*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hourglass.anomaly.calibration import MAX_CALIBRATION
from hourglass.anomaly.iforest import Forest
from hourglass.errors import HourglassError
from hourglass.schema import Int, ListOf, Omittable, Real
from hourglass.storage import modelfile

FUSION_SPEC = {"median": ListOf(Real(), 2, 2), "scale": ListOf(Real(0, open="lo"), 2, 2), "max_samples": Int(1)}
FITTED_SCHEMA = {
    "offset": Real(),
    "fusion": Omittable(FUSION_SPEC),
    "calibration": Omittable(ListOf(Real(), 1, MAX_CALIBRATION)),
}


def fitted_state(
    offset: float, calibration: np.ndarray, forest: Forest | None, fusion: np.ndarray | None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """config.json's ``fitted`` field and the forest's arrays (without their prefix)."""
    fitted: dict[str, Any] = {"offset": offset}
    if len(calibration):
        fitted["calibration"] = calibration.tolist()
    if forest is None or fusion is None:
        return fitted, {}
    median, scale = fusion.tolist()
    fitted["fusion"] = {"median": median, "scale": scale, "max_samples": forest.max_samples}
    return fitted, dict(forest.arrays)


def restore(
    fitted: dict[str, Any], state: dict[str, np.ndarray], iforest: bool, n_features: int, source: Path
) -> tuple[float, np.ndarray, Forest | None, np.ndarray | None]:
    """``fitted_state``'s numbers back (already checked against ``FITTED_SCHEMA``), the forest's arrays checked:
    the threshold, the held-out scores, the forest and the fusion. Files that disagree with each other or with
    ``params.iforest`` are refused in one line."""
    has_forest = "fusion" in fitted
    if has_forest != iforest or has_forest != bool(state):
        raise HourglassError(
            f"{source}: model files do not match (params.iforest is {str(iforest).lower()}; "
            f"{source / modelfile.CONFIG}: fitted {'has' if has_forest else 'lacks'} the forest's numbers, "
            f"and its arrays are {'present' if state else 'absent'})"
        )
    calibration = np.sort(np.asarray(fitted.get("calibration", []), np.float64))
    if not has_forest:
        return float(fitted["offset"]), calibration, None, None
    fusion = fitted["fusion"]
    forest = Forest(state, fusion["max_samples"], n_features, str(source / modelfile.WEIGHTS))
    return float(fitted["offset"]), calibration, forest, np.array([fusion["median"], fusion["scale"]], np.float64)
