# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-slow lint bench docs package package-test clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first, pinned: a bare `torch` would resolve to a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	# The explorer's browser tests drive Debian's Chromium (playwright cannot download browsers here).
	command -v chromium >/dev/null || (command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium not installed: the explorer's browser tests will skip"
	# Fashion-MNIST (the `fashion` built-in) comes from Debian's dataset package, read in place.
	test -d /usr/share/datasets/fashion-mnist || (command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
		|| echo "dataset-fashion-mnist not installed: the fashion tests will skip"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hourglass demo

# What CI runs (.ci/run): both tiers of tests, the docstrings' Examples, the type check, the docs and the package.
test: test-fast test-slow
	# The docstrings' Examples run as tests (their fitted models: src/conftest.py), and the package type-checks.
	$(BIN)/python -m pytest -q --doctest-modules src/hourglass
	$(BIN)/python -m mypy src
	$(MAKE) --no-print-directory docs package-test

# The default tier, for every change. Two workers, one per core (every test runs torch on one thread); a file's
# tests stay in one worker, so a module's costly fixture is built once.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The slow tier (pyproject.toml's `slow` marker): long fits checked for quality, load tests, long start-ups.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m slow

# The API and command-line reference (mkdocs.yml) into site/, strictly: any warning fails it (not --quiet:
# it hides the warnings, and strict mode then passes).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The wheel and the sdist, into dist/.
package: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# Build both, install the wheel into a fresh venv (torch==2.13.0 first) and run `hourglass` from there.
package-test: $(STAMP)
	$(BIN)/python -m pytest -q -m package tests/test_package.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts docs
	$(BIN)/ruff format --check src tests benchmarks scripts docs

bench: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py

clean:
	rm -rf $(VENV) runs build dist site *.egg-info src/*.egg-info
