"""The CUDA path, end to end, on a machine with a GPU (not part of CI, which has none).

Run: ``PYTHONPATH=src python scripts/cuda_check.py`` (needs torch with CUDA). It trains each model kind on
``device="cuda"``, with and without ``structure="neighbors"``, and checks: the same seed gives the same
weights, the global RNG is left as it was, save/load round trips, the light inference path (what
``hourglass encode`` runs) gives the estimator's numbers, a detector fits and scores, and CPU and CUDA
codes agree to float32 tolerance for the same weights. Prints one line per check; exits 1 on a failure.
"""

from __future__ import annotations

import sys
import tempfile
import time

import numpy as np
import torch

import hourglass as hg
from hourglass.anomaly import AnomalyDetector
from hourglass.inference import InferenceModel

failures: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}", flush=True)
    if not ok:
        failures.append(name)


def main() -> int:
    assert torch.cuda.is_available(), "no CUDA device"
    print(torch.__version__, torch.cuda.get_device_name(0))
    X = hg.load_dataset("mnist7").X[:3000]
    for kind in ("mlp", "conv", "vae"):
        for structure in (None, "neighbors"):
            settings = dict(latent_dim=2, model=kind, epochs=8, seed=0, device="cuda", structure=structure)
            state = torch.cuda.get_rng_state()
            start = time.perf_counter()
            a = hg.Autoencoder(**settings).fit(X)
            seconds = time.perf_counter() - start
            check(f"{kind}/{structure}: global CUDA RNG untouched", torch.equal(state, torch.cuda.get_rng_state()))
            b = hg.Autoencoder(**settings).fit(X)
            pairs = zip(a.model_.state_dict().values(), b.model_.state_dict().values(), strict=True)
            same = all(torch.equal(p, q) for p, q in pairs)
            check(f"{kind}/{structure}: same seed, same weights", same, f"(fit {seconds:.1f} s)")
            with tempfile.TemporaryDirectory() as folder:
                a.save(folder)
                back = hg.load(folder)
                check(f"{kind}/{structure}: save/load", np.array_equal(a.transform(X), back.transform(X)))
                light = InferenceModel.load(folder)
                check(f"{kind}/{structure}: inference path", np.array_equal(light.transform(X), back.transform(X)))
                cpu = hg.load(folder)
                cpu.model_.to("cpu")
                gap = float(np.abs(cpu.transform(X) - a.transform(X)).max())
                check(f"{kind}/{structure}: CPU vs CUDA codes", gap < 1e-3, f"(max gap {gap:.2e})")
    det = AnomalyDetector(device="cuda", seed=0).fit(X)
    scores = det.score_samples(X)
    check("detector on CUDA", np.isfinite(scores).all() and det.p_values(X[:100]).max() <= 1)
    print("failures:", failures or "none")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
