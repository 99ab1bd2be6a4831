# Two entry points for a fresh machine: `make demo` and `make test` (`make lint` too in CI).
# Each creates .venv, installs torch pinned to the local CPU wheel first (an unpinned torch
# would pull several GB of CUDA packages), then the package, then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0

.PHONY: demo lint test docs bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# psana (the lcls extra) builds mpi4py and pykerberos against the system's MPI and Kerberos
# (Debian: libopenmpi-dev libkrb5-dev, which .ci/run installs); without them its tests skip.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e ".[test]"
	if command -v mpicc >/dev/null && command -v krb5-config >/dev/null; then \
		$(BIN)/pip install --quiet -e ".[lcls]"; \
	else \
		echo "no MPI / Kerberos development files: psana (skspeckle[lcls]) not installed, its tests skip"; \
	fi
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m skspeckle demo

# ruff comes with the test extra, so lint and the pre-commit hooks use the same pinned release.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The unit tests, then every `>>>` example of the package (options and sandbox in the root
# conftest.py and pyproject.toml's [tool.pytest.ini_options]).
test: $(VENV)/.installed
	$(BIN)/python -m pytest -q tests
	$(BIN)/python -m pytest -q --doctest-modules skspeckle

$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	$(BIN)/sphinx-build -b html docs docs/_build/html

# Benchmarks get their own extras (pytorch-metric-learning, matplotlib); the package never
# imports them.
$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[bench]"
	touch $@

bench-quick: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run_all.py --scale quick

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/run_all.py --scale full

clean:
	rm -rf $(VENV) docs/_build .pytest_cache
