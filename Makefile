# IronLink: every task a developer, CI or a new user runs. `make test` and `make demo` set up
# everything they need on a fresh Debian machine (as root, no Docker) before they run.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
export IRONLINK_STATE_DIR ?= $(CURDIR)/.state
DURATION ?=
PYTEST_ARGS ?=

.PHONY: setup services-up services-down migrate seed demo test test-unit check fmt bench bench-ingest clean-state

setup:
	@scripts/setup.sh

services-up: setup
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

migrate: services-up
	@$(BIN)/ironlink migrate

seed: migrate
	@$(BIN)/ironlink seed

# Runs until interrupted; DURATION=<seconds> stops by itself and ends with one JSON line.
demo: services-up
	@$(BIN)/ironlink demo $(if $(DURATION),--duration $(DURATION))

# The whole suite: unit tests (no services) and integration/e2e tests on the real local services.
test: services-up
	@$(BIN)/pytest $(PYTEST_ARGS)

test-unit: setup
	@$(BIN)/pytest tests/unit $(PYTEST_ARGS)

check: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: bench-ingest

bench-ingest: services-up
	@$(BIN)/python tests/bench/bench_ingest.py

clean-state: services-down
	rm -rf $(IRONLINK_STATE_DIR)
