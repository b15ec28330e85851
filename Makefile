# IronLink: every task a developer, CI or a new user runs. `make test` and `make demo` set up
# everything they need on a fresh Debian machine (as root, no Docker) before they run.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
export IRONLINK_STATE_DIR ?= $(CURDIR)/.state
DURATION ?=
PYTEST_ARGS ?=
# The test suite runs on its own PostgreSQL cluster and broker, so a running demo (whose persistent
# ingest session would otherwise also receive the tests' messages) and the tests never meet.
TEST_PG_PORT ?= 55433
TEST_MQTT_PORT ?= 51884
TEST_ENV := IRONLINK_STATE_DIR=$(CURDIR)/.state/test IRONLINK_PG_PORT=$(TEST_PG_PORT) \
	IRONLINK_MQTT_PORT=$(TEST_MQTT_PORT)

# Benchmarks run on a third cluster and broker: no demo or test session ever sees their traffic.
BENCH_PG_PORT ?= 55434
BENCH_MQTT_PORT ?= 51885
BENCH_ENV := IRONLINK_STATE_DIR=$(CURDIR)/.state/bench IRONLINK_PG_PORT=$(BENCH_PG_PORT) \
	IRONLINK_MQTT_PORT=$(BENCH_MQTT_PORT)

.PHONY: setup services-up services-down migrate seed demo test test-services-down test-unit check fmt bench \
	bench-services-up bench-services-down bench-store bench-publish bench-fleet-model bench-ingest \
	bench-alert-latency bench-anomaly bench-api bench-forecast chaos eval-anomaly eval-early-warning eval-can-fuel clean-state

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
test: setup
	@$(TEST_ENV) scripts/services.sh up
	@$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

test-services-down:
	@$(TEST_ENV) scripts/services.sh down

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

bench: bench-store bench-publish bench-fleet-model bench-ingest bench-alert-latency bench-anomaly \
	bench-api bench-forecast

bench-services-up: setup
	@$(BENCH_ENV) scripts/services.sh up >/dev/null

bench-services-down:
	@$(BENCH_ENV) scripts/services.sh down

bench-store: bench-services-up
	@$(BENCH_ENV) $(BIN)/python tests/bench/bench_store.py

bench-publish: bench-services-up
	@$(BENCH_ENV) $(BIN)/python tests/bench/bench_publish.py

bench-fleet-model: setup
	@$(BIN)/python tests/bench/bench_fleet_model.py

# `ironlink ingest` against bare subscribers (the broker's ceiling) and per-message commits.
bench-ingest: bench-services-up
	@$(BENCH_ENV) $(BIN)/python tests/bench/bench_ingest.py

# A critical DTC published -> its ticket committed, p50/p99 while the fleet streams and when idle.
bench-alert-latency: bench-services-up
	@$(BENCH_ENV) $(BIN)/python tests/bench/bench_alert_latency.py

# Owner API p50/p99 (machine list, 30-day history at 1 h) on >= 50 M readings under load from a
# separate process; the dataset is loaded once (~11 min) and reused while its parameters hold.
bench-api: bench-services-up
	@$(BENCH_ENV) $(BIN)/python tests/bench/bench_api.py

# Not part of `bench`: a simulated fleet into ingest while a worker is killed and the broker and
# PostgreSQL restart; ends with one JSON line (published, stored, lost, duplicates, faults).
chaos: bench-services-up
	@$(BENCH_ENV) $(BIN)/python tests/bench/chaos.py

# NAB: IronLink's detector on every labelled series in ../shared/data/nab beside the published
# detectors recomputed on the same files; needs no services. Ends with one JSON line.
eval-anomaly: setup
	@$(BIN)/python tests/eval/eval_anomaly.py

# The fleet anomaly detector on three simulated fleets with injected gradual faults, pooled (~6 min).
eval-early-warning: setup
	@$(BIN)/python tests/eval/eval_early_warning.py $(EVAL_ARGS)

# Fuel rate against load and rpm on a real tractor's CAN captures (../shared/data).
eval-can-fuel: setup
	@$(BIN)/python tests/eval/eval_can_fuel.py

# 10,000 machines x 8 signals x one hour at 1 Hz through the fleet anomaly detector, one core.
bench-anomaly: setup
	@OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python tests/bench/bench_anomaly_sweep.py

# The service forecast for every bench machine from the hourly rollup, beside every day probed.
bench-forecast: bench-services-up
	@$(BENCH_ENV) $(BIN)/python tests/bench/bench_forecast.py

clean-state: services-down test-services-down bench-services-down
	rm -rf $(IRONLINK_STATE_DIR)
