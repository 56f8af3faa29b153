"""A digest of what training produces, so a refactor can show the weights did not change by one bit.

Run: ``python scripts/weights_digest.py > before.txt``, change the code, run it again and ``diff``. Each line
is one small fit (every estimator, model family and training option that takes its own path through the
loop, a resumed fit among them) and the SHA-256 of its weights, its codes on the training rows and its
history, in tensor order by name.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import warnings

import numpy as np

import hourglass as hg
from hourglass.anomaly import AnomalyDetector


def digest(estimator, X) -> str:
    h = hashlib.sha256()
    state = estimator.model_.state_dict()
    for name in sorted(state):
        h.update(state[name].detach().cpu().numpy().tobytes())
    # Codes on the training rows: an Autoencoder's transform, and a detector's too (which has no transform).
    h.update(np.ascontiguousarray(estimator.codes(X)).tobytes())
    h.update(np.asarray(estimator.history_.train, dtype=np.float64).tobytes())
    h.update(np.asarray(estimator.history_.val, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    warnings.simplefilter("ignore")
    digits = hg.load_dataset("mnist7")
    X, images = digits.X[:600].reshape(600, -1), digits.X[:300]
    rng = np.random.default_rng(0)
    table = rng.normal(size=(400, 6)) * [1, 2, 3, 4, 5, 6]
    big = rng.random((200, 20, 20)).astype(np.float32)
    cases = {
        "mlp": (lambda: hg.Autoencoder(epochs=4), X),
        "mlp-table": (lambda: hg.Autoencoder(epochs=4, hidden=(16,)), table),
        "vae": (lambda: hg.Autoencoder(model="vae", epochs=3), X),
        "conv": (lambda: hg.Autoencoder(epochs=2, hidden=(4, 8)), big),
        "images-7x7": (lambda: hg.Autoencoder(epochs=3), images),
        "neighbors": (lambda: hg.Autoencoder(epochs=3, structure="neighbors"), X),
        "denoiser": (lambda: hg.Autoencoder(epochs=3, noise="gaussian:0.3+mask:0.1"), X),
        "plateau": (lambda: hg.Autoencoder(epochs=12, lr=0.5, patience=3), table),
        "detector": (lambda: AnomalyDetector(epochs=4), table),
        "detector-noforest": (lambda: AnomalyDetector(epochs=3, iforest=False, n_members=2), X),
    }
    only = set(sys.argv[1:])
    for name, (make, data) in cases.items():
        if only and name not in only:
            continue
        print(name, digest(make().fit(data), data), flush=True)
    if not only or "resumed" in only:
        with tempfile.TemporaryDirectory() as folder:
            first = hg.Autoencoder(epochs=2, patience=0).fit(X, checkpoint_dir=os.path.join(folder, "ck"))
            del first
            resumed = hg.Autoencoder(epochs=5, patience=0).fit(
                X, checkpoint_dir=os.path.join(folder, "ck"), resume=True
            )
        print("resumed", digest(resumed, X), flush=True)


if __name__ == "__main__":
    main()
