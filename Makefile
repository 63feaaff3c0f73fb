# The two commands a newcomer needs: `make run` and `make test`.
# Everything is installed into ./.venv from uv.lock; uv itself is bootstrapped
# into ./.cache/uv with the system Python, so nothing but Python >= 3.11 and make
# has to be on the machine.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV_HOME := .cache/uv
UV := $(UV_HOME)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint typecheck pytest install clean-data help

help:
	@echo "make run    start duban (embedded PostgreSQL + Redis, API, worker)"
	@echo "make test   lint, type-check and run the whole test suite"

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

run: install
	$(BIN)/duban up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean-data:
	rm -rf var
