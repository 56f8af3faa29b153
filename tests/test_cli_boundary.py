"""The command line's one error boundary: one line and a non-zero exit for everything a user can cause."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hourglass.cli import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.5])
def test_ctrl_c_at_any_point_of_start_up_is_one_line_and_130(tmp_path, delay):
    """SIGINT while Python is still importing torch and friends, or once training runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hourglass", "train", "mnist7", "--epochs", "50", "--out", str(tmp_path / "m")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] in ([], ["hourglass: interrupted"]), err


def test_library_warnings_are_said_in_our_words(tmp_path, capsys):
    """Constant data makes scikit-learn's mixture warn: one line of ours, not sklearn's text."""
    np.save(tmp_path / "flat.npy", np.ones((60, 4), np.float32))
    code = main(["train", str(tmp_path / "flat.npy"), "--epochs", "2", "--quiet", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "sklearn" not in err and "ConvergenceWarning" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert all(line.startswith("hourglass: warning:") for line in lines), err
    assert len(lines) == len(set(lines)), "the same warning said twice"


def test_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    """An OSError no command foresaw (a disk that fills up) still ends as one line and exit 2."""
    import hourglass.cli.info as info

    def full_disk(args):
        raise OSError(28, "No space left on device", str(tmp_path / "out.npy"))

    monkeypatch.setattr(info, "run", full_disk)
    code = main(["info", str(tmp_path)])  # a folder that exists: a missing one is answered before run
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [f"hourglass: error: {tmp_path / 'out.npy'}: No space left on device"]


@pytest.mark.parametrize("command", ["train", "fit-detector"])
def test_numeric_flags_accept_what_their_parameter_accepts(command):
    """argparse checks these flags when parsing, before torch loads: value for value, at and around every bound,
    the flag accepts what the parameter's spec accepts when the text is read as Python reads a number."""
    from hourglass.cli import build_parser
    from hourglass.errors import HourglassError
    from hourglass.params import AUTOENCODER, DETECTOR
    from hourglass.schema import Int, Real, validate

    table = AUTOENCODER if command == "train" else DETECTOR
    parser = build_parser(command)._subparsers._group_actions[0].choices[command]
    probes = ["-1", "0", "1e-9", "0.5", "1", "2", "99", "100", "101", "4096", "4097", "999999.5", "1000000"]
    probes += ["1000001", str(2**32 - 1), str(2**32), "1e300", "inf", "nan", "1.5", "x", "1e3", " 7 "]
    numeric = [p for p in table if p.flag and isinstance(p.spec, (Int, Real))]
    assert len(numeric) >= (9 if command == "train" else 5)
    for param in numeric:
        action = next(a for a in parser._actions if param.flag in a.option_strings)
        for probe in probes:
            try:
                action.type(probe)
                cli_ok = True
            except Exception:
                cli_ok = False
            try:
                validate(int(probe) if isinstance(param.spec, Int) else float(probe), param.spec, "check")
                spec_ok = True
            except (ValueError, HourglassError):
                spec_ok = False
            assert cli_ok == spec_ok, (param.flag, probe, cli_ok)
