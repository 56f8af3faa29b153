"""``AnomalyDetector``: an autoencoder ensemble's reconstruction error plus a nearest-neighbour distance, as an
outlier score.

A row the hourglass rebuilds badly breaks the features' joint structure; a row far from every training row lies
where none did. The default score adds the two as robust z-scores, the distance weighted ``knn_weight``; an
isolation forest's term can be added (``iforest=True``). The recipe was chosen leave-one-dataset-out on two
families of data, tables and pretrained networks' features, where the distance is what lifts the second
(docs/benchmarks.md, "Anomaly detection: the recipe across families", with the commands that measure it).

The autoencoder's own choices, each chosen leave-one-dataset-out (docs/benchmarks.md, "Anomaly detection:
defaults chosen leave-one-dataset-out"): a trimmed loss (each member ignores the rows of a batch it rebuilds
worst, so rare anomalies are not learned), a narrow code behind standardised features, a small ensemble trained
at once as batched matrix products, and short training stopped early on held-out rows.

It is an outlier detector, not a transformer: it has no ``transform``, ``inverse_transform``, ``sample`` or
``denoise``. It has codes all the same (``codes``, its runner's), which the explorer draws on its map.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import OutlierMixin
from sklearn.utils.validation import check_is_fitted

from hourglass.anomaly import calibration, saved, scores
from hourglass.anomaly.iforest import Forest
from hourglass.anomaly.knn import Neighbors
from hourglass.anomaly.nearest import NearestNormal, nearest_normal
from hourglass.base import _Estimator
from hourglass.fitting import (
    code_prior,
    default_output,
    fit_scaler,
    network_config,
    train_config,
    train_network,
    training_rows,
)
from hourglass.params import DETECTOR, SEED
from hourglass.schema import Int, Spec, validate
from hourglass.training.batches import held_out_rows

MODEL = "mlp-ensemble"  # the network it builds (hourglass.models.ensemble.EnsembleMLP)
AUTO_QUANTILE = 0.99  # contamination="auto": flag rows scored worse than 99% of the training rows


class AnomalyDetector(OutlierMixin, _Estimator):
    """Outlier detector: an autoencoder ensemble's reconstruction error plus a nearest-neighbour distance (higher =
    more normal).

    ``score_samples`` is minus a weighted sum of robust z-scores: the members' mean squared reconstruction
    error (weight 1), the mean Euclidean distance to the nearest training rows in min-max units
    (``knn_weight``; ``hourglass.anomaly.knn``) and, with ``iforest=True``, ``-IsolationForest.score_samples``
    (weight 1; fitted on the training rows as given, ``random_state=seed``). Each is centred on its median over
    the training rows the members trained on and divided by its interquartile range there (``scores.robust``).
    ``knn_weight=0`` and ``iforest=False`` score by the error alone.

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
    iforest : bool, default False
        Add an isolation forest's term to the score. Its trees are saved as arrays (``forest.*`` in
        model.safetensors) and walked in numpy, with no pickle.
    knn_weight : float, default 1.5
        Weight of the nearest-neighbour term; 0 leaves it out. Its reference rows (rows the members trained
        on, at most ``knn.MAX_REFERENCE``) are saved as given (float32, ``knn.*`` in model.safetensors).
        ``explain`` and ``top_features`` break down the autoencoder's term only.
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
    forest_, knn_ : hourglass.anomaly.iforest.Forest or None, hourglass.anomaly.knn.Neighbors or None
        The isolation forest and the nearest-neighbour term; None with ``iforest=False``, ``knn_weight=0``.
    calibration_ : np.ndarray of float64
        The held-out rows' anomaly scores (``-score_samples``), sorted, at most 2,000: what ``p_values``
        compares with. Empty for a detector fitted without held-out rows.
    fusion_ : np.ndarray of float64, shape (2, terms), or None
        Row 0 the terms' medians over the training rows, row 1 their interquartile ranges (error first, then
        the forest's and the distance's where present); None when the error is the only term.
    runner_, model_, scaler_, history_, prior_, kind_, sample_shape_, n_features_in_, feature_names_in_
        As for ``Autoencoder``; ``model_`` is the ensemble (``hourglass.models.ensemble.EnsembleMLP``), and
        ``prior_`` the mixture over its training codes that ``nearest_normal`` starts from.

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

    _params = DETECTOR
    _parameter_specs: ClassVar[dict[str, Spec]] = DETECTOR.specs()
    # How far a row lies outside the training range is exactly what a detector measures: no clipping.
    _clip_inputs: ClassVar[bool] = False
    _state_prefixes: ClassVar[tuple[str, ...]] = saved.PREFIXES  # the forest's and the neighbours' arrays
    # Kept from the autoencoder's side: ``reconstruct`` and ``explain`` show what the detector expected a row
    # to be and where it differs, which is what a flagged row is judged by.

    def __init__(
        self,
        latent_dim: int = DETECTOR.latent_dim,
        hidden: Sequence[int] = DETECTOR.hidden,
        *,
        n_members: int = DETECTOR.n_members,
        trim: float = DETECTOR.trim,
        contamination: float | str = DETECTOR.contamination,
        iforest: bool = DETECTOR.iforest,
        knn_weight: float = DETECTOR.knn_weight,
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
        self.knn_weight = knn_weight
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
        """Train on ``X`` (labels, if given, are ignored) and set ``offset_`` from its scores. ``X`` (a
        ``hourglass.Dataset`` too), ``checkpoint_dir`` and ``resume`` are as for ``Autoencoder.fit``."""
        self._validate_params()
        rows = training_rows(self, X)
        # A detector compares every feature's error: tables are standardised per feature even when
        # their values lie in [0, 1] (where an Autoencoder scales them as pixels).
        scaling = "standard" if self.scaling == "auto" and not rows.images else self.scaling
        scaler = fit_scaler(rows, scaling, clip=self._clip_inputs)
        config = network_config(MODEL, rows, self, default_output(scaler.kind), {})
        config |= {"n_members": int(self.n_members), "trim": float(self.trim)}
        settings = train_config(self, "mse", None)
        self.runner_, self.history_ = train_network(self, rows, scaler, MODEL, config, settings, checkpoint_dir, resume)
        self.prior_ = code_prior(self.runner_, rows.flat, self.seed)
        # The rows held out for the early stop are kept out of the forest, the reference rows and the z-scores,
        # so that their scores calibrate p-values; contamination="q" flags a share q of the training rows.
        held, kept = held_out_rows(len(rows.flat), float(self.validation_fraction), int(self.seed))
        self.forest_ = Forest.fit(rows.flat, int(self.seed), kept) if self.iforest else None
        self.knn_ = Neighbors.fit(rows.flat, kept, int(self.seed)) if self.knn_weight > 0 else None
        terms = scores.parts(self.runner_, self.forest_, self.knn_, rows.flat)  # as score_samples gives them
        stats = terms[kept]  # each term's median and spread: the z-scores on one footing
        if self.knn_ is not None:  # a reference row measured without itself, as a new row would be
            stats[:, -1] = self.knn_.score_training(rows.flat)[kept]
        self.fusion_ = np.array([scores.robust(t) for t in stats.T]).T if terms.shape[1] > 1 else None
        fused = scores.combine(terms, self.fusion_, scores.weights(self.forest_, self.knn_, self.knn_weight))
        quantile = 1 - AUTO_QUANTILE if self.contamination == "auto" else float(self.contamination)
        self.offset_ = float(np.quantile(fused, quantile))  # over every training row, as scikit-learn does
        self.calibration_ = calibration.keep(-fused[held], int(self.seed))
        return self

    # -------------------------------------------------------------------------------- scoring
    def score_samples(self, X: Any) -> np.ndarray:
        """Per row, higher = more normal: minus the weighted sum of the terms' robust z-scores (see the class
        docstring), or with the error alone, minus the mean squared reconstruction error (scaled units)."""
        return scores.combine(self._parts(X), self.fusion_, scores.weights(self.forest_, self.knn_, self.knn_weight))

    def _parts(self, X: Any) -> np.ndarray:
        """Per row, the score's terms before they are combined (``scores.parts``): benchmarks compare them."""
        flat = self._rows(X)  # checks it is fitted first
        return scores.parts(self.runner_, self.forest_, self.knn_, flat)

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
        first falls below ``alpha``, so that ``score_samples < threshold`` is ``verdicts == -1``. Figures draw it
        where they draw scores."""
        check_is_fitted(self, "offset_")
        if alpha is None:
            return self.offset_
        self.check_alpha(alpha, "threshold")
        return calibration.threshold(self.calibration_, alpha)

    def min_p_value(self) -> float:
        """The smallest p-value this detector can give, ``1 / (n + 1)`` for ``n`` held-out rows (``calibration_``):
        an ``alpha`` at or below it flags no row."""
        check_is_fitted(self, "offset_")
        return 1.0 / (len(calibration.usable(self.calibration_, "min_p_value")) + 1)

    def check_alpha(self, alpha: Any, where: str = "alpha") -> None:
        """Refuse an ``alpha`` that ``predict`` cannot use: outside (0, 1), or at or below ``min_p_value()``, where
        no row could be flagged (``HourglassError``, naming the floor and the held-out rows it would need)."""
        check_is_fitted(self, "offset_")
        calibration.check_alpha(self.calibration_, alpha, where, float(self.validation_fraction))

    def p_values(self, X: Any) -> np.ndarray:
        """Conformal p-value of each row: the share of held-out training rows that scored at least as
        anomalous, ``(1 + #{calibration >= s}) / (n + 1)``. A new normal row gets ``p < alpha`` with probability
        at most ``alpha`` when new and training rows are exchangeable (``hourglass.anomaly.calibration`` says
        what breaks that).

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
        return calibration.p_values(calibration.usable(self.calibration_, "p_values"), scores)

    # ---------------------------------------------------------------------------- explanations
    def explain(self, X: Any) -> np.ndarray:
        """Per-feature (per-pixel) squared error in scaled units, in X's sample shape.

        The mean of a row's explanation is its reconstruction error, the autoencoder's term of the score
        (with ``iforest=False``, the score is minus that mean), so large entries are what looked wrong:
        render an image's as a heatmap, or rank a table's with ``top_features``. The forest's term has no
        per-feature breakdown: a row flagged by the forest alone may have no entry that stands out.
        """
        # An error beyond float32's range (a row some 1e19 scaled units out) is inf here; scores stay finite.
        with np.errstate(over="ignore"):
            errors = self._feature_errors(X).astype(np.float32)
        return errors.reshape(len(errors), *self.sample_shape_)

    def _feature_errors(self, X: Any) -> np.ndarray:
        """``explain``'s squared errors as float64 (n, features): finite for every finite row."""
        flat = self._rows(X)
        return scores.feature_errors(self.runner_, flat)

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
        validate(seed, SEED, "nearest_normal", "seed")
        if alpha is not None:
            self.check_alpha(alpha, "nearest_normal")
        return nearest_normal(
            self.runner_,
            self._rows(X),
            score=self.score_samples,
            passes=lambda scores: self.verdicts(scores, alpha) == 1,
            prior=self.prior_,
            names=self.feature_names(),
            steps=int(steps),
            seed=int(seed),
        )

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
        check_is_fitted(self, "offset_")
        return saved.fitted_state(self.offset_, self.calibration_, self.forest_, self.knn_, self.fusion_)

    @classmethod
    def _fitted_schema(cls) -> dict[str, Any]:
        return saved.FITTED_SCHEMA

    def _restore_fitted(self, config: dict[str, Any], state: dict[str, np.ndarray], source: Path) -> None:
        restored = saved.restore(config["fitted"], state, config["params"], self.n_features_in_, source)
        self.offset_, self.calibration_, self.forest_, self.knn_, self.fusion_ = restored
