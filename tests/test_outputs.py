"""Output paths: every command that writes refuses a bad one in one line, before any work, touching nothing;
killed saves leave no lasting litter, symbolic links are written through, the demo keeps out of the user's folders."""

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import hourglass as hg
from hourglass.anomaly import AnomalyDetector
from hourglass.atomic import remove_stale_siblings
from hourglass.cli import main
from hourglass.cli import plot as plot_cli
from hourglass.demo import story
from hourglass.params import FIGURE_FILES

# Each writing command with one output left as {out}, what that output is (a folder; a file; rows: a file,
# or a new folder of PNGs) and the file type a good output has.
FOLDER, FILE, ROWS = "folder", "file", "rows"
COMMANDS = {
    "train": (["train", "{images}", "--epochs", "1", "--hidden", "8", "--quiet", "--out", "{out}"], FOLDER, ""),
    "fit-detector": (
        ["fit-detector", "{table}", "--label", "label", "--epochs", "1", "--hidden", "8", "--quiet", "--out", "{out}"],
        FOLDER,
        "",
    ),
    "encode": (["encode", "{img}", "{images}", "-o", "{out}"], FILE, ".csv"),
    "decode": (["decode", "{img}", "{codes}", "-o", "{out}"], ROWS, ".npy"),
    "reconstruct": (["reconstruct", "{img}", "{images}", "-o", "{out}"], ROWS, ".npy"),
    "denoise": (["denoise", "{img}", "{images}", "-o", "{out}"], ROWS, ".npy"),
    "evaluate-denoise": (
        ["evaluate-denoise", "{img}", "{images}", "--noise", "gaussian:0.1", "-o", "{out}"],
        FILE,
        ".png",
    ),
    "score": (["score", "{det}", "{table}", "--label", "label", "-o", "{out}"], FILE, ".csv"),
    "evaluate-anomaly": (
        ["evaluate-anomaly", "{det}", "{table}", "--label", "label", "--plot", "{out}"],
        FILE,
        ".png",
    ),
    "plot": (["plot", "{img}", "{images}", "--grid", "3", "-o", "{out}"], FOLDER, ""),
    "interpolate": (["interpolate", "{img}", "{images}", "--from", "0", "--to", "1", "-o", "{out}"], ROWS, ".gif"),
    "interpolate --map": (
        ["interpolate", "{img}", "{images}", "--from", "0", "--to", "1", "-o", "walk.npy", "--map", "{out}"],
        FILE,
        ".png",
    ),
    "sample": (["sample", "{img}", "-n", "4", "-o", "{out}"], ROWS, ".npy"),
    "demo": (["demo", "--quiet", "--out", "{out}"], FOLDER, ""),
    "explore": (["explore", "{img}", "{images}", "-o", "{out}"], FILE, ".html"),
    "export": (["export", "{img}", "-o", "{out}"], FOLDER, ""),
}
# An input of the command that is a file its output could otherwise replace.
SAME_AS_INPUT = {"encode": "{images}", "decode": "{codes}", "reconstruct": "{images}", "score": "{table}"}


def bad_outputs(command: str) -> dict[str, tuple[str, str]]:
    """Output paths that must be refused, with a pattern the error must match; built from the command's kind."""
    _, kind, ext = COMMANDS[command]
    cases = {
        "dot": (".", r"'\.'"),
        "dotdot": ("..", r"'\.'"),
        "empty": ("", r"''"),
        "up from a new folder": ("new/..", r"'\.'"),
        "under a file": (f"afile.txt/out{ext}", "which is a file"),
        "deep under a file": (f"afile.txt/a/b/out{ext}", "which is a file"),
        "broken link": (f"broken{ext}", "broken symbolic link"),
    }
    if kind == FILE:
        cases["existing folder"] = ("userdir", "is a folder")
        cases["empty folder"] = ("emptydir", "is a folder")
        cases["link to a folder"] = ("dirlink", "is a folder")
    else:  # a folder output may be new or empty, never the user's
        cases["user's folder"] = ("userdir", "exists and is not")
        cases["link to the user's folder"] = ("dirlink", "exists and is not")
    if kind == FOLDER:
        cases["a file"] = ("afile.txt", "is a file")
    else:
        cases["unknown type"] = ("out.xyz", "unsupported output")
    if command in SAME_AS_INPUT:
        cases["same as an input"] = (SAME_AS_INPUT[command], "input")
    if _chmod_works():
        cases["unwritable folder"] = (f"readonly/out{ext}", "permission denied")
    return cases


