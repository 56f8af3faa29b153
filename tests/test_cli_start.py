"""The command line starts without the heavy libraries where a command does not need them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hourglass.cli import COMMANDS

HEAVY = ("torch", "sklearn", "scipy.stats", "pandas")


def imported_after(args: list[str]) -> list[str]:
    """The heavy modules a fresh interpreter holds after ``hourglass.cli.main(args)``."""
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
    assert code == 0, done.stderr
    return heavy


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
