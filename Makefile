# Everything runs from a local virtual environment, installed from the exact pins in
# .ci/constraints.txt, with Dagster's instance (SQLite) kept in .dagster_home.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# The dg command line finds the project's environment through this.
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: install run refresh test test-e2e ui lint clean

install: $(STAMP)

$(STAMP): pyproject.toml .ci/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aesynth needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c .ci/constraints.txt -e '.[dev]'
	@touch $@

# Dagster's instance: SQLite storage in DAGSTER_HOME (the default), telemetry off, and runs
# launched from the UI or the schedule queued so that only one runs at a time.
INSTANCE := $(DAGSTER_HOME)/dagster.yaml
$(INSTANCE): Makefile
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\nconcurrency:\n  runs:\n    max_concurrent_runs: 1\n' > $@

run: install $(INSTANCE)
	$(BIN)/dg launch --job materialize_everything

# Only what a parameter change (or a missing file) made stale, and everything downstream.
refresh: install $(INSTANCE)
	@selection="$$($(BIN)/python -m aesynth_pipeline.refresh)" || exit 1; \
	if [ -z "$$selection" ]; then echo "Nothing is stale: every asset is up to date."; \
	else echo "Refreshing: $$selection"; $(BIN)/dg launch --assets "$$selection"; fi

test: lint
	$(BIN)/python -m pytest -m "not e2e"

# The web UI in headless Chromium (Debian's package at /usr/bin/chromium); screenshots of
# each step land in test-artifacts/e2e/.
test-e2e: install
	$(BIN)/python -m pytest -m e2e

# Loopback only unless asked: `make ui UI_HOST=0.0.0.0` serves the UI to the network.
UI_HOST ?= 127.0.0.1
ui: install $(INSTANCE)
	$(BIN)/dg dev --host $(UI_HOST) --port 3000

lint: install
	$(BIN)/ruff check aesynth_pipeline aesynth_pipeline_tests
	$(BIN)/ruff format --check aesynth_pipeline aesynth_pipeline_tests

clean:
	rm -rf $(VENV) $(DAGSTER_HOME)