@functools.cache
def _chmod_works() -> bool:
    """Whether a 0500 folder is unwritable here (root writes into it regardless)."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o500)
        try:
            return not os.access(folder, os.W_OK)
        finally:
            os.chmod(folder, 0o700)


CORPUS = [pytest.param(c, case) for c in COMMANDS for case in bad_outputs(c)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """An image model, a detector and their data, made once; tests only read them."""
    root = tmp_path_factory.mktemp("inputs")
    X = hg.load_dataset("mnist7").X[:300]
    np.save(root / "images.npy", X)
    img = hg.Autoencoder(hidden=(8,), epochs=2).fit(X)
    img.save(root / "img")
    np.save(root / "codes.npy", img.transform(X[:5]))
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(120, 4)), columns=list("abcd"))
    AnomalyDetector(hidden=(8,), epochs=2, n_members=2).fit(table).save(root / "det")
    table["label"] = np.arange(120) % 10 == 0
    table.to_csv(root / "table.csv", index=False)
    names = {"img": "img", "det": "det", "images": "images.npy", "codes": "codes.npy", "table": "table.csv"}
    return root, {k: str(root / v) for k, v in names.items()}


@pytest.fixture
def work(tmp_path, monkeypatch):
    """The current folder, holding things of the user's that outputs must leave alone."""
    work = tmp_path / "work"
    (work / "userdir").mkdir(parents=True)
    (work / "userdir" / "report.html").write_text("mine")
    (work / "emptydir").mkdir()
    (work / "afile.txt").write_text("mine")
    (work / "readonly").mkdir()
    (work / "readonly").chmod(0o500)
    for name in ("broken", "broken.csv", "broken.npy", "broken.png", "broken.gif", "broken.html"):
        (work / name).symlink_to("nowhere")
    (work / "dirlink").symlink_to("userdir")
    monkeypatch.chdir(work)
    yield work
    (work / "readonly").chmod(0o700)


def snapshot(*roots) -> dict:
    """Every entry under ``roots`` with its type, size and mtime (a folder's mtime changes when an entry
    is created in it, even one deleted again)."""
    seen = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                st = os.lstat(name)
                seen[name] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return seen


def no_work(monkeypatch) -> None:
    """Make any training, encoding, decoding or scoring fail the test: bad outputs are refused before work."""

    def boom(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    for cls in (hg.Autoencoder, AnomalyDetector):
        for name in ("fit", "transform", "inverse_transform", "reconstruct", "denoise", "sample", "score_samples"):
            if name in vars(cls):
                monkeypatch.setattr(cls, name, boom)
    monkeypatch.setattr(story, "train_demo", boom)


def run_cli(args, capsys) -> tuple[int, list[str]]:
    code = main(args)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip() and not line.startswith("hourglass: warning:")]


@pytest.mark.parametrize(("command", "case"), CORPUS)
def test_every_writing_command_refuses_a_bad_output_before_any_work(command, case, inputs, work, monkeypatch, capsys):
    root, paths = inputs
    out, message = bad_outputs(command)[case]
    args = [a.format(out=out, **paths) for a in COMMANDS[command][0]]
    args = [a.format(**paths) for a in args]  # SAME_AS_INPUT names an input
    no_work(monkeypatch)
    before = snapshot(work.parent, root)
    code, lines = run_cli(args, capsys)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("hourglass: error:"), lines
    assert re.search(message, lines[0]), lines[0]
    assert snapshot(work.parent, root) == before, "the command wrote or changed something"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("demo", "explore")])
