# The two commands: `make serve` and `make test`. Both install what is needed first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := app worker tests bench alembic

.PHONY: install serve test lint format services bench

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[worker,dev,bench]'
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/relearn serve

services:
	bash scripts/ensure-services.sh

test: lint services
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy app worker

format: install
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: install
	$(BIN)/python bench/continual.py
