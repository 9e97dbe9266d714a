# Edgeline: `make demo` and `make test` are the only set-up a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo dev test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install  ## the whole lifecycle on the local default
	$(BIN)/edgeline demo

dev: install  ## the Dagster UI and daemon on http://127.0.0.1:3000
	$(BIN)/edgeline dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint  ## the whole suite, slow end-to-end tests included
	$(BIN)/python -m pytest

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .edgeline .pytest_cache .ruff_cache