def test_every_writing_command_writes_a_good_output(command, inputs, work, capsys):
    """The corpus above is only worth something if the same commands succeed with a good path."""
    _, paths = inputs
    template, _, ext = COMMANDS[command]
    out = f"good{ext}"
    code = main([a.format(out=out, **paths) for a in template])
    assert code == 0, capsys.readouterr().err
    assert (work / out).exists()
    assert not [p.name for p in work.iterdir() if p.name.startswith(".")]


def test_unwritable_folder_on_a_read_only_mount(inputs, tmp_path):
    """A read-only bind mount refuses writes even to root; made in a private user and mount namespace."""
    _, paths = inputs
    ro = tmp_path / "ro"
    ro.mkdir()
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no unprivileged user namespaces here")
    mount = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    runs = [  # a file output and a folder output, in one process to start Python once
        ["encode", paths["img"], paths["images"], "-o", str(ro / "z.csv")],
        ["train", paths["images"], "--epochs", "1", "--out", str(ro / "m")],
    ]
    script = f"from hourglass.cli import main; print([main(args) for args in {runs!r}])"
    cmd = ["unshare", "-rm", "sh", "-c", mount, "sh", str(ro), sys.executable, "-c", script]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert done.stdout.strip() == "[2, 2]", done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("hourglass: error:") for line in lines), lines
    assert all("permission denied" in line for line in lines), lines
    assert list(ro.iterdir()) == []


# ------------------------------------------------------------------------------ all or nothing
def test_a_failed_training_removes_the_checkpoint_folder_it_made(inputs, work, monkeypatch, capsys):
    from hourglass.training import checkpoint

    real = checkpoint.save

    def save_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("a bug after the first checkpoint")

    monkeypatch.setattr(checkpoint, "save", save_then_fail)
    args = ["train", inputs[1]["images"], "--epochs", "2", "--hidden", "8", "--quiet", "--out", "m"]
    with pytest.raises(RuntimeError):
        main(args)
    assert not (work / "m.ckpt").exists() and not (work / "m").exists()

    def save_then_interrupt(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_interrupt)
    assert main(args) == 130  # Ctrl-C keeps the checkpoint: that is what --resume is for
    assert checkpoint.load(work / "m.ckpt") is not None and not (work / "m").exists()


def test_plot_writes_every_figure_or_none(inputs, work, monkeypatch, capsys):
    _, paths = inputs

    def late_failure(*args):
        raise hg.HourglassError("the last figure cannot be drawn")

    monkeypatch.setitem(plot_cli.FIGURES, "manifold", (late_failure, True))
    args = ["plot", paths["img"], paths["images"], "--grid", "3", "-o", "figs"]
    code, lines = run_cli(args, capsys)
    assert code == 2 and len(lines) == 1 and not (work / "figs").exists()
    # Into a folder of earlier figures: those are kept as they were.
    monkeypatch.undo()
    monkeypatch.chdir(work)
    assert main([*args, "--only", "loss"]) == 0
    before = snapshot(work)
    monkeypatch.setitem(plot_cli.FIGURES, "manifold", (late_failure, True))
    code, lines = run_cli(args, capsys)
    assert code == 2 and snapshot(work) == before
    # A folder of earlier figures is one hourglass may write into again; the user's folder was refused above.
    monkeypatch.undo()
    monkeypatch.chdir(work)
    assert main(args) == 0
    assert sorted(p.name for p in (work / "figs").iterdir()) == sorted(FIGURE_FILES[n] for n in plot_cli.FIGURES)


