# Flywheel — `make demo`, `make test`, `make ui`. Everything runs from the project's .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# A project-local Dagster instance: run history, schedules and the concurrency pool that
# serialises warehouse writes (dagster_home/dagster.yaml).
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: demo simulate test lint ui prepare bench lock clean docs generate

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flywheel demo

simulate: $(STAMP)
	$(BIN)/flywheel simulate

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests --disable-progress-bar
	$(BIN)/dg check defs

# The dbt files generated from the table registry (flywheel_pipeline/tables.py): the sources of
# schema ml and the ml staging models. tests/test_tables.py fails when they are stale.
generate: $(STAMP)
	$(BIN)/python -m flywheel_pipeline.tables --write-dbt

ui: $(STAMP)
	$(BIN)/flywheel prepare
	$(BIN)/dg dev

# dbt's documentation site (models, columns, tests, lineage, the warehouse's catalog) as one
# self-contained page: $FLYWHEEL_HOME/docs/index.html. It reads the warehouse: run it while no
# pipeline run writes (DuckDB's single-writer lock).
docs: $(STAMP)
	$(BIN)/python -m flywheel_pipeline.operations.dbt_docs

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_simulator.py
	$(BIN)/python benchmarks/bench_demo.py
	$(BIN)/python benchmarks/bench_simulate.py

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > requirements.lock.new
	(head -2 requirements.lock; cat requirements.lock.new) > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

clean:
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache build dist
