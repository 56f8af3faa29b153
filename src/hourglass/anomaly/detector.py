"""``AnomalyDetector``: an autoencoder ensemble's reconstruction error plus an isolation forest, as an outlier score.

A row the hourglass rebuilds badly is unlike what it was trained on; a row a few random splits isolate lies
where few training rows do. The default score adds the two as robust z-scores (``iforest=True``). Mean
ROC-AUC (docs/benchmarks.md, "Anomaly detection"): on ``benchmarks/anomaly.py``'s 20 ADBench sets, which the defaults
were tuned on, 0.836 with the forest, 0.838 without (IsolationForest 0.796); on 22 other ADBench sets
nobody tuned on (``benchmarks/anomaly_defaults.py``, 2000-row cap) 0.740 with it, 0.713 without
(IsolationForest 0.733). The forest is what carries the default to unfamiliar data; the gain is modest.

The autoencoder's own choices (mean ROC-AUC on the 20 sets of the autoencoder alone, 0.840 when measured;
leave-one-dataset-out selection found nothing better):

- a trimmed loss: in every batch each member ignores the 20% of rows it rebuilds worst, so rare
  anomalies are not learned (no trimming: 0.803);
- a code of 4 per member, behind standardised features (code 2: 0.799);
- a small ensemble of autoencoders with different initial weights, trained at once as batched
  matrix products, whose per-row errors are averaged (one member: 0.835);
- short training (30 epochs at most) with early stopping on held-out rows; running all 30 epochs
  scored the same (0.840), so the early stop is a guard, not a source of quality.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
from sklearn.base import OutlierMixin
from sklearn.utils.validation import check_is_fitted

from hourglass.anomaly.iforest import Forest
from hourglass.anomaly.nearest import NearestNormal, nearest_normal
from hourglass.errors import HourglassError
from hourglass.estimator import _Estimator, register_estimator
from hourglass.models.base import MAX_MEMBERS
from hourglass.models.ensemble import EnsembleMLP  # the model it builds (importing it registers "mlp-ensemble")
from hourglass.params import DETECTOR
from hourglass.runtime.forward import batch_invariant
from hourglass.schema import Bool, Either, Int, ListOf, Omittable, OneOf, Real, Spec, validate
from hourglass.storage import modelfile
from hourglass.training.batches import held_out_rows

SCORE_BLOCK = 4096  # rows per fused scoring step
AUTO_QUANTILE = 0.99  # contamination="auto": flag rows scored worse than 99% of the training rows
# Held-out scores kept for p-values: a random subset of exchangeable rows is still exchangeable, and 2,000
# resolve p down to 1/2001 while config.json stays small.
MAX_CALIBRATION = 2_000
# Folders saved before the threshold moved into config.json kept it, and the forest's numbers, in
# detector.json and the forest's arrays in detector.safetensors; they still load.
OLD_CONFIG, FOREST_FILE = "detector.json", "detector.safetensors"
FLOAT64_MAX = float(np.finfo(np.float64).max)
FUSION_SPEC = {"median": ListOf(Real(), 2, 2), "scale": ListOf(Real(0, open="lo"), 2, 2), "max_samples": Int(1)}


@register_estimator
class AnomalyDetector(OutlierMixin, _Estimator):
    """Outlier detector: an autoencoder ensemble's reconstruction error plus an isolation forest (higher = more normal).

    ``score_samples`` is minus the sum of two robust z-scores: the members' mean squared reconstruction
    error and scikit-learn's ``IsolationForest`` score (``-IsolationForest.score_samples``, fitted on the
    training rows as given, ``random_state=seed``), each centred on its median over the training rows and
    divided by its interquartile range there (see ``_robust`` for a zero IQR). The forest catches rows
    isolated by a few splits on few features, which an autoencoder can rebuild well; the autoencoder
    catches rows that break the features' joint structure. ``iforest=False`` scores by the error alone.

    Follows scikit-learn's ``IsolationForest`` API: ``score_samples``, ``decision_function``
    (``score_samples - offset_``; negative = anomaly), ``predict`` (+1 normal, -1 anomaly),
    ``fit_predict``. It trains without labels on data that may hold anomalies.

    Parameters
    ----------
    latent_dim : int, default 4
        Code width of each member. Narrow on purpose: a wide code learns to rebuild anomalies too.
    hidden : sequence of int, default (32,)
        Encoder widths of each member; the decoder mirrors them.
    n_members : int, default 3
        Autoencoders in the ensemble (different initial weights); their errors are averaged.
    trim : float, default 0.2
        Share of each batch's worst-rebuilt rows a member ignores while training, so anomalies in the
        training data are not learned. 0 gives plain mean squared error.
    contamination : "auto" or float, default "auto"
        The expected share of anomalies in the training data, in (0, 0.5]. It sets ``offset_``, the
        threshold ``predict`` uses: with a fraction, that share of the training rows is flagged; ``"auto"``
        flags rows scored worse than 99% of the training rows (the 0.01 quantile of training scores),
        i.e. about 1% of them.
    iforest : bool, default True
        Add the isolation forest's term to the score. Its trees are saved as arrays (``forest.*`` in
        model.safetensors) and walked in numpy, with no pickle; ``explain`` and ``top_features`` break down
        the autoencoder's term only. Model folders saved before it load with ``iforest=False``.
    activation : str, default "relu"
        Hidden-layer activation, as for ``Autoencoder``.
    scaling : str, default "auto"
        As for ``Autoencoder``, except that ``"auto"`` standardises every table's features (after any
        min-max scaling of the caller's, this puts every feature's error on the same footing).
    epochs : int, default 30
        Most passes over the training rows; the defaults train briefly, stopping early on held-out rows.
    batch_size : int, default 128
        Rows per Adam step.
    lr : float, default 0.003
        Adam's learning rate.
    weight_decay : float, default 0.0
        Adam's L2 penalty.
    noise : str or None, default None
        A corruption spec for the training inputs, as for ``Autoencoder``.
    validation_fraction : float, default 0.1
        Share of the rows held out for the early stop.
    patience : int, default 5
        Epochs without progress on the held-out rows before training stops; 0 never stops early.
    seed : int, default 0
        Fixes the members' initialisation, the split, shuffling and the forest.
    device : str, default "auto"
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    verbose : bool, default False
        Show a progress bar (only on a terminal).

    Attributes
    ----------
    offset_ : float
        The threshold on ``score_samples``: rows scored below it are anomalies (see ``contamination``).
    forest_ : hourglass.anomaly.iforest.Forest or None
        The isolation forest fitted on the training rows; None with ``iforest=False``.
    calibration_ : np.ndarray of float64
        The held-out rows' anomaly scores (``-score_samples``), sorted, at most 2,000: what ``p_values``
        compares with. Empty for a detector fitted without held-out rows.
    fusion_ : np.ndarray of float64, shape (2, 2), or None
        Row 0 the two terms' medians over the training rows, row 1 their interquartile ranges (error
        first, forest second); None without the forest.
    model_, scaler_, history_, prior_, kind_, sample_shape_, n_features_in_, feature_names_in_
        As for ``Autoencoder``; ``model_`` is the ensemble (``hourglass.models.ensemble.EnsembleMLP``).

    Examples
    --------
    >>> import numpy as np
    >>> from hourglass.anomaly import AnomalyDetector
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> det = AnomalyDetector(hidden=(8,), epochs=2).fit(X)
    >>> det.score_samples(X).shape
    (200,)
    >>> int((det.predict(X) == -1).sum())  # contamination="auto": about 1% of the training rows
    2
    >>> det.top_features(X[:1], k=2)[0]  # the row's two worst-rebuilt columns  # doctest: +ELLIPSIS
    [['x...', 'x...']]
    """

    # The shared parameters' table, plus the detector's own.
    _parameter_specs: ClassVar[dict[str, Spec]] = _Estimator._parameter_specs | {
        "n_members": Int(1, MAX_MEMBERS),
        "trim": Real(0, 1, open="hi"),
        "contamination": Either(OneOf("auto"), Real(0, 0.5, open="lo")),
        "iforest": Bool(),
    }
    # How far a row lies outside the training range is exactly what a detector measures: no clipping.
    _clip_inputs: ClassVar[bool] = False
    _state_prefix: ClassVar[str] = "forest."  # the isolation forest's arrays in model.safetensors

    def __init__(
        self,
        latent_dim: int = DETECTOR.latent_dim,
        hidden: Sequence[int] = DETECTOR.hidden,
        *,
        n_members: int = DETECTOR.n_members,
        trim: float = DETECTOR.trim,
        contamination: float | str = DETECTOR.contamination,
        iforest: bool = DETECTOR.iforest,
        activation: str = DETECTOR.activation,
        scaling: str = DETECTOR.scaling,
        epochs: int = DETECTOR.epochs,
        batch_size: int = DETECTOR.batch_size,
        lr: float = DETECTOR.lr,
        weight_decay: float = DETECTOR.weight_decay,
        noise: str | None = DETECTOR.noise,
        validation_fraction: float = DETECTOR.validation_fraction,
        patience: int = DETECTOR.patience,
        seed: int = DETECTOR.seed,
        device: str = DETECTOR.device,
        verbose: bool = DETECTOR.verbose,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.n_members = n_members
        self.trim = trim
        self.contamination = contamination
        self.iforest = iforest
        self.activation = activation
        self.scaling = scaling
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.noise = noise
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.verbose = verbose

    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None, resume: bool = False
    ) -> AnomalyDetector:
        """Train on ``X`` (labels, if given, are ignored) and set ``offset_`` from its scores.

        ``checkpoint_dir`` and ``resume`` checkpoint the ensemble's training as for ``Autoencoder.fit``.
        """
        super().fit(X, checkpoint_dir=checkpoint_dir, resume=resume)  # checks the parameters first
        flat = self._validate(X, reset=False)
        # The rows the members held out for their early stop are kept out of the forest and the z-scores as
        # well, so that their scores can calibrate p-values (see ``p_values``); the threshold is not part of
        # the score, and contamination="q" flags a share q of all the training rows.
        held, rows = held_out_rows(len(flat), float(self.validation_fraction), int(self.seed))
        self.forest_ = Forest.fit(flat, int(self.seed), rows) if self.iforest else None
        parts = self._parts(flat)
        # Each term's training median and spread: the two z-scores are on the same footing.
        self.fusion_ = np.array([_robust(p) for p in parts[rows].T]).T if self.forest_ is not None else None
        scores = self._combine(parts)
        quantile = 1 - AUTO_QUANTILE if self.contamination == "auto" else float(self.contamination)
        self.offset_ = float(np.quantile(scores, quantile))  # over every training row, as scikit-learn does
        calibration = -scores[held]
        if len(calibration) > MAX_CALIBRATION:
            calibration = np.random.default_rng(int(self.seed)).choice(calibration, MAX_CALIBRATION, replace=False)
        # No finite row scores -inf (see ``_errors``); a pathological model's overflow would rank last, not fail.
        self.calibration_ = np.sort(np.nan_to_num(calibration, posinf=FLOAT64_MAX))
        return self

    def _scaling(self, images: bool) -> str:
        # A detector compares every feature's error: tables are standardised per feature even when
        # their values lie in [0, 1] (where an Autoencoder scales them as pixels).
        return "standard" if self.scaling == "auto" and not images else self.scaling

    def _model_name(self) -> str:
        return "mlp-ensemble"

    def _model_config(self, scaling: str) -> dict[str, Any]:
        return super()._model_config(scaling) | {"n_members": int(self.n_members), "trim": float(self.trim)}

    # -------------------------------------------------------------------------------- scoring
    def score_samples(self, X: Any) -> np.ndarray:
        """Per row, higher = more normal: minus the sum of the two robust z-scores (see the class docstring),
        or, with ``iforest=False``, minus the mean squared reconstruction error (scaled units, members averaged)."""
        check_is_fitted(self)
        return self._combine(self._parts(self._validate(X, reset=False)))

    def _combine(self, parts: np.ndarray) -> np.ndarray:
        if self.forest_ is None:
            return -parts[:, 0]
        assert self.fusion_ is not None  # set together with the forest
        z = (parts - self.fusion_[0]) / self.fusion_[1]
        return -(z[:, 0] + z[:, 1])

    def _parts(self, flat: np.ndarray) -> np.ndarray:
        """Per row: the mean squared reconstruction error and, with a forest, its score (float64, (n, 1 or 2))."""
        forest = self.forest_
        row_errors = self._errors(per_row=True)

        def parts(x: torch.Tensor) -> torch.Tensor:
            # Blocks small enough that the members' activations stay in cache: 2-3x the rows/s of
            # one pass over the whole chunk (benchmarks/anomaly.py measures it).
            out = torch.empty(x.shape[0], 1 if forest is None else 2, dtype=torch.float64)
            for i in range(0, x.shape[0], SCORE_BLOCK):
                part = x[i : i + SCORE_BLOCK]
                out[i : i + part.shape[0], 0] = row_errors(part).cpu()
            if forest is not None:  # on the rows as given: the forest was fitted on them unscaled
                out[:, 1] = torch.from_numpy(forest.score(x.cpu().numpy()))
            return out

        return self._run(parts, flat, 1 if forest is None else 2, np.float64, scale_input=False)

    def _errors(self, per_row: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        """Rows as given -> the members' squared errors in scaled units, float64: per row (n,), or per feature (n, f).

        float32 serves every row the model was meant for, and fast. A row far enough out overflows it on the
        way (its scaled values, its squared error, or inf - inf = NaN in a layer); those rows alone are computed
        again in float64, where the error of every finite float32 row is finite and grows with its distance, so
        a row 1e30 out scores as more anomalous than one 1e19 out. Each row's path depends on that row alone:
        its result is the same bits in any batch.
        """
        model = cast(EnsembleMLP, self.model_)
        wide: list[EnsembleMLP] = []  # the float64 copy of the members, made on first need

        def errors(x: torch.Tensor) -> torch.Tensor:
            offset = torch.as_tensor(self.scaler_.offset, device=x.device)
            scale = torch.as_tensor(self.scaler_.scale, device=x.device)
            out = batch_invariant(model.row_errors if per_row else model.squared_errors, (x - offset) / scale)
            out = out.double()
            bad = ~torch.isfinite(out.reshape(len(out), -1)).all(dim=1)
            if bad.any():
                if not wide:
                    wide.append(copy.deepcopy(model).double())
                exact = wide[0].row_errors if per_row else wide[0].squared_errors
                scaled = (x[bad].double() - offset.double()) / scale.double()
                # Beyond float64 too (weights or scales no fit leaves) is as anomalous as a number can say.
                out[bad] = torch.nan_to_num(batch_invariant(exact, scaled), nan=FLOAT64_MAX, posinf=FLOAT64_MAX)
            return out

        return errors

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples - offset_``: negative for rows ``predict`` calls anomalies."""
        check_is_fitted(self, "offset_")
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any, alpha: float | None = None) -> np.ndarray:
        """+1 for normal rows, -1 for anomalies: ``decision_function < 0``, or with ``alpha``, ``p_values < alpha``
        (then at most a share ``alpha`` of new normal rows is flagged; see ``p_values``).

        ``alpha`` must exceed ``min_p_value()``, ``1 / (n + 1)`` for ``n`` held-out rows: no p-value is smaller,
        so a lower ``alpha`` could flag nothing and is refused (``HourglassError``). With the default 10% held
        out, ``alpha=0.01`` needs 100 held-out rows, about 1,000 training rows.
        """
        return self.verdicts(self.score_samples(X), alpha)

    def verdicts(self, scores: Any, alpha: float | None = None) -> np.ndarray:
        """``predict`` for rows already scored by ``score_samples`` (+1 normal, -1 anomaly), so that a caller
        that shows the scores too need not score the rows twice, nor restate the rule."""
        check_is_fitted(self, "offset_")
        if alpha is None:
            return np.where(np.asarray(scores) - self.offset_ < 0, -1, 1)
        self.check_alpha(alpha, "predict")
        return np.where(self.p_values_of(scores) < alpha, -1, 1)

    def threshold(self, alpha: float | None = None) -> float:
        """The score below which ``predict`` flags a row: ``offset_``, or with ``alpha``, the score whose p-value
        first falls below ``alpha`` (minus a held-out row's anomaly score), so that ``score_samples < threshold``
        is ``verdicts == -1``. Figures draw it where they draw scores."""
        check_is_fitted(self, "offset_")
        if alpha is None:
            return self.offset_
        self.check_alpha(alpha, "threshold")
        calibration = self._calibration("threshold")
        n = len(calibration)
        # The most held-out rows that may score at least as anomalous for p < alpha, computed as p_values_of does.
        most = int(np.sum((1 + np.arange(n + 1)) / (n + 1) < alpha)) - 1
        return float(-calibration[n - 1 - most])

    def min_p_value(self) -> float:
        """The smallest p-value this detector can give, ``1 / (n + 1)`` for ``n`` held-out rows (``calibration_``):
        an ``alpha`` at or below it flags no row."""
        check_is_fitted(self, "offset_")
        return 1.0 / (len(self._calibration("min_p_value")) + 1)

    def check_alpha(self, alpha: Any, where: str = "alpha") -> None:
        """Refuse an ``alpha`` that ``predict`` cannot use: outside (0, 1), or at or below ``min_p_value()``, where
        no row could be flagged (``HourglassError``, naming the floor and the held-out rows it would need)."""
        validate(alpha, Real(0, 1, open="lo"), where, "alpha")
        n = len(self._calibration(where))
        if alpha <= 1 / (n + 1):
            # p < alpha needs 1 / (n + 1) < alpha, i.e. more than 1 / alpha - 1 held-out rows.
            floor = f"{where}: alpha={alpha:g} can flag nothing: with {n} held-out rows the smallest p-value is "
            floor += f"1/{n + 1} = {1 / (n + 1):.4g}; use an alpha above it"
            if alpha <= 1 / (MAX_CALIBRATION + 1):  # more rows cannot help: fit keeps this many scores at most
                raise HourglassError(
                    f"{floor} (a detector keeps at most {MAX_CALIBRATION:,} held-out scores, so no p-value is "
                    f"below 1/{MAX_CALIBRATION + 1} = {1 / (MAX_CALIBRATION + 1):.4g})"
                )
            need = math.floor(1 / alpha - 1) + 1
            fraction = float(self.validation_fraction)
            rows = f", about {math.ceil(need / fraction):,} training rows at validation_fraction={fraction:g}"
            raise HourglassError(
                f"{floor}, or refit on more rows (alpha={alpha:g} needs {need:,} held-out rows"
                f"{rows if fraction > 0 else ''})"
            )

    def p_values(self, X: Any) -> np.ndarray:
        """Conformal p-value of each row: the share of held-out training rows that scored at least as
        anomalous, ``(1 + #{calibration >= s}) / (n + 1)``.

        The calibration rows are the ones the members held out for their early stop (``validation_fraction``),
        kept out of the forest and the z-scores' statistics too. If the new rows and the training rows are exchangeable
        (drawn from one distribution, in no particular order), a new *normal* row gets ``p < alpha`` with
        probability at most ``alpha``: ``predict(X, alpha=0.01)`` flags at most 1% of normal data, whatever the
        contamination, with no rate to guess. What breaks it: drift (new normal data unlike the training
        data), training data with many anomalies (they raise the calibration scores, so true anomalies look
        less rare), and a slight optimism from the members' early stop having looked at those rows.

        Examples
        --------
        >>> import numpy as np
        >>> from hourglass.anomaly import AnomalyDetector
        >>> rng = np.random.default_rng(0)
        >>> det = AnomalyDetector(hidden=(8,), epochs=2).fit(rng.normal(size=(500, 4)))
        >>> p = det.p_values(np.array([[0.0, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]]))
        >>> bool(p[0] > 0.1), bool(p[1] < 0.05)
        (True, True)
        """
        return self.p_values_of(self.score_samples(X))

    def p_values_of(self, scores: Any) -> np.ndarray:
        """``p_values`` for rows already scored by ``score_samples``."""
        check_is_fitted(self, "offset_")
        calibration = self._calibration("p_values")
        anomaly = -np.asarray(scores, np.float64)
        at_least = len(calibration) - np.searchsorted(calibration, anomaly, side="left")
        return (1 + at_least) / (len(calibration) + 1)

    def _calibration(self, where: str) -> np.ndarray:
        """The held-out rows' anomaly scores that p-values compare with; refused when there are none."""
        calibration = getattr(self, "calibration_", np.zeros(0))
        if not len(calibration):
            raise HourglassError(
                f"{where}: this detector has no held-out rows to calibrate p-values (fitted with "
                "validation_fraction=0 or on fewer than 10 rows, or saved before p-values existed); refit it"
            )
        return calibration

    # ---------------------------------------------------------------------------- explanations
    def explain(self, X: Any) -> np.ndarray:
        """Per-feature (per-pixel) squared error in scaled units, in X's sample shape.

        The mean of a row's explanation is its reconstruction error, the autoencoder's term of the score
        (with ``iforest=False``, the score is minus that mean), so large entries are what looked wrong:
        render an image's as a heatmap, or rank a table's with ``top_features``. The forest's term has no
        per-feature breakdown: a row flagged by the forest alone may have no entry that stands out.
        """
        # An error beyond float32's range (a row some 1e19 scaled units out) is inf here; scores stay finite.
        errors = torch.from_numpy(self._feature_errors(X)).float().numpy()
        return errors.reshape(len(errors), *self.sample_shape_)

    def _feature_errors(self, X: Any) -> np.ndarray:
        """``explain``'s squared errors as float64 (n, features): finite for every finite row."""
        check_is_fitted(self)
        flat = self._validate(X, reset=False)
        return self._run(self._errors(per_row=False), flat, self.n_features_in_, np.float64, scale_input=False)

    def top_features(self, X: Any, k: int = 3) -> tuple[list[list[str]], np.ndarray]:
        """The ``k`` worst-rebuilt features of each row: their names and squared errors (float64), worst first
        (``explain``'s numbers: the autoencoder's term only)."""
        errors = self._feature_errors(X)
        k = min(int(k), errors.shape[1])
        order = np.argsort(-errors, axis=1, kind="stable")[:, :k]
        names = self.feature_names()
        return [[names[j] for j in row] for row in order], np.take_along_axis(errors, order, axis=1)

    def nearest_normal(self, X: Any, *, alpha: float | None = None, steps: int = 200, seed: int = 0) -> NearestNormal:
        """Each row's nearest normal: the closest row the decoder draws that this detector calls normal.

        Codes are searched from the row's own and from a normal one drawn from the code prior, minimising
        the squared distance to the row in scaled units (columns count alike); of the decoded rows seen on
        the way, the nearest that ``verdicts`` passes is kept (see ``hourglass.anomaly.nearest``). Its
        ``difference`` (row - normal) says what would have to change: ``ranked`` and ``phrases`` put it in
        words ("x3 is 3.1 sd above normal", "pixel (3, 5) should be darker: ...").

        Parameters
        ----------
        X : array-like of shape (n, features) or (n, H, W[, C])
            The rows to explain (usually the flagged ones), as for ``score_samples``.
        alpha : float or None, default None
            The rule a normal must pass: the threshold ``offset_``, or with ``alpha``, ``p_values >= alpha``.
        steps : int, default 200
            L-BFGS iterations; 0 keeps the better of the two starting codes.
        seed : int, default 0
            Seeds the prior codes drawn for the second start.

        Returns
        -------
        hourglass.anomaly.nearest.NearestNormal
        """
        check_is_fitted(self, "offset_")
        validate(steps, Int(0, 100_000), "nearest_normal", "steps")
        validate(seed, Int(0, 2**32 - 1), "nearest_normal", "seed")
        if alpha is not None:
            self.check_alpha(alpha, "nearest_normal")
        return nearest_normal(self, X, alpha=alpha, steps=int(steps), seed=int(seed))

    def feature_names(self) -> list[str]:
        """Column names seen in fit, else ``x1``..``xn`` (tables) or ``pixel_r_c`` (images; ``pixel_r_c_ch`` in colour),
        from 0: ``pixel_3_5`` is row 3, column 5."""
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        if self.kind_ == "image":
            return ["pixel_" + "_".join(map(str, idx)) for idx in np.ndindex(*self.sample_shape_)]
        return [f"x{i + 1}" for i in range(self.n_features_in_)]

    # ------------------------------------------------------------------------------ model files
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        # The threshold and the z-scores' medians and spreads go in config.json, the forest's arrays
        # beside the weights.
        check_is_fitted(self, "offset_")
        fitted: dict[str, Any] = {"offset": self.offset_}
        calibration = getattr(self, "calibration_", np.zeros(0))
        if len(calibration):
            fitted["calibration"] = calibration.tolist()
        if self.forest_ is None:
            return fitted, {}
        assert self.fusion_ is not None  # set together with the forest
        median, scale = self.fusion_.tolist()
        fitted["fusion"] = {"median": median, "scale": scale, "max_samples": self.forest_.max_samples}
        return fitted, dict(self.forest_.arrays)

    @classmethod
    def _fitted_schema(cls) -> dict[str, Any]:
        return {
            "offset": Real(),
            "fusion": Omittable(FUSION_SPEC),
            "calibration": Omittable(ListOf(Real(), 1, MAX_CALIBRATION)),
        }

    def _restore_fitted(self, config: dict[str, Any], state: dict[str, np.ndarray], source: Path) -> None:
        fitted = config.get("fitted")
        where = f"{source / modelfile.CONFIG}: fitted"
        forest_where = str(source / modelfile.WEIGHTS)
        if fitted is None:  # an older folder: detector.json and detector.safetensors
            if state:
                raise HourglassError(f"{source}: model files do not match (forest arrays without config.json's fitted)")
            fitted, state, where, forest_where = _old_fitted_state(source)
        self.offset_ = float(fitted["offset"])
        self.calibration_ = np.sort(np.asarray(fitted.get("calibration", []), np.float64))
        has_forest = "fusion" in fitted or bool(state)
        if not has_forest and "iforest" not in config["params"]:
            self.iforest = False  # saved before the forest term existed: the autoencoder's score alone
        if has_forest != self.iforest or ("fusion" in fitted) != bool(state):
            raise HourglassError(
                f"{source}: model files do not match (params.iforest is {str(self.iforest).lower()}; {where} "
                f"{'has' if 'fusion' in fitted else 'lacks'} the forest's numbers, and its arrays are "
                f"{'present' if state else 'absent'})"
            )
        self.forest_ = self.fusion_ = None
        if has_forest:
            fusion = fitted["fusion"]
            self.forest_ = Forest(state, fusion["max_samples"], self.n_features_in_, forest_where)
            self.fusion_ = np.array([fusion["median"], fusion["scale"]], dtype=np.float64)


