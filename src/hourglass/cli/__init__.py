"""The ``hourglass`` command: each sub-command is one module here with ``add_parser`` and ``run``.

``main`` is the one error boundary: everything a user can cause (bad data, bad arguments, bad files,
a full disk, Ctrl-C) ends as one line on stderr and a non-zero exit, never a traceback. Heavy
libraries are imported inside it, so even Ctrl-C during start-up is caught.

Start-up stays light: only the sub-command named on the command line has its module imported (the
others are listed from ``COMMANDS``), and those modules import torch, scikit-learn and pandas inside
``run``, so ``--help`` and ``info`` need none of them. What can be said without those libraries is said
before they load (``check_light``): a misspelt flag, a value out of range, a model folder or data file
that does not exist, each in a few tenths of a second instead of the seconds the imports take.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from hourglass.errors import HourglassError

# Each sub-command and its one-line summary, in the order ``hourglass --help`` lists them.
COMMANDS = {
    "demo": "train on the bundled digits and show what the code learned",
    "train": "train an autoencoder on data",
    "encode": "compress data to codes",
    "decode": "rebuild data from codes",
    "reconstruct": "pass data through the hourglass",
    "denoise": "clean noisy data with a denoising model",
    "evaluate-denoise": "score a denoiser against classical filters",
    "fit-detector": "train an anomaly detector",
    "score": "score rows with an anomaly detector",
    "evaluate-anomaly": "measure a detector against known labels",
    "evaluate-map": "score a model's code as a map of labelled data, beside PCA and UMAP",
    "info": "describe a model folder",
    "interpolate": "morph one sample into another through the code",
    "sample": "generate new samples",
    "plot": "draw what a model learned (PNG figures)",
    "explore": "write an interactive latent-space explorer (one HTML file)",
    "serve": "serve the latent-space explorer and a decode/encode API on this machine",
    "export": "write the model as ONNX graphs that take raw rows",
    "verify": "check an ONNX export against PyTorch and the explorer's decoder",
}
# Commands whose run needs no model library: every other one loads or trains a model, so main imports
# the estimator (torch, scikit-learn), or for INFERENCE only torch, while Ctrl-C is held (see
# _interrupt_after_imports).
LIGHT = frozenset({"info"})
# Commands that run a model folder without its estimator (``hourglass.inference``: torch, no scikit-learn).
INFERENCE = frozenset({"encode", "decode", "reconstruct"})

# Arguments that name what a command reads, by the metavar --help shows for them: ``check_light`` looks
# for them on disk before the heavy imports (the loaders would say the same, seconds later).
MODEL_METAVARS = frozenset({"MODEL"})
DATA_METAVARS = frozenset({"DATA", "TRAIN", "TEST", "CODES"})

# Library warnings a user can act on, said in hourglass's words; any other library warning is dropped
# (set HOURGLASS_DEBUG=1 to see them raw).
_WARNINGS = (
    ("ConvergenceWarning", "the code mixture that `sample` draws from did not converge (nearly constant data?)"),
    ("feature names", None),  # the CLI matches table columns to the model itself
)


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line through ``main``'s boundary (argparse prints a usage block)."""

    def error(self, message: str) -> NoReturn:
        raise HourglassError(f"{message} (see '{self.prog} --help')")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``hourglass`` parser, with ``command``'s arguments in full; the other sub-commands are only
    named (with their summary), so their modules are not imported."""
    from hourglass import __version__

    parser = _Parser(
        prog="hourglass",
        description="Train autoencoders, look inside them, and use them: compress, denoise, "
        "detect anomalies, generate.",
    )
    parser.add_argument("--version", action="version", version=f"hourglass {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", action=_Commands)
    for name in COMMANDS:
        if name == command:
            importlib.import_module(f"hourglass.cli.{name.replace('-', '_')}").add_parser(sub)
            built = sub.choices[name]
            reads = {a.dest: a.metavar for a in built._actions if a.metavar in MODEL_METAVARS | DATA_METAVARS}
            built.set_defaults(reads_=reads)
        else:
            sub.add_parser(name)
    return parser


class _Commands(argparse._SubParsersAction):
    """Sub-commands listed with their summary from ``COMMANDS``, whether built in full or only named."""

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        return super().add_parser(name, **{**kwargs, "help": COMMANDS[name]})


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with _plain_warnings():
            with _interrupt_after_imports():
                # The top-level options take no value: the first other word names the command.
                command = next((a for a in argv if not a.startswith("-")), None)
                args = build_parser(command).parse_args(argv)
                check_light(args)
                if args.command not in LIGHT:
                    heavy = "hourglass.inference" if args.command in INFERENCE else "hourglass.estimator"
                    importlib.import_module(heavy)
            code = int(args.run(args) or 0)
            _flush_stdout()
            return code
    except KeyboardInterrupt:
        _say("hourglass: interrupted")
        return 130
    except BrokenPipeError:  # `-o - | head`: the reader has what it wanted; say nothing
        with contextlib.suppress(OSError):  # and let nothing flush into the closed pipe at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except HourglassError as e:
        _error(str(e))
    except OSError as e:  # a full disk, a folder that vanished, no permission: the user's to fix
        _error(_os_message(e))
    except MemoryError:
        _error("out of memory; use fewer rows or a smaller model")
    return 2


def entry() -> NoReturn:
    """The ``hourglass`` script (and ``python -m hourglass``): ``main``, then the process ends at once.

    Python's own shutdown, once torch is loaded, spends a large share of a small ``train`` tearing modules
    down (docs/benchmarks.md, "Command-line start-up"), for nothing the command still needs. Every
    file a command writes is complete (renamed into place) when ``main`` returns, so after flushing the two
    streams the process can end without it. Only the script does this; ``main`` called from Python returns.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: what it missed is the reader's choice
            code = code or 1
    os._exit(code)


