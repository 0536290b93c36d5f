# The two commands: `make serve` and `make test`. Both install what is needed first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

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

test: install services
	$(BIN)/ruff check app worker tests bench alembic
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check app worker tests bench alembic
	$(BIN)/ruff format --check app worker tests bench alembic

format: install
	$(BIN)/ruff format app worker tests bench
	$(BIN)/ruff check --fix app worker tests bench

bench: install
	$(BIN)/python bench/continual.py
