"""``AnomalyDetector``: an autoencoder ensemble's reconstruction error plus an isolation forest, as an outlier score.

A row the hourglass rebuilds badly is unlike what it was trained on; a row a few random splits isolate lies
where few training rows do. The default score adds the two as robust z-scores (``iforest=True``). Mean
ROC-AUC (README, "Anomaly detection"): on ``benchmarks/anomaly.py``'s 20 ADBench sets, which the defaults
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

import itertools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import OutlierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from hourglass.errors import HourglassError
from hourglass.estimator import Autoencoder, batch_invariant, register_estimator
from hourglass.iforest import Forest
from hourglass.models import register
from hourglass.models.base import ACTIVATIONS, MAX_MEMBERS, OUTPUT_ACTIVATIONS, Hourglass, make_activation
from hourglass.models.schema import Bool, Either, Int, ListOf, OneOf, Optional, Real, Spec, validate

SCORE_BLOCK = 4096  # rows per fused scoring step
AUTO_QUANTILE = 0.99  # contamination="auto": flag rows scored worse than 99% of the training rows
FOREST_FILE = "detector.safetensors"  # the isolation forest's arrays, beside detector.json


class _Batched(nn.Module):
    """``k`` independent linear layers applied to ``k`` stacks of rows in one batched matmul."""

    def __init__(self, k: int, n_in: int, n_out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(n_in)  # nn.Linear's default initialisation, per member
        self.weight = nn.Parameter(torch.empty(k, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


@register("mlp-ensemble")
class EnsembleMLP(Hourglass):
    """``n_members`` MLP autoencoders side by side; each has its own weights and sees the same batches.

    The code is the members' codes side by side and the reconstruction is their mean, so the usual
    encode/decode/reconstruct work unchanged. Training ignores, per member and batch, the ``trim``
    share of rows that member rebuilds worst.
    """

    def __init__(
        self,
        n_features: int,
        latent_dim: int = 4,
        hidden: Sequence[int] = (32,),
        activation: str = "relu",
        output_activation: str = "identity",
        n_members: int = 3,
        trim: float = 0.2,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS or output_activation not in OUTPUT_ACTIVATIONS:
            make_activation(activation)  # raises the one-line error naming the choices
            make_activation(output_activation, OUTPUT_ACTIVATIONS)
        self.n_features, self.member_latent, self.k = int(n_features), int(latent_dim), int(n_members)
        self.latent_dim = self.k * self.member_latent  # width of the code encode() returns
        self.hidden, self.act, self.output_act, self.trim = (
            [int(h) for h in hidden],
            activation,
            output_activation,
            trim,
        )
        widths = [self.n_features, *self.hidden, self.member_latent]
        self.encoder = nn.ModuleList(_Batched(self.k, a, b) for a, b in itertools.pairwise(widths))
        back = widths[::-1]
        self.decoder = nn.ModuleList(_Batched(self.k, a, b) for a, b in itertools.pairwise(back))
        self.hidden_act = make_activation(activation)
        self.out_act = make_activation(output_activation, OUTPUT_ACTIVATIONS)

    def config(self) -> dict[str, Any]:
        return {
            "n_features": self.n_features,
            "latent_dim": self.member_latent,
            "hidden": self.hidden,
            "activation": self.act,
            "output_activation": self.output_act,
            "n_members": self.k,
            "trim": self.trim,
        }

    def _stack(self, layers: nn.ModuleList, h: torch.Tensor, last: nn.Module) -> torch.Tensor:
        for i, layer in enumerate(layers):
            h = layer(h)
            h = self.hidden_act(h) if i < len(layers) - 1 else last(h)
        return h

    def member_codes(self, x: torch.Tensor) -> torch.Tensor:
        """(n, features) -> (members, n, member latent)."""
        return self._stack(self.encoder, x.unsqueeze(0).expand(self.k, -1, -1), nn.Identity())

    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's reconstruction of scaled rows: (n, features) -> (members, n, features)."""
        return self._stack(self.decoder, self.member_codes(x), self.out_act)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_codes(x).permute(1, 0, 2).reshape(x.shape[0], self.latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        codes = z.reshape(z.shape[0], self.k, self.member_latent).permute(1, 0, 2)
        return self._stack(self.decoder, codes, self.out_act).mean(dim=0)

    def squared_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Per-feature squared error averaged over members: (n, features)."""
        return ((self.member_outputs(x) - x) ** 2).mean(dim=0)

    def row_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared error per row, averaged over members: (n, features) -> (n,).

        The same number as ``squared_errors(x).mean(1)``, computed for speed: with an identity
        output, ``- x`` is folded into the last layer's bias so the residual is one fused op.
        """
        h = self.member_codes(x)
        for layer in self.decoder[:-1]:
            h = self.hidden_act(layer(h))
        last = self.decoder[-1]
        if isinstance(self.out_act, nn.Identity):
            residual = torch.baddbmm(last.bias - x, h, last.weight)
        else:
            residual = self.out_act(torch.baddbmm(last.bias, h, last.weight)) - x
        return residual.square_().mean(dim=(0, 2))

    def training_loss(
        self, x_in: torch.Tensor, target: torch.Tensor, recon_loss: nn.Module
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # Squared error is the only reconstruction loss here: scores are squared errors too.
        per_row = ((self.member_outputs(x_in) - target) ** 2).mean(dim=2)  # (members, n)
        keep = max(1, math.ceil(per_row.shape[1] * (1 - self.trim)))
        kept = per_row.topk(keep, dim=1, largest=False).values if keep < per_row.shape[1] else per_row
        loss = kept.mean()
        return loss, {"recon": loss}


@register_estimator
class AnomalyDetector(OutlierMixin, Autoencoder):
    """Outlier detector: an autoencoder ensemble's reconstruction error plus an isolation forest (higher = more normal).

    ``score_samples`` is minus the sum of two robust z-scores: the members' mean squared reconstruction
    error and scikit-learn's ``IsolationForest`` score (``-IsolationForest.score_samples``, fitted on the
    training rows as given, ``random_state=seed``), each centred on its median over the training rows and
    divided by its interquartile range there (see ``_robust`` for a zero IQR). The forest catches rows
    isolated by a few splits on few features, which an autoencoder can rebuild well; the autoencoder
    catches rows that break the features' joint structure. ``iforest=False`` scores by the error alone.

    Follows scikit-learn's ``IsolationForest`` API: ``score_samples``, ``decision_function``
    (``score_samples - offset_``; negative = anomaly), ``predict`` (+1 normal, -1 anomaly),
    ``fit_predict``. It trains without labels on data that may hold anomalies. Fitted attributes beside
    the autoencoder's: ``forest_`` (a ``hourglass.iforest.Forest``, or None) and ``fusion_`` (rows: the two
    terms' training medians and IQRs; None without the forest).

    Parameters
    ----------
    latent_dim : code width of each member. Narrow on purpose: a wide code learns to rebuild
        anomalies too.
    hidden : encoder widths of each member; the decoder mirrors them.
    n_members : autoencoders in the ensemble (different initial weights); their errors are averaged.
    trim : share of each batch's worst-rebuilt rows a member ignores while training, so anomalies in
        the training data are not learned. 0 gives plain mean squared error.
    contamination : ``"auto"`` or the expected share of anomalies in the training data, in (0, 0.5].
        It sets ``offset_``, the threshold ``predict`` uses: with a fraction, that share of the
        training rows is flagged; ``"auto"`` flags rows scored worse than 99% of the training rows
        (the 0.01 quantile of training scores), i.e. about 1% of them.
    iforest : add the isolation forest's term to the score (default). Its trees are saved as arrays
        (``detector.safetensors``) and walked in numpy, with no pickle; ``explain`` and ``top_features``
        break down the autoencoder's term only. Model folders saved before it load with ``iforest=False``.
    scaling : as for ``Autoencoder``; ``"auto"`` standardises table features (after any min-max
        scaling of the caller's, this puts every feature's error on the same footing).
    epochs, batch_size, lr, weight_decay, noise, validation_fraction, patience, seed, device, verbose :
        as for ``Autoencoder``; the defaults train briefly, stopping early on held-out rows.
    """

    model = "mlp-ensemble"
    loss = "mse"
    output_activation = "auto"
    # Autoencoder's table for the parameters they share, plus the detector's own.
    _parameter_specs: ClassVar[dict[str, Spec]] = {
        **{
            k: v
            for k, v in Autoencoder._parameter_specs.items()
            if k not in ("model", "output_activation", "loss", "beta", "structure", "n_neighbors", "structure_weight")
        },
        "n_members": Int(1, MAX_MEMBERS),
        "trim": Real(0, 1, open="hi"),
        "contamination": Either(OneOf("auto"), Real(0, 0.5, open="lo")),
        "iforest": Bool(),
    }

    def __init__(
        self,
        latent_dim: int = 4,
        hidden: Sequence[int] = (32,),
        *,
        n_members: int = 3,
        trim: float = 0.2,
        contamination: float | str = "auto",
        iforest: bool = True,
        activation: str = "relu",
        scaling: str = "auto",
        epochs: int = 30,
        batch_size: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        noise: str | None = None,
        validation_fraction: float = 0.1,
        patience: int = 5,
        seed: int = 0,
        device: str = "auto",
        verbose: bool = False,
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

    def fit(self, X: Any, y: Any = None) -> AnomalyDetector:
        """Train on ``X`` (labels, if given, are ignored) and set ``offset_`` from its scores."""
        super().fit(X)  # checks the parameters first
        flat = self._validate(X, reset=False)
        self.forest_ = Forest.fit(flat, int(self.seed)) if self.iforest else None
        parts = self._parts(flat)
        # Each term's training median and spread: the two z-scores are on the same footing.
        self.fusion_ = np.array([_robust(p) for p in parts.T]).T if self.forest_ is not None else None
        scores = self._combine(parts)
        if self.contamination == "auto":
            self.offset_ = float(np.quantile(scores, 1 - AUTO_QUANTILE))
        else:
            self.offset_ = float(np.quantile(scores, float(self.contamination)))
        return self

    # How far a row lies outside the training range is exactly what a detector measures: no clipping.
    _clip_inputs = False

    def _scaling(self, images: bool) -> str:
        # A detector compares every feature's error: tables are standardised per feature even when
        # their values lie in [0, 1] (where an Autoencoder scales them as pixels).
        return "standard" if self.scaling == "auto" and not images else self.scaling

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
        z = (parts - self.fusion_[0]) / self.fusion_[1]
        return -(z[:, 0] + z[:, 1])

    def _parts(self, flat: np.ndarray) -> np.ndarray:
        """Per row: the mean squared reconstruction error and, with a forest, its score (float64, (n, 1 or 2))."""
        offset = torch.as_tensor(self.scaler_.offset)
        scale = torch.as_tensor(self.scaler_.scale)
        forest = self.forest_

        def parts(x: torch.Tensor) -> torch.Tensor:
            # Blocks small enough that the members' activations stay in cache: 2-3x the rows/s of
            # one pass over the whole chunk (benchmarks/anomaly.py measures it).
            out = torch.empty(x.shape[0], 1 if forest is None else 2, dtype=torch.float64)
            for i in range(0, x.shape[0], SCORE_BLOCK):
                part = x[i : i + SCORE_BLOCK]
                part = (part - offset.to(part.device)) / scale.to(part.device)
                out[i : i + part.shape[0], 0] = batch_invariant(self.model_.row_errors, part).cpu()
            if forest is not None:  # on the rows as given: the forest was fitted on them unscaled
                out[:, 1] = torch.from_numpy(forest.score(x.cpu().numpy()))
            return out

        return self._run(parts, flat, 1 if forest is None else 2, np.float64, scale_input=False, allow_inf=True)

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples - offset_``: negative for rows ``predict`` calls anomalies."""
        check_is_fitted(self, "offset_")
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for normal rows, -1 for anomalies (``decision_function < 0``)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    # ---------------------------------------------------------------------------- explanations
    def explain(self, X: Any) -> np.ndarray:
        """Per-feature (per-pixel) squared error in scaled units, in X's sample shape.

        The mean of a row's explanation is its reconstruction error, the autoencoder's term of the score
        (with ``iforest=False``, the score is minus that mean), so large entries are what looked wrong:
        render an image's as a heatmap, or rank a table's with ``top_features``. The forest's term has no
        per-feature breakdown: a row flagged by the forest alone may have no entry that stands out.
        """
        check_is_fitted(self)
        flat = self._validate(X, reset=False)
        errors = self._run(
            lambda x: batch_invariant(self.model_.squared_errors, x),
            flat,
            self.n_features_in_,
            np.float32,
            allow_inf=True,
        )
        return errors.reshape(len(errors), *self.sample_shape_)

    def top_features(self, X: Any, k: int = 3) -> tuple[list[list[str]], np.ndarray]:
        """The ``k`` worst-rebuilt features of each row: their names and squared errors, worst first
        (from ``explain``: the autoencoder's term only)."""
        errors = self.explain(X).reshape(np.shape(X)[0], -1)
        k = min(int(k), errors.shape[1])
        order = np.argsort(-errors, axis=1, kind="stable")[:, :k]
        names = self.feature_names()
        return [[names[j] for j in row] for row in order], np.take_along_axis(errors, order, axis=1)

    def feature_names(self) -> list[str]:
        """Column names seen in fit, else x1..xn (tables) or "pixel (r, c)" names (images)."""
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        if self.kind_ == "image":
            return ["pixel_" + "_".join(map(str, idx)) for idx in np.ndindex(*self.sample_shape_)]
        return [f"x{i + 1}" for i in range(self.n_features_in_)]

    # ------------------------------------------------------------------------------ model files
    def save(self, path: Any, extra_files: dict[str, bytes] | None = None) -> Any:
        check_is_fitted(self, "offset_")
        import json

        from safetensors.numpy import save as safetensors_bytes

        # What fit learned beside the weights rides in the detector's own files: the threshold and the
        # z-scores' medians and spreads in detector.json, the forest's arrays in detector.safetensors.
        files = dict(extra_files or {})
        doc: dict[str, Any] = {"offset": self.offset_}
        if self.forest_ is not None:
            median, scale = self.fusion_.tolist()
            doc["fusion"] = {"median": median, "scale": scale, "max_samples": self.forest_.max_samples}
            files[FOREST_FILE] = safetensors_bytes(self.forest_.arrays)
        files["detector.json"] = json.dumps(doc).encode()
        return super().save(path, files)

    @classmethod
    def _from_files(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], source: Any) -> AnomalyDetector:
        import json

        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        est = super()._from_files(config, arrays, source)
        path = source / "detector.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise HourglassError(f"{path}: missing or corrupt ({type(e).__name__})") from None
        pair = ListOf(Real(), 2, 2)
        fusion_spec = {"median": pair, "scale": ListOf(Real(0, open="lo"), 2, 2), "max_samples": Int(1)}
        validate(doc, {"offset": Real(), "fusion": Optional(fusion_spec)}, str(path))
        est.offset_ = float(doc["offset"])
        forest_file = source / FOREST_FILE
        has_forest = "fusion" in doc or forest_file.exists()
        if not has_forest and config["params"].get("iforest") is None:
            est.iforest = False  # saved before the forest term existed: the autoencoder's score alone
        if has_forest != est.iforest or ("fusion" in doc) != forest_file.is_file():
            raise HourglassError(
                f"{source}: model files do not match (params.iforest is {str(est.iforest).lower()}; detector.json "
                f"{'has' if 'fusion' in doc else 'lacks'} the forest's numbers, {FOREST_FILE} is "
                f"{'present' if forest_file.exists() else 'absent'})"
            )
        est.forest_ = est.fusion_ = None
        if has_forest:
            try:
                forest = load_file(str(forest_file))
            except (SafetensorError, OSError, ValueError, TypeError) as e:
                raise HourglassError(f"{forest_file}: corrupt ({' '.join(str(e).split())[:200]})") from None
            fusion = doc["fusion"]
            est.forest_ = Forest(forest, fusion["max_samples"], est.n_features_in_, str(forest_file))
            est.fusion_ = np.array([fusion["median"], fusion["scale"]], dtype=np.float64)
        return est


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