# ------------------------------------------------------------------------------ demo folders
def test_demo_refuses_a_folder_it_did_not_write_and_cleans_up_after_a_failure(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("mine")
    with pytest.raises(hg.HourglassError, match="not written by hourglass demo"):
        story.run_demo(mine, verbose=False)  # the library refuses too, not only the command
    assert [p.name for p in mine.iterdir()] == ["report.html"]

    def fail(*args, **kwargs):
        raise RuntimeError("training broke")

    monkeypatch.setattr(story, "train_demo", fail)
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (tmp_path / "new", empty):
        with pytest.raises(RuntimeError):
            story.run_demo(out, verbose=False)
    assert not (tmp_path / "new").exists() and list(empty.iterdir()) == []

    # A folder the demo wrote (its marker) is accepted again; a folder without the marker is not, whatever it holds.
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / story.MARKER).write_text("")
    (ours / "report.html").write_text("old report")
    assert story.is_demo_folder(ours) and not story.is_demo_folder(mine)
    unmarked = tmp_path / "unmarked"
    hg.Autoencoder(hidden=(4,), epochs=1).fit(np.random.default_rng(0).normal(size=(20, 3))).save(unmarked / "model")
    (unmarked / "report.html").write_text(f"<title>{story.TITLE}</title>")
    assert not story.is_demo_folder(unmarked)


# ------------------------------------------------------------------------------ symbolic links
def test_an_output_given_as_a_symbolic_link_is_written_where_it_points(inputs, work, capsys):
    _, paths = inputs
    assert main(["train", paths["images"], "--epochs", "1", "--hidden", "8", "--quiet", "--out", "runs/m"]) == 0
    (work / "link").symlink_to("runs/m")
    assert main(["train", paths["images"], "--epochs", "2", "--hidden", "8", "--quiet", "--out", "link"]) == 0
    assert (work / "link").is_symlink() and os.readlink(work / "link") == "runs/m"
    assert len(hg.load(work / "runs" / "m").history_.train) == 2
    (work / "runs" / "codes.csv").write_text("z1\n0\n")
    (work / "codes_link.csv").symlink_to("runs/codes.csv")
    assert main(["encode", "runs/m", paths["images"], "-o", "codes_link.csv"]) == 0
    assert (work / "codes_link.csv").is_symlink() and len(pd.read_csv(work / "runs" / "codes.csv")) == 300
    hidden = [p.name for folder in (work, work / "runs") for p in folder.iterdir() if p.name.startswith(".")]
    assert hidden == []


# ------------------------------------------------------------------------------ litter of killed saves
KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import hourglass as hg

    real = Path.write_text

    def write_then_hang(self, *args, **kwargs):  # hang once the new folder holds weights and config
        written = real(self, *args, **kwargs)
        if self.name == "config.json":
            print("inside the save", flush=True)
            time.sleep(120)
        return written

    Path.write_text = write_then_hang
    hg.load(sys.argv[1]).save(sys.argv[1])
    """
)


def test_sigkill_inside_a_model_save_leaves_litter_that_the_next_save_removes(tmp_path, small_model):
    target = small_model.save(tmp_path / "model")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(target)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"inside the save"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # Its write lock stays behind as a file that no one holds: the next write takes it over and removes it.
    assert (tmp_path / ".model.lock").is_file()
    litter = [p for p in tmp_path.iterdir() if p.name not in ("model", ".model.lock")]
    assert len(litter) == 1 and litter[0].name.startswith(f".model.{proc.pid}.") and litter[0].is_dir(), litter
    assert (litter[0] / "model.safetensors").is_file()  # a real, sizeable half-written model
    # The aside folder of a killed swap, an old-style temporary folder two days old: litter too.
    dead = proc.pid
    (tmp_path / f".model.{dead}.old").mkdir()
    legacy = tmp_path / ".model.abcd1234.tmp"
    legacy.mkdir()
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)
    # Not litter: writes in progress (a live process's), a recent old-style one, other names, other targets.
    keep = [
        f".model.{os.getpid()}.abcdefgh.tmp",
        f".model.{os.getppid()}.abcdefgh.tmp",
        ".model.efgh5678.tmp",
        ".model.notes.tmp",
        f".other.{dead}.abcdefgh.tmp",
        "model.bak",
    ]
    for name in keep:
        (tmp_path / name).write_text("keep")
    (tmp_path / f".model.{dead}.link1234.tmp").symlink_to(target)  # litter, and must not be followed

    small_model.save(target)  # the next save, by anyone, clears what killed ones left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", *keep])
    assert hg.load(target).latent_dim == small_model.latent_dim
    assert remove_stale_siblings(target) == []
