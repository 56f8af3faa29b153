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
    code = main(["info", "anything"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [f"hourglass: error: {tmp_path / 'out.npy'}: No space left on device"]
