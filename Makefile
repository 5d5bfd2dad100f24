# leadfleet: `make demo` runs the fleet on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint unit integration bench demo format clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared cli listener workers analytics simulator

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

test: lint browser
	$(BIN)/pytest

# Headless Chromium (Debian's package) renders the dashboard in tests/integration.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

bench: setup
	$(BIN)/python -m benchmarks

demo: setup
	$(BIN)/python -m cli.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
