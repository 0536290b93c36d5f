# The two commands: `make serve` and `make test`. Both install what is needed first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LINT_PATHS := app worker relearn tests bench alembic
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: install serve test lint format services browser bench

# Serving needs the API and the worker only; tests and benchmarks add their tools.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[worker]'
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PIP) -e '.[worker,dev,bench]'
	touch $(DEV_STAMP)

install: $(STAMP)

serve: install
	$(BIN)/relearn serve

services:
	bash scripts/ensure-services.sh

# Debian's chromium, which the dashboard tests (tests/ui) drive with Playwright.
browser:
	bash scripts/ensure-browser.sh

# The test suite's own architecture package (an entry point, as users install theirs).
TEST_PLUGIN := tests/plugins/relearn_toy_arch
PLUGIN_STAMP := $(VENV)/.test-plugin-installed

$(PLUGIN_STAMP): $(DEV_STAMP) $(TEST_PLUGIN)/pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e $(TEST_PLUGIN)
	touch $(PLUGIN_STAMP)

test: lint services browser $(PLUGIN_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(DEV_STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy app worker relearn

format: $(DEV_STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(DEV_STAMP)
	$(BIN)/python bench/continual.py
