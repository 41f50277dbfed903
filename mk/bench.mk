# `make bench`: the gateway's data path against nginx, in one run (see bench/README.md): direct upstream, nginx
# proxy (1 worker, per core), Tollhouse keyless (1 worker, per core, analytics), keyed with 1,000 APIs (1 worker,
# per core); latency at half the max rate, reloads of 1,000 APIs under load, the pump drain rate; then every
# issue-5 target, met or MISSED. Included by the main Makefile, which provides the `venv` target and VENV.
#   make bench                          10 s per contender, small body (about 5 minutes in all)
#   make bench BENCH_ARGS="--body both --only direct,nginx-1w,tollhouse"
#   make bench BENCH_ARGS="--only asgi-httpx,asgi-aiohttp"   the ASGI proxies, not in the default set
#   make bench-quick                    2 s per contender, for development (numbers are only indicative)
# Settings also come from the environment: BENCH_DURATION, BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_THREADS,
# BENCH_BODY, BENCH_ONLY, BENCH_PIN=0. redis-server is needed by the analytics and keyed rows.

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
