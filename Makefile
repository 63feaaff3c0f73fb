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

.PHONY: run test lint typecheck pytest install clean-data help bench bench-smoke

help:
	@echo "make run    start duban (embedded PostgreSQL + Redis, API, worker)"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make bench  the full benchmark (1M findings, minutes); writes bench/RESULTS.md"

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

# The benchmark on its own embedded PostgreSQL (fsync on) and Redis in a temporary directory.
# The smoke run uses tiny sizes and writes to a temporary file: it only proves the harness
# still works, so `make test` runs it.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install
	$(BIN)/python -m bench --smoke $(BENCH_ARGS)

test: lint typecheck pytest bench-smoke

# Fault injection (tests/faults): workers, Redis, PostgreSQL and the API killed or restarted
# under load, each scenario bounded and asserting nothing lost and nothing duplicated. A few
# minutes; `make test` does not run them (tests/faults/conftest.py skips them unless asked).
.PHONY: test-faults
test-faults: install
	DUBAN_FAULTS=1 $(BIN)/python -m pytest tests/faults -p no:cacheprovider -s -q $(PYTEST_ARGS)

clean-data:
	rm -rf var
