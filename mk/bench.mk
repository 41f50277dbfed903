# `make bench`: the gateway's data path against nginx and two ASGI proxies, in one run (see bench/README.md).
# Included by the main Makefile, which provides the `venv` target and VENV.
#   make bench                          10 s per contender, small body
#   make bench BENCH_ARGS="--body both --only direct,nginx-1w,tollhouse"
#   make bench-quick                    2 s per contender, for development (numbers are only indicative)
# Settings also come from the environment: BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_THREADS,
# BENCH_BODY, BENCH_ONLY, BENCH_PIN=0.

VENV ?= .venv
BENCH_ARGS ?=
BENCH_SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: bench bench-quick bench-deps

bench-deps:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] || ! command -v wrk >/dev/null; then \
		$(BENCH_SUDO) apt-get update && $(BENCH_SUDO) apt-get install -y nginx-light wrk; \
	fi

bench: venv bench-deps
	PATH="$$PATH:/usr/sbin" $(VENV)/bin/python bench/run.py $(BENCH_ARGS)

bench-quick: venv bench-deps
	PATH="$$PATH:/usr/sbin" $(VENV)/bin/python bench/run.py --duration 2s --warmup 1s $(BENCH_ARGS)