def _old_fitted_state(source: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], str, str]:
    """The threshold and forest of a folder saved before they moved into config.json and model.safetensors,
    checked as config.json's ``fitted`` is; the last two items name where each came from, for messages."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path, forest_file = source / OLD_CONFIG, source / FOREST_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise HourglassError(f"{path}: missing or corrupt ({type(e).__name__})") from None
    validate(doc, AnomalyDetector._fitted_schema(), str(path))
    state: dict[str, np.ndarray] = {}
    if forest_file.exists():
        try:
            state = load_file(str(forest_file))
        except (SafetensorError, OSError, ValueError, TypeError) as e:
            raise HourglassError(f"{forest_file}: corrupt ({' '.join(str(e).split())[:200]})") from None
    return doc, state, str(path), str(forest_file)


def _robust(values: np.ndarray) -> tuple[float, float]:
    """Median and interquartile range of training values. A zero IQR (over half the rows score alike,
    e.g. duplicates) falls back to the mean absolute deviation from the median, then to 1, so a term
    never divides by zero and stays in proportion to its own spread."""
    values = values[np.isfinite(values)]  # a row too far out to measure (inf) says nothing about the spread
    if not len(values):
        return 0.0, 1.0
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else np.mean(np.abs(values - median))
    return float(median), float(spread) if spread > 0 else 1.0
