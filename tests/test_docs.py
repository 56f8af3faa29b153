"""The README and the docs site: what a newcomer reads first stays a guide, and its references resolve.

The strict site build (``make docs``) checks the site's own links; these check what it cannot: the README as
GitHub shows it, and the griffe extension that writes default values into the API reference's signatures.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_links_and_images_point_at_files_that_exist():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    assert "docs/benchmarks.md" in targets and "docs/explorer.png" in targets
    missing = [t for t in targets if not t.startswith(("http://", "https://")) and not (ROOT / t).exists()]
    assert not missing


def test_every_snippet_the_docs_pull_from_the_readme_is_there():
    pulled = set()
    for page in (ROOT / "docs").rglob("*.md"):
        pulled |= set(re.findall(r'--8<-- "README\.md:(\w+)"', page.read_text()))
    assert {"intro", "install", "quickstart"} <= pulled
    for name in pulled:
        start, end = f"<!-- --8<-- [start:{name}] -->", f"<!-- --8<-- [end:{name}] -->"
        assert README.index(start) < README.index(end), name
        # The site serves the snippet from docs/: a relative link in it would point elsewhere there.
        assert "](" not in README[README.index(start) : README.index(end)], name


def test_readme_opens_with_the_two_commands_and_leaves_measurements_to_the_benchmarks_page():
    first_block = README.split("```")[1]
    assert first_block.split()[0] == "make" and "make demo" in first_block and "make test" in first_block
    # A benchmark table has a numeric column (| 0.812 |); the README's tables hold words and paths.
    assert not re.search(r"^\|.*\|\s*\**[\d.,]+\**\s*\|", README, re.M)
    for leftover in ("../shared", "2-core machine", "this machine", "issue 1", "issue 2"):
        assert leftover not in README
    assert len(README.splitlines()) < 350


def _extension():
    spec = importlib.util.spec_from_file_location("param_defaults", ROOT / "docs" / "hooks" / "param_defaults.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_signatures_show_values_not_the_constants_they_are_read_from():
    pytest.importorskip("griffe")
    ext = _extension()
    assert ext.resolved("hourglass.estimator", "AUTOENCODER.latent_dim") == "2"
    assert ext.resolved("hourglass.anomaly.detector", "DETECTOR.hidden") == "(32,)"
    assert ext.resolved("hourglass.data", "MAX_PIXELS") == "25_000_000"
    # viz.latent has its own MAX_POINTS: a name is looked up where the function lives.
    assert ext.resolved("hourglass.viz.latent", "MAX_POINTS") == "20_000"
    for expression in ("None", "max(1, 2)", "np.float32", "AUTOENCODER.nothing", "UNKNOWN"):
        assert ext.resolved("hourglass.estimator", expression) is None
