"""Per-epoch checkpoints and ``hourglass train --resume``, including after a real SIGKILL."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import hourglass as hg
from hourglass.cli import main
from hourglass.training import checkpoint
from hourglass.training.state import History


def same_weights(a: hg.Autoencoder, b: hg.Autoencoder) -> bool:
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("params", [{}, {"model": "vae", "noise": "gaussian:0.2"}], ids=["mlp", "vae+noise"])
def test_resumed_fit_matches_an_uninterrupted_one_exactly(mnist7, tmp_path, params):
    """Weights, Adam state, learning-rate schedule and every random stream (shuffling, input
    noise, a VAE's sampling) come back, so stopping after 3 epochs and resuming to 8 is bit-identical."""
    X = mnist7.X[:1500]
    whole = hg.Autoencoder(epochs=8, patience=0, seed=3, **params).fit(X)
    hg.Autoencoder(epochs=3, patience=0, seed=3, **params).fit(X, checkpoint_dir=tmp_path)
    assert checkpoint.load(tmp_path).progress["epoch"] == 3
    resumed = hg.Autoencoder(epochs=8, patience=0, seed=3, **params).fit(X, checkpoint_dir=tmp_path, resume=True)
    assert same_weights(whole, resumed)
    assert resumed.history_.train == whole.history_.train and resumed.history_.val == whole.history_.val
    assert resumed.history_.parts == whole.history_.parts
    assert resumed.history_.best_epoch == whole.history_.best_epoch


def test_a_resume_between_learning_rate_cuts_matches_an_uninterrupted_fit(tmp_path):
    """The plateau schedule keeps no state of its own: the rate saved with the optimiser and the stale epochs
    in the progress bring back the cuts made and the ones still to come."""
    X = np.random.default_rng(0).normal(size=(300, 6)) * [1, 2, 3, 4, 5, 6]
    settings = {"hidden": (8,), "epochs": 16, "lr": 0.1, "patience": 0, "seed": 0}
    whole = hg.Autoencoder(**settings).fit(X)
    hg.Autoencoder(**{**settings, "epochs": 10}).fit(X, checkpoint_dir=tmp_path)
    saved = checkpoint.load(tmp_path)
    assert saved.progress["stale"] >= 4  # past at least one cut (every lr_patience = 4 stale epochs)
    assert saved.optimizer["param_groups"][0]["lr"] < settings["lr"]
    resumed = hg.Autoencoder(**settings).fit(X, checkpoint_dir=tmp_path, resume=True)
    assert same_weights(whole, resumed) and resumed.history_.train == whole.history_.train


def test_a_checkpoint_of_another_format_version_is_refused_in_one_line(mnist7, tmp_path):
    hg.Autoencoder(hidden=(8,), epochs=1).fit(mnist7.X[:300], checkpoint_dir=tmp_path)
    path = tmp_path / checkpoint.FILE
    with safe_open(str(path), framework="pt") as f:
        header, tensors = json.loads(f.metadata()["hourglass"]), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    for version, age in ((checkpoint.FORMAT_VERSION - 1, "an older"), (checkpoint.FORMAT_VERSION + 1, "a newer")):
        save_file(tensors, str(path), metadata={"hourglass": json.dumps({**header, "format_version": version})})
        with pytest.raises(hg.HourglassError, match=f"format version {version}, from {age} hourglass") as info:
            hg.Autoencoder(hidden=(8,), epochs=2).fit(mnist7.X[:300], checkpoint_dir=tmp_path, resume=True)
        assert "\n" not in str(info.value) and "to start over" in str(info.value)


def test_resume_without_a_checkpoint_starts_afresh_and_an_early_stop_stays_stopped(mnist7, tmp_path):
    X = mnist7.X[:800]
    fresh = hg.Autoencoder(epochs=5, seed=1).fit(X, checkpoint_dir=tmp_path / "new", resume=True)
    assert len(fresh.history_.train) == 5 and (tmp_path / "new" / checkpoint.FILE).is_file()
    stopped = hg.Autoencoder(epochs=200, patience=2, lr=0.5, seed=1).fit(X, checkpoint_dir=tmp_path / "s")
    assert stopped.history_.stopped_early
    again = hg.Autoencoder(epochs=200, patience=2, lr=0.5, seed=1).fit(X, checkpoint_dir=tmp_path / "s", resume=True)
    assert again.history_.train == stopped.history_.train and same_weights(again, stopped)


def test_resume_refuses_a_different_run_and_a_corrupt_checkpoint(mnist7, tmp_path, capsys):
    data = tmp_path / "digits.npy"
    np.save(data, mnist7.X[:600])
    out = tmp_path / "runs" / "d"
    assert main(["train", str(data), "--out", str(out), "--epochs", "2", "--quiet", "--keep-checkpoint"]) == 0
    assert (tmp_path / "runs" / "d.ckpt" / checkpoint.FILE).is_file()
    assert main(["train", str(data), "--out", str(out), "--epochs", "4", "--latent", "3", "--resume", "--quiet"]) == 2
    assert "different run (model settings)" in capsys.readouterr().err
    assert main(["train", str(data), "--out", str(out), "--epochs", "4", "--seed", "5", "--resume", "--quiet"]) == 2
    assert "seed 0 -> 5" in capsys.readouterr().err
    (tmp_path / "runs" / "d.ckpt" / checkpoint.FILE).write_bytes(b"\x00" * 100)
    assert main(["train", str(data), "--out", str(out), "--epochs", "4", "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unreadable checkpoint" in err and "delete" in err and len(err.strip().splitlines()) == 1
    # Without --resume the broken checkpoint is simply replaced.
    assert main(["train", str(data), "--out", str(out), "--epochs", "3", "--quiet", "--keep-checkpoint"]) == 0
    assert checkpoint.load(tmp_path / "runs" / "d.ckpt").progress["epoch"] == 3


def test_a_finished_run_removes_its_checkpoint_unless_asked_to_keep_it(mnist7, tmp_path, capsys):
    """The checkpoint is for resuming an interrupted run (the SIGKILL test below); a finished one needs none."""
    data = tmp_path / "digits.npy"
    np.save(data, mnist7.X[:300])
    out = tmp_path / "runs" / "d"
    assert main(["train", str(data), "--out", str(out), "--epochs", "2"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["d"] and "checkpoint" not in capsys.readouterr().out
    assert main(["train", str(data), "--out", str(out), "--epochs", "2", "--keep-checkpoint"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["d", "d.ckpt"]
    assert f"checkpoint kept in {out.parent / 'd.ckpt'}" in capsys.readouterr().out
    # Going on from the kept checkpoint, to the end: nothing is left to resume, so it goes.
    assert main(["train", str(data), "--out", str(out), "--epochs", "4", "--resume", "--quiet"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["d"] and len(hg.load(out).history_.train) == 4


def test_checkpoints_are_written_at_most_once_a_second_and_after_the_last_epoch(mnist7, tmp_path, monkeypatch):
    """A small table's epochs take milliseconds: writing every one would cost more than the training."""
    from hourglass.training import resume

    written = []
    real = checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda *a, **k: written.append(k["progress"]["epoch"]) or real(*a, **k))
    hg.Autoencoder(hidden=(8,), epochs=12, patience=0).fit(mnist7.X[:200], checkpoint_dir=tmp_path / "fast")
    assert written[-1] == 12 and len(written) < 12
    written.clear()
    monkeypatch.setattr(resume, "CHECKPOINT_SECONDS", 0.0)
    hg.Autoencoder(hidden=(8,), epochs=3, patience=0).fit(mnist7.X[:200], checkpoint_dir=tmp_path / "every")
    assert written == [1, 2, 3]


def test_sigkill_mid_epoch_then_resume_ends_with_the_uninterrupted_model(tmp_path):
    """A real ``python -m hourglass train`` is killed with SIGKILL in the middle of an epoch and
    resumed: the model folder is complete, the history has every epoch, no temporary file is
    left, and the weights equal those of a run that was never interrupted."""
    rng = np.random.default_rng(0)
    # 60,000 noisy 7x7 images: an epoch takes a good fraction of a second on one thread.
    base = hg.load_dataset("mnist7").X
    X = np.clip(base[rng.integers(0, len(base), 60_000)] + rng.integers(-20, 21, (60_000, 7, 7)), 0, 255)
    X = X.astype(np.uint8)
    np.save(tmp_path / "big.npy", X)
    out, folder = tmp_path / "runs" / "big", tmp_path / "runs" / "big.ckpt"
    cmd = [sys.executable, "-m", "hourglass", "train", "big.npy", "--out", str(out), "--epochs", "5"]
    cmd += ["--patience", "0", "--seed", "4", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        # Checkpoints come after an epoch, at most once a second (an epoch here takes about that long).
        start = time.monotonic()
        _wait_for_new_checkpoint(folder, None, proc)
        time.sleep(min(0.3, (time.monotonic() - start) / 4))  # into the next epoch
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()
    assert not out.exists()  # killed before the end: no model folder, not a half-written one
    done_before = checkpoint.load(folder).progress["epoch"]
    assert 1 <= done_before < 5

    resumed = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    model = hg.load(out)
    assert len(model.history_.train) == len(model.history_.val) == 5
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [] and not folder.exists()  # the finished run needs no checkpoint

    uninterrupted = hg.Autoencoder(epochs=5, patience=0, seed=4).fit(X)
    assert same_weights(model, uninterrupted)
    assert model.history_.train == uninterrupted.history_.train


def _wait_for_new_checkpoint(folder, previous, proc, timeout: float = 90) -> tuple:
    """Poll until the checkpoint file is replaced (its inode and mtime change); returns the new stamp."""
    path = folder / checkpoint.FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            st = path.stat()
            stamp = (st.st_ino, st.st_mtime_ns)
            if stamp != previous:
                return stamp
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"no new checkpoint in {folder} within {timeout} s")


def test_resume_refuses_other_data_of_the_same_shape_and_other_noise(mnist7, tmp_path):
    X = mnist7.X[:600]
    hg.Autoencoder(epochs=2, noise="gaussian:0.1").fit(X, checkpoint_dir=tmp_path)
    other = mnist7.X[600:1200]  # same shape, same 0..255 range: the scaler alone cannot tell them apart
    with pytest.raises(hg.HourglassError, match="different run \\(data "):
        hg.Autoencoder(epochs=4, noise="gaussian:0.1").fit(other, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(hg.HourglassError, match=re.escape("noise 'gaussian:0.1' -> 'gaussian:0.9'")):
        hg.Autoencoder(epochs=4, noise="gaussian:0.9").fit(X, checkpoint_dir=tmp_path, resume=True)


def test_an_early_stopped_run_resumes_with_a_larger_patience(mnist7, tmp_path):
    X = mnist7.X[:800]
    stopped = hg.Autoencoder(epochs=60, patience=2, lr=0.5, seed=1).fit(X, checkpoint_dir=tmp_path)
    assert stopped.history_.stopped_early and len(stopped.history_.train) < 60
    more = hg.Autoencoder(epochs=len(stopped.history_.train) + 3, patience=0, lr=0.5, seed=1)
    more.fit(X, checkpoint_dir=tmp_path, resume=True)
    assert len(more.history_.train) == len(stopped.history_.train) + 3 and not more.history_.stopped_early


def test_a_damaged_progress_section_is_one_clear_error(mnist7, tmp_path):
    assert {f.name for f in dataclasses.fields(History)} == set(checkpoint.HISTORY_SCHEMA)
    hg.Autoencoder(epochs=1).fit(mnist7.X[:300], checkpoint_dir=tmp_path)
    path = tmp_path / checkpoint.FILE
    with safe_open(str(path), framework="pt") as f:
        header, tensors = json.loads(f.metadata()["hourglass"]), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    for damage in (
        {"progress": {"epoch": 1}},
        {"format_version": None},
        {"progress": {**header["progress"], "history": []}},
    ):
        save_file(tensors, str(path), metadata={"hourglass": json.dumps({**header, **damage})})
        with pytest.raises(hg.HourglassError, match="unreadable checkpoint"):
            hg.Autoencoder(epochs=2).fit(mnist7.X[:300], checkpoint_dir=tmp_path, resume=True)


def test_starting_over_discards_the_old_checkpoint_at_once(mnist7, tmp_path):
    X = mnist7.X[:600]
    hg.Autoencoder(epochs=2).fit(X, checkpoint_dir=tmp_path)
    # The new run dies before its first checkpoint: nothing of the old run is left for --resume to pick up.
    with pytest.raises(hg.HourglassError, match="diverged at epoch 1"):
        hg.Autoencoder(epochs=2, lr=1e30).fit(X, checkpoint_dir=tmp_path)
    assert checkpoint.load(tmp_path) is None
