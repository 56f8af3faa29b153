"""``Autoencoder``: the scikit-learn-style estimator around a registered hourglass model.

Its ``fit`` is a few calls to ``hourglass.fitting``, read top to bottom; every pass over rows or codes is its
runner's (``hourglass.inference.InferenceModel``); what it shares with ``AnomalyDetector`` is ``_Estimator``
(``hourglass.base``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from hourglass.base import _Estimator
from hourglass.errors import HourglassError
from hourglass.fitting import (
    code_prior,
    default_output,
    fit_placement,
    fit_scaler,
    network_config,
    train_config,
    train_network,
    training_rows,
)
from hourglass.models.conv import suits_conv
from hourglass.params import AUTOENCODER, SEED
from hourglass.schema import Int, Spec, validate
from hourglass.training.neighbors import Structure

MAX_SAMPLES = 10_000_000


class Autoencoder(TransformerMixin, _Estimator):
    """An autoencoder X -> code Z -> X_hat trained without labels by shrinking reconstruction loss.

    Every parameter is checked against ``_parameter_specs`` when ``fit`` starts, before the data is
    read: a bad value is one ``HourglassError`` naming the parameter and what it accepts.

    Parameters
    ----------
    latent_dim : int, default 2
        Width of the code Z (the waist of the hourglass).
    hidden : sequence of int or None, default None
        Encoder widths from the input inward (units of an MLP, channels of a conv model); the decoder
        mirrors them. ``None``: the model's own default (128,64 for mlp; 32,64 for conv).
    model : str, default "auto"
        Name of a registered model (``hourglass.models.available_models()``), or ``"auto"``: ``"conv"``
        for images larger than 16x16, ``"mlp"`` for smaller images and tables. ``"vae"`` is a variational
        autoencoder (conv body for images larger than 16x16).
    activation : str, default "gelu"
        Hidden-layer activation (relu, gelu, silu, elu, tanh, leaky_relu). GELU, chosen leave-one-dataset-out
        (``benchmarks/defaults.py``; docs/benchmarks.md): ReLU units die at a 2-number waist.
    output_activation : str, default "auto"
        ``"auto"`` (sigmoid when inputs are min-max scaled to [0, 1], else identity), ``"sigmoid"`` or
        ``"identity"``.
    scaling : str, default "auto"
        ``"auto"``, ``"minmax"``, ``"standard"`` or ``"none"``. ``"auto"`` picks by the data: bounded data
        (images, uint8, rows whose every value is within [0, 1], or integer pixel values in [0, 255] over
        at least 16 columns) is min-max scaled by one global range, its own minimum and maximum over all
        values; other tables are standardised per feature, each feature's scale floored at 5% of its
        training range (``hourglass.data.scaling`` gives the reasons).
    loss : str, default "mse"
        ``"mse"`` or ``"bce"`` (BCE needs a sigmoid output).
    epochs : int, default 200
        Most passes over the training rows; training stops early once the validation loss has not improved
        for ``patience`` epochs, and keeps the best epoch's weights.
    batch_size : int, default 128
        Rows per Adam step (per process under torchrun).
    lr : float, default 0.01
        Adam's learning rate, cut 0.3x after 4 epochs without progress (not with ``structure``).
    weight_decay : float, default 0.0
        Adam's L2 penalty.
    validation_fraction : float, default 0.1
        Share of the rows held out for the validation curve and the early stop.
    patience : int, default 10
        Epochs without progress on the held-out rows before training stops; 0 never stops early.
    seed : int, default 0
        Fixes initialisation, the split and shuffling: the same seed gives the same weights. Torch's global
        random state (CPU and CUDA) is left as it was.
    device : str, default "auto"
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    verbose : bool, default False
        Show a progress bar (only on a terminal).
    noise : str or None, default None
        A corruption spec such as ``"gaussian:0.3"`` or ``"gaussian:0.3+mask:0.1"`` (see ``hourglass.data.noise``)
        to train a denoising autoencoder: each batch's inputs get fresh noise in scaled units while the
        target stays clean. Saved with the model.
    beta : float, default 0.03
        Weight of the VAE's KL term per input feature (``model="vae"`` only; loss = MSE + beta * KL /
        n_features). Larger values trade reconstruction for a code closer to N(0, I); around 1 the code
        collapses onto the prior and carries nothing (see ``models/vae.py``).
    structure : str or None, default None
        ``"neighbors"`` trains a neighbor-preserving code: UMAP's fuzzy graph of the ``n_neighbors``
        nearest training rows is built at ``fit``, the rows are laid out in the code's width by UMAP's
        objective, and each code is pulled towards its place in that layout beside the reconstruction loss
        (see ``hourglass.training.neighbors``), so that rows close in the data stay close in the code, and
        clusters apart. Saved with the model.
    n_neighbors : int, default 15
        Neighbors per row in that graph (besides the row itself), at least 1 and fewer than the training rows.
    structure_weight : float, default 1.0
        Weight of the neighbor term (the codes' mean squared distance to their places in the layout, which
        has unit variance), relative to the data's variance (the error of a code that carries nothing); 0
        keeps the term's bookkeeping but not its pull.
    placement : str or None, default None
        How ``transform`` places rows: ``None``, by the encoder alone; ``"neighbors"`` (with
        ``structure="neighbors"``), as UMAP's ``transform`` places them: the model keeps its training rows (a
        seeded sample beyond ``hourglass.training.placement.MAX_KEPT_BYTES``) and their places in the layout,
        and a row lands among the places of its nearest kept rows in input space (a kept row on its own
        place). The encoder only narrows the search. Every door that encodes (``transform``,
        ``hourglass encode``, the explorer's server) places so; the exported ONNX encoder and a saved page's
        drawing pad encode by the encoder alone. Saved with the model.

    Attributes
    ----------
    model_ : hourglass.models.base.Hourglass
        The trained network (its ``encode`` and ``decode`` work on scaled rows).
    scaler_ : hourglass.data.scaling.Scaler
        The scaling learnt from the training data; the network sees ``scaler_``'s output.
    history_ : hourglass.training.state.History
        Per-epoch training and validation losses, the best epoch and whether training stopped early;
        ``held_out``, the final model's MSE on the held-out rows beside predicting the training mean and
        PCA at the code's width (scaled units); and ``warnings``, raised by ``fit`` as ``UserWarning`` too,
        when the model is no better than the mean or kept its first epoch.
    prior_ : hourglass.training.prior.Prior or None
        The Gaussian mixture over training codes that ``sample`` draws from; None for a VAE, which
        samples from its own N(0, I).
    kind_ : str
        ``"image"`` (fitted on an array of ndim > 2) or ``"table"``.
    sample_shape_ : tuple of int
        The shape of one sample: ``(n_features_in_,)`` for a table, e.g. ``(28, 28)`` for images.
    n_features_in_ : int
        Values per sample (pixels of an image).
    feature_names_in_ : np.ndarray of str
        The column names, only when fitted on a table with string column names (a pandas DataFrame).
    data_source_, data_options_ : str or None, dict or None
        When fitted on a ``hourglass.Dataset`` that names them (``hourglass train`` and ``fit-detector`` do):
        its source, and how it was read (``label``, an image folder's ``image_size`` and ``color`` ...); the
        commands read data for the model with these options unless told otherwise. None otherwise.
    runner_ : hourglass.inference.InferenceModel
        The network, its scaling and the data's facts, which every pass goes through; the attributes above
        that describe them are read from it.

    Examples
    --------
    >>> import numpy as np
    >>> import hourglass as hg
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> ae = hg.Autoencoder(latent_dim=2, hidden=(8,), epochs=2).fit(X)
    >>> ae.transform(X).shape
    (100, 2)
    >>> ae.reconstruct(X).shape, len(ae.history_.train)
    ((100, 5), 2)
    >>> ae.sample(3, seed=0).shape
    (3, 5)
    """

    _params = AUTOENCODER
    _parameter_specs: ClassVar[dict[str, Spec]] = AUTOENCODER.specs()

    def __init__(
        self,
        latent_dim: int = AUTOENCODER.latent_dim,
        hidden: Sequence[int] | None = AUTOENCODER.hidden,
        *,
        model: str = AUTOENCODER.model,
        activation: str = AUTOENCODER.activation,
        output_activation: str = AUTOENCODER.output_activation,
        scaling: str = AUTOENCODER.scaling,
        loss: str = AUTOENCODER.loss,
        epochs: int = AUTOENCODER.epochs,
        batch_size: int = AUTOENCODER.batch_size,
        lr: float = AUTOENCODER.lr,
        weight_decay: float = AUTOENCODER.weight_decay,
        validation_fraction: float = AUTOENCODER.validation_fraction,
        patience: int = AUTOENCODER.patience,
        seed: int = AUTOENCODER.seed,
        device: str = AUTOENCODER.device,
        verbose: bool = AUTOENCODER.verbose,
        noise: str | None = AUTOENCODER.noise,
        beta: float = AUTOENCODER.beta,
        structure: str | None = AUTOENCODER.structure,
        n_neighbors: int = AUTOENCODER.n_neighbors,
        structure_weight: float = AUTOENCODER.structure_weight,
        placement: str | None = AUTOENCODER.placement,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.model = model
        self.activation = activation
        self.output_activation = output_activation
        self.scaling = scaling
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.noise = noise
        self.beta = beta
        self.structure = structure
        self.n_neighbors = n_neighbors
        self.structure_weight = structure_weight
        self.placement = placement

    def fit(
        self, X: Any, y: Any = None, *, checkpoint_dir: str | os.PathLike | None = None, resume: bool = False
    ) -> Autoencoder:
        """Learn the scaling and the weights from ``X`` alone; ``y`` is ignored (unsupervised).

        ``X`` may be a ``hourglass.Dataset``: its source and read options are saved with the model.
        ``checkpoint_dir``: a folder where a checkpoint is written after every epoch (weights,
        optimiser, random state, history). With ``resume=True`` training
        continues from the checkpoint there, or starts afresh when there is none; a resumed fit
        ends with the same weights as an uninterrupted one. Under torchrun every process calls
        ``fit`` with the same ``X``; each trains on its own shard (see ``hourglass.training.distributed``).
        """
        self._validate_params()
        rows = training_rows(self, X)
        scaler = fit_scaler(rows, self.scaling, clip=self._clip_inputs)
        name = self.model
        if name == "auto":
            name = "conv" if rows.kind == "image" and suits_conv(rows.sample_shape) else "mlp"
        output = default_output(scaler.kind) if self.output_activation == "auto" else self.output_activation
        if self.loss == "bce" and output != "sigmoid":
            raise HourglassError("loss='bce' needs output_activation='sigmoid' (data scaled to [0, 1])")
        config = network_config(name, rows, self, output, {"beta": float(self.beta)})
        structure = None
        if self.structure == "neighbors":
            structure = Structure(n_neighbors=int(self.n_neighbors), weight=float(self.structure_weight))
        elif self.placement is not None:
            raise HourglassError("placement='neighbors' needs structure='neighbors' (the layout it places rows on)")
        settings = train_config(self, self.loss, structure)
        self.runner_, self.history_ = train_network(self, rows, scaler, name, config, settings, checkpoint_dir, resume)
        if self.placement == "neighbors" and structure is not None:  # fit refused placement without it above
            self.runner_.placement = fit_placement(
                self.runner_, structure, settings, int(self.n_neighbors), self.history_
            )
        self.prior_ = None if self.model_.learns_prior else code_prior(self.runner_, rows.flat, self.seed)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Encode rows (or images) to their codes Z, shape (n, latent_dim)."""
        return self.codes(X)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decode codes to rows in the original units, shape (n, n_features_in_)."""
        check_is_fitted(self)
        try:  # lists and tables become arrays as scikit-learn makes them; the runner checks the rest
            Z = check_array(Z, dtype=(np.float32, np.float64), ensure_all_finite=False)
        except ValueError as e:
            raise HourglassError(" ".join(str(e).split())) from None
        return self.runner_.inverse_transform(Z)

    def denoise(self, X: Any) -> np.ndarray:
        """Clean noisy X: the reconstruction of a model trained with ``noise``, in X's shape and units."""
        return self.reconstruct(X)

    def sample(self, n: int = 64, seed: int = 0) -> np.ndarray:
        """``n`` new examples shaped like the training samples: codes drawn from the prior, decoded.

        A VAE draws its codes from N(0, I), the prior it was trained towards. A plain autoencoder
        has no prior of its own, so ``fit`` fits a Gaussian mixture to the training codes (saved
        with the model). The same seed always gives the same samples.
        """
        check_is_fitted(self)
        validate(n, Int(1, MAX_SAMPLES), "sample", "n")
        validate(seed, SEED, "sample", "seed")
        if self.model_.learns_prior:
            codes = self.model_.prior_sample(int(n), seed)
        elif self.prior_ is None:
            raise HourglassError("this model was saved without a code prior; retrain it to sample")
        else:
            codes = self.prior_.sample(int(n), seed)
        return self.runner_.inverse_transform(codes.astype(np.float32)).reshape(int(n), *self.sample_shape_)

    def score_samples(self, X: Any) -> np.ndarray:
        """Negative mean squared reconstruction error per row, in scaled units (higher = more normal).

        Inputs are clipped to a window around the training range before the network sees them; the squared
        distance the clip removed is added to the error, so rows beyond the window keep their order (a row
        1e30 out scores below one 1e6 out; clipped alone, they tied). Rows inside the window are unchanged.
        """
        flat = self._rows(X)  # checks it is fitted first
        return self.runner_.neg_errors(flat)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
