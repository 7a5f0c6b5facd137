# Developer entry points. `make demo` and `make test` are the README's quick start: each creates
# the virtualenv and installs the project first, so they work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-unit test-integration test-e2e coverage lint format typecheck check-all bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/dify-meter demo

# The suite on every core (pytest-xdist; CI has 2); worksteal lets an idle worker take the queued tests of a busy
# one, so the long subprocess tests do not leave a core waiting. make test lists the 25 slowest tests for CI's log.
PARALLEL := -n auto --dist worksteal

test: $(STAMP)
	$(BIN)/pytest -q $(PARALLEL) --durations=25

test-unit: $(STAMP)
	$(BIN)/pytest -q $(PARALLEL) -m "not integration and not e2e"

test-integration: $(STAMP)
	$(BIN)/pytest -q $(PARALLEL) -m integration

test-e2e: $(STAMP)
	$(BIN)/pytest -q $(PARALLEL) -m e2e

coverage: $(STAMP)
	$(BIN)/pytest -q --cov=dify_meter --cov-report=term-missing:skip-covered --cov-report=html

lint: $(STAMP)
	$(BIN)/ruff check dify_meter dify_meter_tests bench
	$(BIN)/ruff format --check dify_meter dify_meter_tests bench
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format dify_meter dify_meter_tests bench

typecheck: $(STAMP)
	$(BIN)/mypy dify_meter

check-all: lint typecheck test

# Each benchmark prints its figures and ratios; see bench/README.md.
bench: $(STAMP)
	for script in bench/[a-z]*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
