"""FusedAdam: torch.optim.Adam(fused=True)'s numbers and state, without importing torch._dynamo."""

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from hourglass.training.adam import FusedAdam


def network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.GELU(), nn.Linear(16, 2), nn.Linear(2, 16), nn.GELU(), nn.Linear(16, 12))


def train(model: nn.Module, optimizer: FusedAdam | torch.optim.Optimizer, epochs: int = 4) -> None:
    """Steps with the learning rate cut after every epoch, as the training loop's schedule sets it."""
    X = torch.randn(256, 12, generator=torch.Generator().manual_seed(1))
    for _ in range(epochs):
        for i in range(0, len(X), 32):
            optimizer.zero_grad(set_to_none=True)
            ((model(X[i : i + 32]) - X[i : i + 32]) ** 2).mean().backward()
            optimizer.step()
        for group in optimizer.param_groups:
            group["lr"] *= 0.3


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_the_same_weights_and_state_as_torchs_fused_adam(weight_decay):
    ours, theirs = network(), network()
    mine = FusedAdam(ours.parameters(), lr=1e-2, weight_decay=weight_decay)
    reference = torch.optim.Adam(theirs.parameters(), lr=1e-2, weight_decay=weight_decay, fused=True)
    train(ours, mine)
    train(theirs, reference)
    assert same(ours.state_dict(), theirs.state_dict())
    a, b = mine.state_dict(), reference.state_dict()
    assert a["param_groups"] == b["param_groups"] and a["param_groups"][0]["lr"] < 1e-2  # the plateau cut it
    assert a["state"].keys() == b["state"].keys() and all(same(a["state"][i], b["state"][i]) for i in a["state"])


def test_state_moves_between_it_and_torchs_adam_either_way():
    """Checkpoints written before FusedAdam (torch's layout) resume into it, and the other way round."""
    start, ours, theirs = network(), network(), network()
    train(start, torch.optim.Adam(start.parameters(), lr=1e-2, fused=True), epochs=1)
    saved = torch.optim.Adam(start.parameters(), lr=1e-2, fused=True)
    train(start, saved, epochs=1)
    for model in (ours, theirs):
        model.load_state_dict(start.state_dict())
    mine = FusedAdam(ours.parameters(), lr=1e-2)
    mine.load_state_dict(saved.state_dict())
    reference = torch.optim.Adam(theirs.parameters(), lr=1e-2, fused=True)
    reference.load_state_dict(copy.deepcopy(mine.state_dict()))  # a copy, as a checkpoint file is: no shared moments
    train(ours, mine, epochs=2)
    train(theirs, reference, epochs=2)
    assert same(ours.state_dict(), theirs.state_dict())


def test_training_imports_no_torch_dynamo(tmp_path):
    """torch.optim's Optimizer imports torch._dynamo on construction, step and state_dict: seconds a run."""
    script = (
        "import sys, numpy as np, hourglass as hg\n"
        "X = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)\n"
        f"hg.Autoencoder(hidden=(8,), epochs=3).fit(X, checkpoint_dir={str(tmp_path)!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"
