"""The package as a user gets it: the wheel and sdist ``python -m build`` makes, and the wheel installed into a
fresh venv holding nothing else (torch==2.13.0 first, as the README says), with ``hourglass`` run from there.
A file left out of package-data or a dependency missing from pyproject.toml fails here, not on a user's machine.

Marked ``package`` (a minute or two, most of it installing torch), so a plain ``pytest`` skips it;
``make package-test`` runs it, and ``make test`` runs that.
"""

import email.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import hourglass

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hourglass"
# The CPU build, pinned and installed first: a bare `torch` would resolve to a multi-GB CUDA build.
TORCH = "torch==2.13.0"


def run(*args: object, cwd: Path | None = None, timeout: float = 600) -> str:
    """Run a command with the environment a user's shell would have (no PYTHONPATH onto this checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a fresh clone with this checkout's edits holds: git's tracked and new files, none that git ignores.

    Not the checkout itself: setuptools reuses a stale ``src/*.egg-info`` file list left there by an earlier
    build, which could ship a file that package-data no longer names (and building writes one there).
    """
    if not (ROOT / ".git").exists():
        return ROOT  # an unpacked sdist, already just the package's files
    copy = tmp_path_factory.mktemp("source")
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # not one deleted in the checkout
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def dist(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it (what `python -m build` does), so the sdist is checked too."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, source)
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("hourglass_ae-*.whl")
    return found


def test_build_makes_one_wheel_and_one_sdist_of_this_version(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    v = hourglass.__version__
    assert names == [f"hourglass_ae-{v}-py3-none-any.whl", f"hourglass_ae-{v}.tar.gz"]


def test_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    # Every source file, data file (the bundled digits, the explorer's page) and marker, and nothing else.
    expected = {
        f"hourglass/{p.relative_to(PACKAGE).as_posix()}"
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    with zipfile.ZipFile(wheel) as z:
        shipped = {n for n in z.namelist() if n.startswith("hourglass/")}
    assert {"hourglass/data/mnist7.npz", "hourglass/explorer/static/explorer.js", "hourglass/py.typed"} <= expected
    assert shipped == expected


def test_wheel_metadata_pins_the_cpu_torch_and_names_the_command(wheel: Path) -> None:
    info = f"hourglass_ae-{hourglass.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as z:
        meta = email.parser.Parser().parsestr(z.read(f"{info}/METADATA").decode())
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    assert meta["Version"] == hourglass.__version__
    assert TORCH in meta.get_all("Requires-Dist")  # unconditional, exactly the build installed first
    assert "hourglass = hourglass.cli:entry" in entry_points


@pytest.fixture
def fresh_venv() -> Iterator[Path]:
    """An empty venv, removed afterwards (with torch in it, it holds over a gigabyte)."""
    with tempfile.TemporaryDirectory(prefix="hourglass-venv-") as tmp:
        env = Path(tmp) / "venv"
        venv.EnvBuilder().create(env)
        yield env


def test_wheel_installs_into_a_fresh_venv_and_runs(wheel: Path, fresh_venv: Path, tmp_path: Path) -> None:
    python, command = fresh_venv / "bin" / "python", fresh_venv / "bin" / "hourglass"
    # This pip, pointed at the new venv (`--python`), saves installing pip there; not byte-compiling the
    # thousands of modules installed saves a minute (Python compiles those the demo imports as it goes).
    pip = (sys.executable, "-m", "pip", "--python", python)

    def installed() -> dict[str, str]:
        return {p["name"].lower(): p["version"] for p in json.loads(run(*pip, "list", "--format=json"))}

    run(*pip, "install", "-q", "--no-compile", TORCH)
    torch_version = installed()["torch"]
    run(*pip, "install", "-q", "--no-compile", wheel)
    after = installed()
    # The wheel's own dependencies must keep the torch installed first, and pull no CUDA runtime.
    assert after["torch"] == torch_version
    assert not [name for name in after if name.startswith("nvidia") or name == "triton"]

    work = tmp_path / "work"  # an empty folder away from this checkout, so only the installed copy can run
    work.mkdir()
    origin = run(python, "-c", "import hourglass; print(hourglass.__file__)", cwd=work)
    assert Path(origin.strip()).resolve().is_relative_to(fresh_venv.resolve())
    assert run(command, "--version", cwd=work) == f"hourglass {hourglass.__version__}\n"

    printed = run(command, "demo", "--quick", "--out", "demo", cwd=work)
    assert "quick run" in printed
    assert [p.name for p in work.iterdir()] == ["demo"]  # it wrote nothing beside its output folder
    demo = work / "demo"
    for name in ("report.html", "explorer.html", "latent_map.png", "walk.gif", "denoise.png", "anomaly_histogram.png"):
        assert (demo / name).stat().st_size > 1000, name
    assert (demo / "model" / "model.safetensors").is_file()
    # the installed `hourglass info` reads the model folder the demo wrote
    assert run(command, "info", demo / "model", cwd=work).strip()