def check_light(args: argparse.Namespace) -> None:
    """What can be checked before torch, scikit-learn and pandas are imported: every model folder and data
    source the command names exists (in the words ``hourglass.load`` and ``load_dataset`` use), then the
    command's own ``check_args`` (flags that depend on each other, sizes), if it has one."""
    from hourglass.data import BUILTINS, check_source  # numpy only

    for dest, metavar in getattr(args, "reads_", {}).items():
        value = getattr(args, dest, None)
        if value is None or value in BUILTINS:
            continue
        if metavar not in MODEL_METAVARS:
            check_source(value)  # missing, an unsupported type, empty: as load_dataset would say, but now
        elif not os.path.lexists(value):
            raise HourglassError(f"{Path(value)}: no such model folder")
    check = getattr(args, "check_args", None)
    if check is not None:
        check(args)


def _flush_stdout() -> None:
    """Flush what a command printed, so a full disk under ``> file`` is an error naming standard output (at
    exit it could only change the exit code); a closed pipe stays ``main``'s silent BrokenPipeError."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        from hourglass.data.arrays import STDOUT_FAILED  # numpy: an import only a failed flush pays

        raise HourglassError(STDOUT_FAILED.format(e.strerror or e)) from None


def _error(message: str) -> None:
    # Under torchrun an error met after the ranks joined is met by all of them (they share every
    # decision): rank 0 says it once. Earlier ones (reading the data) may be one rank's alone.
    distributed = sys.modules.get("hourglass.training.distributed")
    if distributed is None or distributed.is_main() or not distributed.joined():
        _say(f"hourglass: error: {' '.join(message.split())}")


def _os_message(e: OSError) -> str:
    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    what = e.strerror or str(e)
    return f"{where}: {what}" if where else what


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed or a broken pipe: nothing left to tell
        print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _interrupt_after_imports() -> Iterator[None]:
    """Hold Ctrl-C while the sub-commands import torch and friends, then honour it.

    A KeyboardInterrupt raised inside a Python callback that C++ code is running (torch registers some
    while importing) aborts the whole process (SIGABRT, core dump) instead of unwinding.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
    if pressed:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    if os.environ.get("HOURGLASS_DEBUG"):
        yield
        return
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        known = [ours for key, ours in _WARNINGS if key in category.__name__ or key in text]
        ours_raised = "/hourglass/" in filename.replace("\\", "/")
        said = known[0] if known else (text if ours_raised else None)
        if said and said not in shown:
            shown.add(said)
            _say(f"hourglass: warning: {' '.join(said.split())}")

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield
