"""Folders the user already has (issue 21, points 3 and 7): a write never loses an entry hourglass did not
write there, and two writers of one target never break each other: the second stops at once, naming the first."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import hourglass as hg
from hourglass import atomic
from hourglass.anomaly import AnomalyDetector
from hourglass.cli import main
from hourglass.training import checkpoint

TRAIN = ["--epochs", "1", "--hidden", "8", "--quiet"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """An image model, a detector and their data, made once; tests only read them."""
    root = tmp_path_factory.mktemp("inputs")
    X = hg.load_dataset("mnist7").X[:200]
    np.save(root / "images.npy", X)
    img = hg.Autoencoder(hidden=(8,), epochs=2).fit(X)
    img.save(root / "img")
    np.save(root / "codes.npy", img.transform(X[:5]))
    table = pd.DataFrame(np.random.default_rng(0).normal(size=(120, 4)), columns=list("abcd"))
    AnomalyDetector(hidden=(8,), epochs=2, n_members=2).fit(table).save(root / "det")
    table["label"] = np.arange(120) % 10 == 0
    table.to_csv(root / "table.csv", index=False)
    names = {"img": "img", "det": "det", "images": "images.npy", "codes": "codes.npy", "table": "table.csv"}
    return {k: str(root / v) for k, v in names.items()}


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``root`` with its mode and, for a file, its bytes."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            seen[str(path.relative_to(root))] = (path.lstat().st_mode, None if path.is_dir() else path.read_bytes())
    return seen


def add_users_things(folder: Path) -> None:
    """What a user keeps beside hourglass's files: a note and a sub-folder of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("my notes on this run\n")
    (folder / "mine").mkdir()
    (folder / "mine" / "data.csv").write_text("a,b\n1,2\n")


def users_things(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k.split(os.sep)[-1] in ("notes.txt", "mine", "data.csv")}


