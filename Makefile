# Two commands matter: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
CONSULTS ?= 2000
PYTEST_ARGS ?=

.PHONY: demo test test-postgres lint typecheck layers unit e2e bench reliability install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/econsult demo --consults $(CONSULTS) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

# Long runs (50 kills, 60 s load) are marked slow and left to `make reliability`.
test: lint typecheck layers
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# The same suite against PostgreSQL (a throwaway database per test on the server
# ECONSULT_TEST_DATABASE_URL points at; default: the local one).
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
test-postgres: $(STAMP)
	ECONSULT_TEST_DATABASE_URL=$${ECONSULT_TEST_DATABASE_URL:-$(PG_TEST_URL)} \
	  $(BIN)/pytest -m "not slow or postgres" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

reliability: $(STAMP)
	$(BIN)/pytest tests/reliability -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
