"""Reloading 1,000 APIs while wrk drives the keyed API at full speed: how long, and did any request fail.

Before each reload every definition file is rewritten with a new name, so the reload reads, validates
and compiles 1,000 changed definitions (the gateway compiles every definition on each reload anyway;
the change keeps that true if it ever learns to skip unchanged ones). Then GET /tyk/reload?block=true,
which answers once a reload that started after the call has finished; its wall time, seen from the
client, is the figure. With several workers that call waits for the worker that answered it; the
others reload on SIGHUP from the supervisor, so the gateway's own log lines ("loaded N APIs ... in X
ms", one per worker and reload) also give when the last worker finished.
"""

from __future__ import annotations

import statistics
import time

import report
import wrk
from contenders.tollhouse_gateway import GatewayControl
from harness import Bench, Server
from procs import fetch, server_pids

RELOADS = 5
GAP_S = 1.0  # full-speed load before the first reload, between reloads, and after the last
CALL_TIMEOUT_S = 60.0


def under_load(bench: Bench, server: Server, url: str) -> dict:
    control: GatewayControl = server.control
    workers = len(server_pids(server.proc)[1])
    logged_before = len(control.loads())
    calls = []
    report.progress(f"{server.name}: {RELOADS} reloads of {len(control.definitions)} APIs under full load")
    background = wrk.Background(bench, wrk.Load(url, server.headers))
    try:
        time.sleep(GAP_S)
        for generation in range(1, RELOADS + 1):
            control.write_definitions(generation)  # not timed: the gateway's reload is
            wall, started = time.time(), time.perf_counter()
            status, body = fetch(control.url("/tyk/reload?block=true"), control.headers, timeout=CALL_TIMEOUT_S)
            calls.append({"at": wall, "ms": (time.perf_counter() - started) * 1000, "status": status})
            if status != 200:
                report.progress(f"{server.name}: reload answered HTTP {status}: {body[:200]!r}")
            time.sleep(GAP_S)
    finally:
        stats = background.stop()
    wall_ms = [call["ms"] for call in calls]
    return {
        "reloads": len(calls),
        "apis": len(control.definitions),
        "wall_ms": wall_ms,
        "median_ms": statistics.median(wall_ms),
        "max_ms": max(wall_ms),
        "failed_calls": sum(call["status"] != 200 for call in calls),
        "workers": workers,
        **gateway_view(calls, control.loads()[logged_before:], workers),
        "duration_s": stats["duration_us"] / 1e6,
        "requests": stats["requests"],
        "requests_per_second": stats["requests_per_second"],
        "latency_us": stats["latency_us"],
        "non_2xx_3xx": stats["non_2xx_3xx"],
        "socket_errors": stats["socket_errors"],
    }


def gateway_view(calls: list[dict], loads: list[tuple[float, int, float]], workers: int) -> dict:
    """From the gateway's log: did every worker reload each time, the longest load, when the last worker finished.

    A worker that does not log a load after a reload call still serves the old definitions: the reload
    did not reach it.
    """
    last_done_ms = []
    for call, following in zip(calls, [*calls[1:], None], strict=True):
        until = following["at"] if following else float("inf")
        finished = [when for when, _, _ in loads if call["at"] - 0.001 <= when < until]  # log times are whole ms
        if len(finished) >= workers:
            last_done_ms.append((max(finished) - call["at"]) * 1000)
    return {
        "worker_loads_logged": len(loads),
        "worker_loads_expected": len(calls) * workers,
        "logged_max_ms": max((ms for _, _, ms in loads), default=None),
        "all_workers_done_ms": last_done_ms,  # only for reloads that every worker logged
    }
