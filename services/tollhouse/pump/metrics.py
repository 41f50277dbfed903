"""The pump's Prometheus metrics, served as ``GET /metrics`` by its health server.

Counted by the drain loop (one update per batch or per failed attempt, never per record) and labelled
only by sink type or Redis list name, both fixed by the settings: cardinality stays bounded. The
queue lengths are sampled from Redis at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

from tollhouse.core.exposition import Exposition

# Upper bounds in seconds of one batch, from claiming it to acknowledging it (every sink's write and
# any retries in between).
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PumpMetrics:
    def __init__(self) -> None:
        self.records_read = 0
        self.records_redelivered = 0
        # By sink type name.
        self.records_written: Counter[str] = Counter()
        self.records_rejected: Counter[str] = Counter()
        # Failed attempts that will be tried again, by what failed: "redis" or a sink type name.
        self.retries: Counter[str] = Counter()
        self.batches = [0] * (len(BATCH_BUCKETS) + 1)
        self.batch_seconds = 0.0

    def claimed(self, count: int, redelivered: bool) -> None:
        self.records_read += count
        if redelivered:
            self.records_redelivered += count

    def batch_done(self, seconds: float) -> None:
        self.batches[bisect_left(BATCH_BUCKETS, seconds)] += 1
        self.batch_seconds += seconds

    def render(self, sinks: list[str], dead_lettered: int, queue_lengths: dict[str, int] | None) -> str:
        """The exposition text; ``queue_lengths`` None when Redis could not be asked (the gauges are left out)."""
        out = Exposition()
        out.family("tollhouse_pump_records_read_total", "counter",
                   "Analytics records claimed from Redis (re-deliveries included).")
        out.sample("tollhouse_pump_records_read_total", (), self.records_read)
        out.family("tollhouse_pump_records_redelivered_total", "counter",
                   "Records claimed again after a pump stopped before acknowledging them.")
        out.sample("tollhouse_pump_records_redelivered_total", (), self.records_redelivered)
        out.family("tollhouse_pump_records_written_total", "counter", "Records a sink accepted, by sink.")
        for sink in sinks:
            out.sample("tollhouse_pump_records_written_total", (("sink", sink),), self.records_written[sink])
        out.family("tollhouse_pump_records_rejected_total", "counter",
                   "Records a sink refused for good (sent to the dead-letter list), by sink.")
        for sink in sinks:
            out.sample("tollhouse_pump_records_rejected_total", (("sink", sink),), self.records_rejected[sink])
        out.family("tollhouse_pump_records_dead_lettered_total", "counter",
                   "Records filed in the dead-letter list (undecodable, or refused by a sink).")
        out.sample("tollhouse_pump_records_dead_lettered_total", (), dead_lettered)
        out.family("tollhouse_pump_retries_total", "counter",
                   "Failed attempts retried later, by what failed (redis or a sink).")
        for target in ("redis", *sinks):
            out.sample("tollhouse_pump_retries_total", (("target", target),), self.retries[target])
        out.family("tollhouse_pump_batch_duration_seconds", "histogram",
                   "Time from claiming a batch to acknowledging it, retries included.")
        out.histogram("tollhouse_pump_batch_duration_seconds", (), BATCH_BUCKETS, self.batches, self.batch_seconds)
        if queue_lengths is not None:
            out.family("tollhouse_pump_queue_length", "gauge",
                       "Records in the Redis lists, sampled at scrape time: backlog, processing, dead_letter.")
            for name, length in sorted(queue_lengths.items()):
                out.sample("tollhouse_pump_queue_length", (("list", name),), length)
        return out.text()
