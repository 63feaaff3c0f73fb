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

.PHONY: run test test-fast test-unit test-integration test-system lint typecheck pytest install \
	clean-data help bench bench-smoke

help:
	@echo "make run         start duban (embedded PostgreSQL + Redis, API, worker)"
	@echo "make test        lint, the unit tier, type-check, the integration and system tiers,"
	@echo "                 the benchmark smoke run: everything CI runs but the fault injection"
	@echo "make test-fast   the unit tier alone (pure rules, seconds)"
	@echo "make test-faults fault injection: processes killed under load (minutes)"
	@echo "make bench       the full benchmark (1M findings, minutes); writes bench/RESULTS.md"

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

# The whole suite in one run, e.g. `make pytest PYTEST_ARGS="-k scope -x"`.
pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tiers (tests/README.md says which test goes where). The integration and system tiers run
# on pytest-xdist workers, each with its own embedded PostgreSQL and Redis: TEST_WORKERS=1 runs
# them in one process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS),)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-fast: test-unit

test-integration: install
	$(BIN)/python -m pytest tests/integration $(XDIST) $(PYTEST_ARGS)

test-system: install
	$(BIN)/python -m pytest tests/system $(XDIST) $(PYTEST_ARGS)

# The benchmark on its own embedded PostgreSQL (fsync on) and Redis in a temporary directory.
# The smoke run uses tiny sizes and writes to a temporary file: it only proves the harness
# still works, so `make test` runs it.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install
	$(BIN)/python -m bench --smoke $(BENCH_ARGS)

# Cheapest first, so that a mistake fails the build early: lint (seconds), the unit tier
# (seconds), mypy (a minute), the integration tier, the benchmark's smoke run, the system tier.
test: lint test-unit typecheck test-integration bench-smoke test-system

# Fault injection (tests/faults): workers, Redis, PostgreSQL and the API killed or restarted
# under load, each scenario bounded and asserting nothing lost and nothing duplicated. A few
# minutes; `make test` does not run them (tests/faults/conftest.py skips them unless asked).
.PHONY: test-faults
test-faults: install
	DUBAN_FAULTS=1 $(BIN)/python -m pytest tests/faults -p no:cacheprovider -s -q $(PYTEST_ARGS)

clean-data:
	rm -rf var
