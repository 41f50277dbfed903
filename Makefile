# Tollhouse: `make lab` deploys the appliance onto four local hosts; `make test` runs what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help venv system-deps browser-deps lint test test-services dev dev-down clean

help:
	@echo "make lab         deploy the whole appliance onto four local systemd hosts"
	@echo "make test        everything CI runs (lint, service tests, deployment tests)"
	@echo "make dev         run redis, a MongoDB-wire server and the three services on loopback"
	@echo "make dev-down    stop what make dev started"
	@echo "make bench       gateway data path against nginx (wrk)"

# The project's virtualenv, rebuilt when the package's dependencies change.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian packages the tests and `make dev` start for real.
system-deps:
	scripts/ensure-apt.sh redis-server

# Debian's Chromium for the web app's browser tests (tests/browser.py); Playwright drives it by path and
# never downloads a browser of its own.
browser-deps:
	test -x /usr/bin/chromium || scripts/ensure-apt.sh chromium

lint: venv
	$(BIN)/ruff check services tests bench

test-services: venv system-deps browser-deps
	$(BIN)/pytest -q tests

# What CI runs (.ci/run): lint everything, the services against real servers, then the roles on
# four podman systemd hosts (molecule: converge, idempotence, verify).
test: lint lint-deploy test-services molecule

dev: venv system-deps
	scripts/dev.sh up

dev-down:
	scripts/dev.sh down

clean: dev-down
	rm -rf $(VENV) .dev build *.egg-info

-include mk/*.mk