def cli(args: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


# Commands that replace a whole folder of theirs: re-run over an earlier output holding the user's things,
# each must refuse (exit 2, one line naming them) and leave the folder as it was.
FOLDER_COMMANDS = {
    "train --out": ["train", "{images}", *TRAIN, "--out", "{out}"],
    "fit-detector --out": ["fit-detector", "{table}", "--label", "label", *TRAIN, "--out", "{out}"],
    "export -o": ["export", "{img}", "-o", "{out}"],
    "plot -o": ["plot", "{img}", "{images}", "--grid", "3", "--only", "loss,reconstructions", "-o", "{out}"],
    "decode -o folder": ["decode", "{img}", "{codes}", "-o", "{out}"],
    "reconstruct -o folder": ["reconstruct", "{img}", "{images}", "-o", "{out}"],
}


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_a_folder_holding_the_users_things_is_refused_and_left_as_it_was(command, inputs, tmp_path, capsys):
    if command.startswith("export"):
        pytest.importorskip("onnxscript")
    out = tmp_path / "out"
    args = [a.format(out=out, **inputs) for a in FOLDER_COMMANDS[command]]
    if "folder" not in command:  # an earlier output of the same command: the folder it may replace
        assert cli(args, capsys)[0] == 0
    add_users_things(out)
    before = snapshot(tmp_path)
    code, err = cli(args, capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "mine" in lines[0] and "notes.txt" in lines[0], err
    assert snapshot(tmp_path) == before


def test_a_model_save_refuses_a_model_folder_holding_the_users_things(inputs, tmp_path):
    out = tmp_path / "model"
    model = hg.load(inputs["img"])
    model.save(out, extra_files={"loss_curve.png": b"png"})
    add_users_things(out)
    before = snapshot(tmp_path)
    with pytest.raises(hg.HourglassError, match=r"holds mine, notes\.txt, which hourglass did not write"):
        model.save(out)
    assert snapshot(tmp_path) == before
    (out / "notes.txt").unlink()
    (out / "mine" / "data.csv").unlink()
    (out / "mine").rmdir()
    model.save(out)  # its own files only, the loss curve of an earlier save included: replaced
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]


def test_a_users_entry_that_appears_during_the_write_brings_the_old_folder_back(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "manifest.json").write_text("old")
    with (
        pytest.raises(hg.HourglassError, match=r"holds notes\.txt"),
        atomic.atomic_dir(target, own=["manifest.json"]) as tmp,
    ):
        (tmp / "manifest.json").write_text("new")
        (target / "notes.txt").write_text("written while the export was built")
    assert os.listdir(tmp_path) == ["export"]  # the new folder, set aside, is gone
    assert (target / "manifest.json").read_text() == "old"
    assert (target / "notes.txt").read_text() == "written while the export was built"


# Commands that write files into a folder of the user's: everything of the user's is there afterwards,
# byte for byte, and nothing else is left beside it (a lock, a temporary file).
FILE_COMMANDS = {
    "explore -o": (["explore", "{img}", "{images}", "-o", "{out}/page.html"], ["page.html"]),
    "evaluate-denoise -o": (
        ["evaluate-denoise", "{img}", "{images}", "--noise", "gaussian:0.1", "-o", "{out}/denoise.png"],
        ["denoise.png"],
    ),
    "evaluate-anomaly --plot": (
        ["evaluate-anomaly", "{det}", "{table}", "--label", "label", "--plot", "{out}/hist.png"],
        ["hist.png"],
    ),
    "score -o": (["score", "{det}", "{table}", "--label", "label", "-o", "{out}/scores.csv"], ["scores.csv"]),
    "train --out (a new model beside the user's things)": (
        ["train", "{images}", *TRAIN, "--out", "{out}/model"],
        ["model"],
    ),
}


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_files_written_into_the_users_folder_leave_everything_else_as_it_was(command, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    add_users_things(out)
    before = snapshot(out)
    args, written = FILE_COMMANDS[command]
    code, err = cli([a.format(out=out, **inputs) for a in args], capsys)
    assert code == 0, err
    after = snapshot(out)
    assert users_things(after) == users_things(before)
    assert sorted(os.listdir(out)) == sorted(["notes.txt", "mine", *written])


def test_the_demo_keeps_the_users_things_in_its_folder_and_refuses_them_in_its_model(tmp_path, monkeypatch, capsys):
    from hourglass.demo import story

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(story, "QUICK_EPOCHS", 2)  # what is written where, not how good the models are
    assert cli(["demo", "--quick", "--quiet", "--out", "demo"], capsys)[0] == 0
    add_users_things(tmp_path / "demo")
    before = snapshot(tmp_path)
    assert cli(["demo", "--quick", "--quiet", "--out", "demo"], capsys)[0] == 0
    assert users_things(snapshot(tmp_path)) == users_things(before)
    assert not [n for n in os.listdir(tmp_path / "demo") if n.endswith((".lock", ".tmp"))]
    add_users_things(tmp_path / "demo" / "model")
    before = snapshot(tmp_path)
    code, err = cli(["demo", "--quick", "--quiet", "--out", "demo"], capsys)
    assert code == 2 and "notes.txt" in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------ two writers of one target
def _env() -> dict[str, str]:
    src = str(Path(hg.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.mark.parametrize("command", ["train", "fit-detector"])
def test_a_second_training_into_the_same_folder_stops_at_once_naming_the_first(command, tmp_path):
    np.save(tmp_path / "data.npy", np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32))
    cmd = [sys.executable, "-m", "hourglass", command, "data.npy", "--epochs", "20", "--hidden", "16"]
    cmd += ["--patience", "0"] if command == "train" else []
    cmd += ["--quiet", "--out", "model"]
    first = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        # Freeze the first once it is writing (holds the lock, or has checkpointed), so that the second
        # surely starts while the first is mid-run.
        deadline = time.monotonic() + 120
        signs = (tmp_path / ".model.lock", tmp_path / "model.ckpt" / checkpoint.FILE)
        while not any(p.exists() for p in signs) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        first.send_signal(signal.SIGSTOP)
        second = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    err = first.communicate(timeout=300)[1]
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip()
    assert f"model is being written by PID {first.pid} (hourglass {command} data.npy" in line and "started at" in line
    assert len(hg.load(tmp_path / "model").history_.train) > 1  # the first's model, whole
    assert sorted(os.listdir(tmp_path)) == ["data.npy", "model"]  # no lock, no checkpoint left


def test_a_lock_left_by_a_dead_process_is_taken_over_and_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / ".model.lock"
    stale.write_text(json.dumps({"pid": int(dead.stdout), "command": "hourglass train x", "started": "then"}))
    with atomic.lock(tmp_path / "model"):
        assert json.loads(stale.read_text())["pid"] == os.getpid()
    assert not stale.exists()


def test_a_checkpoint_write_leaves_a_live_process_temporary_file_alone(tmp_path):
    # Two processes checkpointing into one folder: each write used to delete every temporary file there,
    # the other's half-written one included, which then failed to rename ("vanished checkpoint temp file").
    folder = tmp_path / "model.ckpt"
    folder.mkdir()
    others = folder / f".{checkpoint.FILE}.{os.getppid()}.abcdefgh.tmp"  # a live process's write in progress
    others.write_bytes(b"half written")
    state = {"w": torch.zeros(2)}
    checkpoint.save(
        folder,
        run={},
        progress={},
        model=state,
        best_state=state,
        optimizer={"state": {}, "param_groups": []},
        rng=[],
    )
    assert others.read_bytes() == b"half written"
    mine = folder / "notes.txt"
    mine.write_text("mine")
    checkpoint.remove(folder)  # what train does once the model is written
    assert sorted(os.listdir(folder)) == [others.name, "notes.txt"]


def test_only_hourglass_names_their_litter_and_file_browser_caches_count_as_its_own(tmp_path):
    from hourglass.storage.modelfile import OWN_FILES

    ours = ["config.json", f".config.json.{os.getpid()}.abcdefgh.tmp", ".model.safetensors.12.old", ".DS_Store"]
    theirs = [".config.json.bak", "config.json.orig", "notes.txt", "model.safetensors.d"]
    for name in ours + theirs:
        (tmp_path / name).write_text("")
    assert atomic.foreign_entries(tmp_path, OWN_FILES) == sorted(theirs)
    with pytest.raises(hg.HourglassError, match=r"holds \.config\.json\.bak, config\.json\.orig, model\.safe"):
        atomic.refuse_foreign(tmp_path, OWN_FILES)
