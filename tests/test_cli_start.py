"""The command line starts without the heavy libraries where a command does not need them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hourglass.cli import COMMANDS

HEAVY = ("torch", "sklearn", "scipy.stats", "pandas")


def imported_after(args: list[str]) -> list[str]:
    """The heavy modules a fresh interpreter holds after ``hourglass.cli.main(args)``, which must succeed."""
    code, heavy, err = run_fresh(args)
    assert code == 0, err
    return heavy


def run_fresh(args: list[str]) -> tuple[int, list[str], str]:
    """``hourglass.cli.main(args)`` in a fresh interpreter: its exit code, the heavy modules it imported, stderr."""
    script = (
        "import contextlib, io, json, sys\n"
        "from hourglass.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        code = main({args!r})\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    code, heavy = json.loads(done.stdout.splitlines()[-1])
    return code, heavy, done.stderr


@pytest.mark.parametrize("args", [["--help"], *([c, "--help"] for c in COMMANDS)], ids=" ".join)
def test_help_imports_no_heavy_library(args):
    assert imported_after(args) == []


def test_info_reads_a_model_without_torch(tmp_path, small_model):
    folder = small_model.save(tmp_path / "m")
    assert imported_after(["info", str(folder)]) == []


@pytest.mark.parametrize("command", ["encode", "decode", "reconstruct"])
def test_inference_on_arrays_imports_torch_alone(tmp_path, small_model, mnist7, command):
    """encode, decode and reconstruct run a model folder without the estimator: on a built-in dataset or .npy
    files they import neither scikit-learn (its base classes import SciPy's statistics and pandas) nor pandas."""
    folder = small_model.save(tmp_path / "m")
    np.save(tmp_path / "images.npy", mnist7.X[:20])
    np.save(tmp_path / "codes.npy", small_model.transform(mnist7.X[:20]))
    sources = {"encode": "mnist7", "decode": tmp_path / "codes.npy", "reconstruct": tmp_path / "images.npy"}
    args = [command, str(folder), str(sources[command]), "-o", str(tmp_path / "out.npy")]
    assert imported_after(args) == ["torch"]
    assert (tmp_path / "out.npy").is_file()


def test_the_listing_and_one_built_command_agree():
    """Only the named command is built in full; the listing shows every command with its summary."""
    from hourglass.cli import build_parser

    listing = build_parser().format_help()
    words = " ".join(listing.split())  # argparse wraps long summaries
    assert all(f" {name} {summary}" in words for name, summary in COMMANDS.items())
    assert build_parser("encode").format_help() == listing
    args = build_parser("encode").parse_args(["encode", "m", "mnist7", "-o", "z.csv"])
    assert args.run.__module__ == "hourglass.cli.encode"


def test_info_refuses_a_hand_edited_config_in_one_line(tmp_path, small_model, capsys):
    from hourglass.cli import main

    folder = small_model.save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["training"]["best_epoch"] = "last"
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["info", str(folder)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"hourglass: error: {folder / 'config.json'}: training.best_epoch has the wrong type (str)"
    ]


# What a user gets wrong is answered before torch, scikit-learn and pandas load (``hourglass.cli.check_light``).
MISTAKES = {
    "misspelt flag": [
        ["train", "{csv}", "--latnet", "2"],
        ["encode", "{model}", "{csv}", "-o", "z.csv", "--lable", "y"],
        ["score", "{model}", "{csv}", "-o", "s.csv", "--alhpa", "0.1"],
        ["sample", "{model}", "-o", "s.npy", "--seeed", "1"],
    ],
    "missing model folder": [
        ["encode", "{gone}", "{csv}", "-o", "z.csv"],
        ["decode", "{gone}", "{csv}", "-o", "d.csv"],
        ["score", "{gone}", "{csv}", "-o", "s.csv"],
        ["sample", "{gone}", "-o", "s.npy"],
        ["plot", "{gone}", "{csv}", "-o", "figures"],
        ["interpolate", "{gone}", "{csv}", "--from", "0", "--to", "1", "-o", "w.npy"],
        ["explore", "{gone}", "-o", "e.html"],
        ["info", "{gone}"],
    ],
    "missing data": [
        ["train", "{gone}.csv"],
        ["fit-detector", "{gone}.csv"],
        ["encode", "{model}", "{gone}.csv", "-o", "z.csv"],
        ["decode", "{model}", "{gone}.csv", "-o", "d.csv"],
        ["score", "{model}", "{gone}.csv", "-o", "s.csv"],
        ["sample", "{model}", "-o", "s.png", "--nearest", "{gone}.npy"],
    ],
    "unreadable data": [  # a file of a kind hourglass does not read, or an empty one
        ["train", "{script}"],
        ["encode", "{model}", "{empty}", "-o", "z.csv"],
        ["score", "{model}", "{script}", "-o", "s.csv"],
    ],
    "bad value": [
        ["train", "{csv}", "--epochs", "-1"],
        ["train", "{csv}", "--lr", "0"],
        ["train", "{csv}", "--validation", "1"],
        ["train", "{csv}", "--device", "tpu"],
        ["train", "{csv}", "--activation", "swish"],  # a word the table's spec refuses
        ["train", "{csv}", "--hidden", "8,0"],
        ["fit-detector", "{csv}", "--members", "0"],
        ["fit-detector", "{csv}", "--contamination", "0.9"],
        ["sample", "{model}", "-n", "0", "-o", "s.npy"],
        ["sample", "{model}", "-o", "s.npy", "--nearest", "{csv}"],
    ],
}


@pytest.mark.parametrize(
    "args", [args for cases in MISTAKES.values() for args in cases], ids=lambda args: " ".join(args[:2] + args[-2:])
)
def test_mistakes_are_answered_before_the_heavy_imports(tmp_path, small_model, args):
    folder = small_model.save(tmp_path / "m")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    (tmp_path / "mk.py").write_text("print(1)\n")
    (tmp_path / "empty.csv").touch()
    paths = {"csv": tmp_path / "t.csv", "model": folder, "gone": tmp_path / "no-such"}
    paths |= {"script": tmp_path / "mk.py", "empty": tmp_path / "empty.csv"}
    code, heavy, err = run_fresh([a.format(**paths) for a in args])
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("hourglass: error: "), err
    assert heavy == []


def test_missing_paths_are_named_in_the_loaders_words(tmp_path, small_model, capsys):
    """The early answer is the one ``hourglass.load`` and ``load_dataset`` give, only sooner."""
    import hourglass as hg
    from hourglass.cli import main
    from hourglass.errors import HourglassError

    gone = tmp_path / "no-such"
    for load, args in [
        (hg.load, ["sample", str(gone), "-o", "s.npy"]),
        (hg.load_dataset, ["encode", str(small_model.save(tmp_path / "m")), f"{gone}.csv", "-o", "z.csv"]),
    ]:
        target = gone if load is hg.load else f"{gone}.csv"
        with pytest.raises(HourglassError) as said:
            load(target)
        assert main(args) == 2
        assert capsys.readouterr().err == f"hourglass: error: {said.value}\n"
