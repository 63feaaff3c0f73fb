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
# Installed packages come with their bytecode, so that a process starts without compiling
# them: where PYTHONDONTWRITEBYTECODE is set Python never caches what it compiles, and every
# process the tests start compiled its imports anew (bench/ANALYSIS.md §23). Seconds, once.
export UV_COMPILE_BYTECODE := 1

.PHONY: run test test-fast test-unit test-integration test-system lint typecheck pytest install bytecode \
	install-run clean-data help bench bench-smoke system-packages

help:
	@echo "make run         start duban (embedded PostgreSQL + Redis, API, worker)"
	@echo "make test        lint, the unit tier, type-check, the integration and system tiers"
	@echo "                 (with the benchmark's smoke runs): all CI runs but the fault injection"
	@echo "make test-fast   the unit tier alone (pure rules, seconds)"
	@echo "make test-faults fault injection: processes killed under load (minutes)"
	@echo "make bench       the full benchmark (1M findings, minutes); writes bench/RESULTS.md"

# A package mirror and a certificate authority of your own (README, "Behind a package mirror
# or a TLS-inspecting proxy"): UV_INDEX_URL and SSL_CERT_FILE reach the pip that bootstraps uv
# as well as uv itself.
PIP_OPTIONS := $(if $(UV_INDEX_URL),--index-url $(UV_INDEX_URL)) $(if $(SSL_CERT_FILE),--cert $(SSL_CERT_FILE))

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check $(PIP_OPTIONS) uv==$(UV_VERSION)

# $(call sync,OPTIONS): install the locked versions into $(VENV).
ifeq ($(UV_INDEX_URL),)
sync = $(UV) sync --frozen --python $(PYTHON) $(1)
else
# `uv sync --frozen` downloads from the URLs written in uv.lock (PyPI's file host), whatever
# the index: behind a mirror, install the same versions from it, checked against the lock's
# hashes.
sync = { [ -x $(BIN)/python ] || $(UV) venv --quiet --python $(PYTHON) $(VENV); } \
	&& $(UV) export --frozen --format requirements-txt --no-emit-project --quiet \
		$(filter-out --inexact,$(1)) -o $(VENV)/requirements.txt \
	&& VIRTUAL_ENV=$(VENV) $(UV) pip install --require-hashes -r $(VENV)/requirements.txt \
	&& VIRTUAL_ENV=$(VENV) $(UV) pip install --no-deps -e .
endif

# What runs duban, and nothing else: no linter, type checker or test tool (`make run`).
# --inexact: whatever `make test` added stays.
$(VENV)/.synced-run: $(UV) pyproject.toml uv.lock
	$(call sync,--no-dev --inexact)
	@touch $@

# Plus the dev group (`make test`, `make install`).
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(call sync,)
	@touch $@ $(VENV)/.synced-run

install: $(VENV)/.synced

# duban's own modules likewise, for the tiers that start processes (under a second; only what
# changed is compiled again).
bytecode: install
	$(BIN)/python -m compileall -q -j 0 services bench migrations tests

install-run: $(VENV)/.synced-run

run: install-run
	$(BIN)/duban up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The whole suite in one run, e.g. `make pytest PYTEST_ARGS="-k scope -x"`.
pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tiers (README.md, "Tests", says which test goes where). The integration and system
# tiers run on pytest-xdist workers, each with its own embedded PostgreSQL and Redis:
# TEST_WORKERS=1 runs them in one process.
TEST_WORKERS ?= 2
XDIST = $(if $(filter-out 0 1,$(1)),-n $(1),)
# The system tier's processes spend much of their time waiting (on clocks, on each other), so
# a third worker fills the cores (bench/ANALYSIS.md §23). TEST_WORKERS, when given, sets both
# tiers.
SYSTEM_WORKERS ?= $(if $(filter command line environment,$(origin TEST_WORKERS)),$(TEST_WORKERS),3)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-fast: test-unit

# Its servers' files in memory (tests/helpers.py, scratch_dir): a test's copy of the template
# database takes 15 ms there instead of 370 ms on an ext4 disk.
test-integration: install bytecode
	TEST_SERVERS_IN_MEMORY=1 $(BIN)/python -m pytest tests/integration $(call XDIST,$(TEST_WORKERS)) \
		$(PYTEST_ARGS)

# Debian's Chromium, a CJK font, Caddy and poppler-utils for the system tier, when missing and
# root may install them (tests/system/packages.sh); without them their tests are skipped.
system-packages:
	@sh tests/system/packages.sh

# One test at a time to each worker (tests/system/conftest.py orders the longest first).
test-system: install bytecode system-packages
	$(BIN)/python -m pytest tests/system $(call XDIST,$(SYSTEM_WORKERS)) \
		$(if $(call XDIST,$(SYSTEM_WORKERS)),--maxschedchunk=1) $(PYTEST_ARGS)

# The benchmark on its own embedded PostgreSQL (fsync on) and Redis in a temporary directory.
# The smoke run uses tiny sizes and writes to a temporary file: it only proves the harness
# still works. `make test` runs it within the system tier (tests/system/test_bench_smoke.py),
# beside the tier's other processes rather than after them.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install
	$(BIN)/python -m bench --smoke --pg-statements $(BENCH_ARGS)
	$(BIN)/python -m bench.coverage --smoke

# Cheapest first, so that a mistake fails the build early: lint (seconds), the unit tier
# (seconds), mypy (half a minute), the integration tier, the system tier (with the benchmark's
# smoke runs); Debian's packages first, since a unit test checks deploy/Caddyfile with Caddy's
# parser.
test: system-packages lint test-unit typecheck test-integration test-system

# Fault injection (tests/faults): workers, Redis, PostgreSQL and the API killed or restarted
# under load, each scenario bounded and asserting nothing lost and nothing duplicated. A few
# minutes; `make test` does not run them (tests/faults/conftest.py skips them unless asked).
.PHONY: test-faults
test-faults: install
	DUBAN_FAULTS=1 $(BIN)/python -m pytest tests/faults -p no:cacheprovider -s -q $(PYTEST_ARGS)

clean-data:
	rm -rf var
