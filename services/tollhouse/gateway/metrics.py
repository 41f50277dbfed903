"""The gateway's Prometheus metrics: per-API counters kept as plain integers, rendered on scrape.

Cardinality is bounded by construction: the only labels are the API id, the status class (``2xx``...;
at most ten) and, for process facts, the worker slot. Never the path, the key or the status code.

The request path pays one call per answered request (``ApiMetrics.observe``): integer increments into
lists and two bisects over fixed bucket bounds; no label lookup, no string work. Each API's
``ApiMetrics`` is found once, when the API is compiled (``CompiledApi.metrics``), and is the same
object across reloads, so counters only ever grow while the process lives. With metrics off,
``CompiledApi.metrics`` is None and the request path only tests that.

Latency is split the way Tyk's analytics split it: total (from the request's routing until the answer
was sent) and upstream (from sending the request upstream until its response head). The gateway-added
time is total minus upstream: everything the gateway did, including relaying the response body.
Requests refused before the proxy (401, 403, 429...) have no upstream time: all of it is the gateway's.

A scrape is a *snapshot* (plain dicts, JSON-safe) so that a supervisor can gather one from each
worker process, sum the API series (``merge_api_series``) and render them once (``render``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tollhouse.core.exposition import Exposition

if TYPE_CHECKING:
    from tollhouse.gateway.analytics import AnalyticsWriter

# Upper bounds in seconds. Total latency spans a fast upstream to a slow one; the gateway's own share
# should be well under a millisecond, so its buckets start lower.
TOTAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ADDED_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# Status classes by status // 100; 0xx and 6xx-9xx cannot come from our code but an upstream may send them.
STATUS_CLASSES = 10
ALWAYS_SHOWN_CLASSES = (2, 3, 4, 5)


class ApiMetrics:
    """What one API's requests did in this process: counts by status class and two latency histograms."""

    __slots__ = ("added", "added_sum", "requests", "total", "total_sum", "upstream_sum")

    def __init__(self) -> None:
        self.requests = [0] * STATUS_CLASSES
        self.total = [0] * (len(TOTAL_BUCKETS) + 1)
        self.total_sum = 0.0
        self.added = [0] * (len(ADDED_BUCKETS) + 1)
        self.added_sum = 0.0
        self.upstream_sum = 0.0

    def observe(self, status: int, total_seconds: float, upstream_ms: float) -> None:
        self.requests[status // 100 % STATUS_CLASSES] += 1
        self.total[bisect_left(TOTAL_BUCKETS, total_seconds)] += 1
        self.total_sum += total_seconds
        upstream = upstream_ms / 1000
        added = total_seconds - upstream
        self.added[bisect_left(ADDED_BUCKETS, added)] += 1
        self.added_sum += added
        self.upstream_sum += upstream

    def snapshot(self) -> dict:
        return {"requests": list(self.requests), "total": list(self.total), "total_sum": self.total_sum,
                "added": list(self.added), "added_sum": self.added_sum, "upstream_sum": self.upstream_sum}


class GatewayMetrics:
    """The ``ApiMetrics`` of every API this process has served, by API id."""

    def __init__(self) -> None:
        # Kept when an API is removed: a counter that vanished and came back would look like a reset.
        # Bounded by the APIs ever loaded in this process's life.
        self._apis: dict[str, ApiMetrics] = {}

    def for_api(self, api_id: str) -> ApiMetrics:
        """The one object an API's requests count into, whichever compiled version of it serves them."""
        found = self._apis.get(api_id)
        if found is None:
            found = self._apis[api_id] = ApiMetrics()
        return found

    def snapshot(self, process: Mapping[str, int]) -> dict:
        """This process's series and its ``process`` facts (see ``PROCESS_FACTS``), as plain data."""
        return {"apis": {api_id: api.snapshot() for api_id, api in self._apis.items()}, "process": dict(process)}


def merge_api_series(snapshots: Iterable[Mapping[str, Mapping]]) -> dict[str, dict]:
    """The API series of several snapshots' ``apis`` added up (the same API served by several workers)."""
    merged: dict[str, dict] = {}
    for apis in snapshots:
        for api_id, series in apis.items():
            into = merged.get(api_id)
            if into is None:
                merged[api_id] = {name: list(value) if isinstance(value, list) else value
                                  for name, value in series.items()}
                continue
            for name, value in series.items():
                if isinstance(value, list):
                    into[name] = [a + b for a, b in zip(into[name], value, strict=True)]
                else:
                    into[name] += value
    return merged


# name in the snapshot's "process" facts -> (metric name, type, help). Reported per worker: summing
# "APIs loaded" over workers would mean nothing.
PROCESS_FACTS = {
    "apis_loaded": ("tollhouse_gateway_apis_loaded", "gauge", "APIs this gateway process serves now."),
    "reloads": ("tollhouse_gateway_reloads_total", "counter", "Successful loads of the API definitions."),
    "analytics_queued": ("tollhouse_gateway_analytics_queued", "gauge",
                         "Analytics records waiting in memory to be written to Redis."),
    "analytics_written": ("tollhouse_gateway_analytics_written_total", "counter",
                          "Analytics records written to Redis."),
    "analytics_dropped": ("tollhouse_gateway_analytics_dropped_total", "counter",
                          "Analytics records dropped because the in-memory buffer was full (Redis away)."),
}


def process_facts(apis_loaded: int, reloads: int, analytics: AnalyticsWriter | None) -> dict[str, int]:
    facts = {"apis_loaded": apis_loaded, "reloads": reloads}
    if analytics is not None:
        facts.update(analytics_queued=analytics.pending, analytics_written=analytics.written,
                     analytics_dropped=analytics.dropped)
    return facts


def render(apis: Mapping[str, Mapping], processes: Mapping[int, Mapping[str, int]],
           worker_restarts: int | None = None) -> str:
    """The exposition text of merged API series and each worker's process facts (by worker slot)."""
    out = Exposition()
    ordered = sorted(apis.items())
    out.family("tollhouse_gateway_requests_total", "counter",
               "Requests answered, by API and status class (2xx, 3xx, 4xx, 5xx).")
    for api_id, series in ordered:
        for status_class, count in enumerate(series["requests"]):
            if count or status_class in ALWAYS_SHOWN_CLASSES:
                out.sample("tollhouse_gateway_requests_total",
                           (("api_id", api_id), ("status_class", f"{status_class}xx")), count)
    out.family("tollhouse_gateway_request_duration_seconds", "histogram",
               "Total time of a request in the gateway, from routing until the answer was sent.")
    for api_id, series in ordered:
        out.histogram("tollhouse_gateway_request_duration_seconds", (("api_id", api_id),), TOTAL_BUCKETS,
                      series["total"], series["total_sum"])
    out.family("tollhouse_gateway_added_duration_seconds", "histogram",
               "Time the gateway added: total time minus the upstream's time to its response head.")
    for api_id, series in ordered:
        out.histogram("tollhouse_gateway_added_duration_seconds", (("api_id", api_id),), ADDED_BUCKETS,
                      series["added"], series["added_sum"])
    out.family("tollhouse_gateway_upstream_duration_seconds_total", "counter",
               "Time spent waiting for upstreams' response heads, summed over requests.")
    for api_id, series in ordered:
        out.sample("tollhouse_gateway_upstream_duration_seconds_total", (("api_id", api_id),), series["upstream_sum"])
    out.family("tollhouse_gateway_workers", "gauge", "Gateway processes whose counters this scrape includes.")
    out.sample("tollhouse_gateway_workers", (), len(processes))
    if worker_restarts is not None:
        out.family("tollhouse_gateway_worker_restarts_total", "counter",
                   "Worker processes the supervisor started again after they died.")
        out.sample("tollhouse_gateway_worker_restarts_total", (), worker_restarts)
    for fact, (name, kind, help_text) in PROCESS_FACTS.items():
        reported = [(worker, facts[fact]) for worker, facts in sorted(processes.items()) if fact in facts]
        if reported:
            out.family(name, kind, help_text)
            for worker, value in reported:
                out.sample(name, (("worker", str(worker)),), value)
    return out.text()
