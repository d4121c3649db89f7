# Herald: `make run` runs the whole stack, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv: the one on PATH, else a private copy installed under .run/ (no root needed).
UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.run/uv/bin/uv)
# Debian packages the tests need: servers the fixtures start, the tools that check deploy/,
# and the browser the status page is tested in (kubectl for kustomize comes with the machine image).
TEST_BINARIES := nats-server:nats-server redis-server:redis-server promtool:prometheus amtool:prometheus-alertmanager chromium:chromium

.PHONY: help run test test-faults bench lint fmt sync uv system-deps check-config

help:
	@echo "make run    - the whole stack on this machine (status page :8080, ingest :8081)"
	@echo "make test   - every test (unit, integration on real NATS + Redis, end to end)"
	@echo "make test-faults - the fault suite (tests/faults: NATS, Redis and services broken for real)"
	@echo "make lint   - ruff + mypy"
	@echo "make bench  - every benchmark in bench/, one table (BENCH_ARGS=--quick: small sizes)"

$(CURDIR)/.run/uv/bin/uv:
	@echo "uv not found: installing it into .run/uv"
	python3 -m venv .run/uv || { echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"; exit 1; }
	.run/uv/bin/pip install -q uv

uv: $(if $(findstring .run/uv,$(UV)),$(CURDIR)/.run/uv/bin/uv)

sync: uv
	$(UV) sync --frozen

# Installs the missing Debian packages when we are root with apt-get; otherwise says what is missing.
system-deps:
	@missing=""; for pair in $(TEST_BINARIES); do bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$bin >/dev/null 2>&1 || [ -x /usr/sbin/$$bin ] || [ -x /usr/bin/$$bin ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing (sudo apt-get install$$missing); the tests that need them will fail"; fi; \
	fi

run: sync
	$(UV) run --frozen python -m devstack

test: sync system-deps
	$(UV) run --frozen pytest

# The fault suite (tests/faults, marker `faults`): NATS stopped, Redis restarted and paused, HA
# duplicates, each against a stack of processes with servers of its own; and tests/cluster's
# storm on a NATS cluster and a Redis Cluster losing a node each. It takes about as long
# as the rest of `make test` put together, so pyproject's addopts leave it out of `make test`
# (-m 'not faults') and this target runs only it; .ci/run runs both.
test-faults: sync system-deps
	$(UV) run --frozen pytest tests/faults tests/cluster -m faults

# Every benchmark module in bench/ (python -m bench finds them), one table of figures, floors
# and goals. Minutes at full size; BENCH_ARGS=--quick for a smoke check, --only storm for one.
bench: sync
	$(UV) run --frozen python -m bench $(BENCH_ARGS)

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

fmt: sync
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

check-config: sync
	$(UV) run --frozen herald check-config $${HERALD_CONFIG:-examples/herald.yaml}
