# Everything runs from a local virtual environment, installed from the exact pins in
# .ci/constraints.txt, with Dagster's instance (SQLite) kept in .dagster_home.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# The dg command line finds the project's environment through this.
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: install run refresh test test-e2e test-cluster bench bench-aim ui lint clean

install: $(STAMP)

$(STAMP): pyproject.toml .ci/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "aesynth needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c .ci/constraints.txt -e '.[dev]'
	@touch $@

# What the cluster deployment adds: dagster-postgres, dagster-celery and the Redis client.
CLUSTER_STAMP := $(VENV)/.installed-cluster
$(CLUSTER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c .ci/constraints.txt -e '.[dev,cluster]'
	@touch $@

INSTANCE := $(DAGSTER_HOME)/dagster.yaml
$(INSTANCE): deploy/local-instance.yaml
	@mkdir -p $(DAGSTER_HOME)
	@cp $< $@

# Both check the parameters and the data lake first, and refuse to start while another run
# is in progress (see aesynth_pipeline/launch.py).
run: install $(INSTANCE)
	$(BIN)/python -m aesynth_pipeline.launch everything

# Only what a parameter change (or a missing file) made stale, and everything downstream.
refresh: install $(INSTANCE)
	$(BIN)/python -m aesynth_pipeline.launch stale

test: lint
	$(BIN)/python -m pytest -m "not e2e and not cluster"

# The web UI in headless Chromium (Debian's package at /usr/bin/chromium); screenshots of
# each step land in test-artifacts/e2e/.
test-e2e: install
	$(BIN)/python -m pytest -m e2e

# Beyond one machine, for real (a few minutes): the Dagster instance in a PostgreSQL server,
# and the whole job on two Celery workers with a Redis broker, one of them killed mid-run.
# The tests start and stop every server themselves, on free loopback ports; they need
# Debian's postgresql and redis-server packages (.ci/run installs them).
test-cluster: $(CLUSTER_STAMP)
	$(BIN)/python -m pytest -m cluster

# The whole pipeline as `make run` runs it, at 10k, 100k and 1M rows, against its speed
# targets and beside DataSynthesizer (benchmarks/pipeline_benchmark.py); long: DataSynthesizer
# alone takes a long time on a million rows. Then the correlated mode's accounting over 20
# seeds (about a minute), the report's comparison of modes on both mock profiles over 5 seeds
# each (benchmarks/profile_benchmark.py) and AIM against its targets; each writes its own
# sections of benchmarks/RESULTS.md.
# `make bench QUICK=1`: the pipeline at 10k and 100k rows only, in a few minutes; it prints its
# tables and writes nothing.
# `make bench SEED_TUTORIAL=path/to/run.sh`: the seed tutorial's scripts timed in the same
# run, on the same postcode directory, beside the pipeline at 10k rows.
PIPELINE_BENCH_FLAGS = $(if $(QUICK),--quick,--output benchmarks/RESULTS.md) \
	$(if $(SEED_TUTORIAL),--seed-tutorial $(SEED_TUTORIAL))
bench: install
	$(BIN)/python benchmarks/pipeline_benchmark.py $(PIPELINE_BENCH_FLAGS)
ifndef QUICK
	$(BIN)/python benchmarks/accounting_benchmark.py --output benchmarks/RESULTS.md
	$(BIN)/python benchmarks/profile_benchmark.py --output benchmarks/RESULTS.md
	$(MAKE) bench-aim
endif

# AIM's fidelity over 20 seeds, the release rules over 20 nightly seeds and its fit time at
# 10k and 1M rows (about an hour on 2 cores); its section of benchmarks/RESULTS.md.
bench-aim: install
	$(BIN)/python benchmarks/aim_benchmark.py --output benchmarks/RESULTS.md

# Loopback only unless asked: `make ui UI_HOST=0.0.0.0` serves the UI to the network.
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
ui: install $(INSTANCE)
	$(BIN)/dg dev --host $(UI_HOST) --port $(UI_PORT)

lint: install
	$(BIN)/ruff check aesynth_pipeline aesynth_pipeline_tests benchmarks
	$(BIN)/ruff format --check aesynth_pipeline aesynth_pipeline_tests benchmarks

clean:
	rm -rf $(VENV) $(DAGSTER_HOME)
